import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ElemType } from '@sightline/tfjs-onnx';
import { CUSTOM_VISION_ANCHORS, OLD_LOSS_EXPORT_MESSAGE } from '../src/decoders/index.ts';
import { ExportFolderError, loadCustomVisionExport } from '../src/custom-vision/export-folder.ts';
import {
  CV_METADATA_BGR,
  CV_METADATA_RGB,
  cvManifest,
  imageToFormsModel,
  meanColourClassifier,
  tempDir,
  writeExportFolder,
  zipMapClassifier,
} from './onnx-fixtures.ts';

const LABELS = ['blue', 'green', 'red'];

function yoloModel(classes: number): Uint8Array {
  // input `data` [1,3,416,416]; the output does not depend on it here, only the I/O form matters
  const A = CUSTOM_VISION_ANCHORS.length;
  return imageToFormsModel(
    { name: 'data', shape: [1, 3, 416, 416] },
    [{ name: 'model_outputs0', elemType: ElemType.float, shape: [1, A * (5 + classes), 13, 13] }],
    CV_METADATA_BGR,
  );
}

function s1Model(): Uint8Array {
  return imageToFormsModel(
    { name: 'image_tensor', shape: [1, 3, 320, 320] },
    [
      { name: 'detected_boxes', elemType: ElemType.float, shape: [1, 5, 4] },
      { name: 'detected_classes', elemType: ElemType.int64, shape: [1, 5] },
      { name: 'detected_scores', elemType: ElemType.float, shape: [1, 5] },
    ],
    CV_METADATA_RGB,
  );
}

test('classification export (model_output): BGR 0..255, Custom Vision resize, classification decoder', async (t) => {
  const dir = writeExportFolder(tempDir(t, 'cls'), { model: meanColourClassifier(224), labels: LABELS, manifest: cvManifest('Classification') });
  const { descriptor, labels, modelPath } = await loadCustomVisionExport(dir, { id: 'fruit' });
  assert.deepEqual(labels, LABELS);
  assert.equal(modelPath, path.join(dir, 'model.onnx'));
  assert.deepEqual(descriptor, {
    id: 'fruit',
    version: 'a1b2c3d4-0000-4000-8000-000000000000',
    file: 'model.onnx',
    task: 'classification',
    input: { name: 'data', width: 224, height: 224, layout: 'NCHW', channels: 'BGR', scale: 1, mean: [0, 0, 0], std: [1, 1, 1], resize: 'custom-vision' },
    labels: LABELS,
    decoder: { type: 'custom-vision-classification', output: 'model_output' },
    thresholds: { score: 0, iou: 0.45, maxDetections: 3 },
  });
});

test('detection export, General (compact): yolov2 with the Custom Vision anchors, stretch', async (t) => {
  const dir = writeExportFolder(tempDir(t, 'yolo'), { model: yoloModel(2), labels: ['apple', 'pear'], manifest: cvManifest('ObjectDetection') });
  const { descriptor } = await loadCustomVisionExport(dir);
  assert.equal(descriptor.task, 'detection');
  assert.deepEqual(descriptor.decoder, { type: 'yolov2', output: 'model_outputs0', anchors: CUSTOM_VISION_ANCHORS.map((a) => [...a]) });
  assert.deepEqual(descriptor.input, {
    name: 'data',
    width: 416,
    height: 416,
    layout: 'NCHW',
    channels: 'BGR',
    scale: 1,
    mean: [0, 0, 0],
    std: [1, 1, 1],
    resize: 'stretch',
  });
  assert.match(descriptor.id, /^sightline-cv-yolo-/);
});

test('detection export, compact [S1]: boxes-classes-scores, RGB from the metadata; Normalized_0_1 becomes scale 1/255', async (t) => {
  const dir = writeExportFolder(tempDir(t, 's1'), { model: s1Model(), labels: ['a', 'b'], manifest: cvManifest('ObjectDetection') });
  const { descriptor } = await loadCustomVisionExport(dir);
  assert.deepEqual(descriptor.decoder, { type: 'boxes-classes-scores', boxes: 'detected_boxes', classes: 'detected_classes', scores: 'detected_scores' });
  assert.equal(descriptor.input.name, 'image_tensor');
  assert.equal(descriptor.input.channels, 'RGB');
  assert.equal(descriptor.input.width, 320);

  const dir2 = writeExportFolder(tempDir(t, 'norm'), {
    model: meanColourClassifier(64, { 'Image.BitmapPixelFormat': 'Rgb8', 'Image.NominalPixelRange': 'Normalized_0_1' }),
    labels: LABELS,
    manifest: cvManifest('Classification'),
  });
  const { descriptor: d2 } = await loadCustomVisionExport(dir2);
  assert.equal(d2.input.channels, 'RGB');
  assert.equal(d2.input.scale, 1 / 255);
});

test('the older export (loss as a sequence of maps) is refused with the re-export message', async (t) => {
  const dir = writeExportFolder(tempDir(t, 'loss'), { model: zipMapClassifier(LABELS), labels: LABELS, manifest: cvManifest('Classification') });
  await assert.rejects(
    loadCustomVisionExport(dir),
    (e: Error) => e instanceof ExportFolderError && e.message.includes(OLD_LOSS_EXPORT_MESSAGE) && e.message.includes('model.onnx'),
  );
});

test('bad folders: each error names the file at fault', async (t) => {
  const cases: Array<[string, Parameters<typeof writeExportFolder>[1], string, RegExp]> = [
    ['no manifest', { model: meanColourClassifier(32), labels: LABELS, manifest: null }, 'cvexport.manifest', /missing/],
    ['manifest not JSON', { model: meanColourClassifier(32), labels: LABELS, manifest: '{ DomainType: nope' }, 'cvexport.manifest', /not JSON/],
    ['no labels', { model: meanColourClassifier(32), labels: null, manifest: cvManifest('Classification') }, 'labels.txt', /missing/],
    ['labels count', { model: meanColourClassifier(32), labels: ['a', 'b'], manifest: cvManifest('Classification') }, 'labels.txt', /2 labels .* 3 classes/],
    ['yolo labels count', { model: yoloModel(2), labels: LABELS, manifest: cvManifest('ObjectDetection') }, 'labels.txt', /3 labels .* 2 classes/],
    ['not ONNX', { model: 'this is not a model', labels: LABELS, manifest: cvManifest('Classification') }, 'model.onnx', /not an ONNX model/],
    ['no model', { model: null, labels: LABELS, manifest: cvManifest('Classification') }, 'model.onnx', /missing/],
    ['wrong domain', { model: meanColourClassifier(32), labels: LABELS, manifest: cvManifest('ObjectDetection') }, 'cvexport.manifest', /DomainType/],
  ];
  for (const [what, files, file, message] of cases) {
    const dir = writeExportFolder(tempDir(t, 'bad'), files);
    await assert.rejects(
      loadCustomVisionExport(dir),
      (e: Error) => e instanceof ExportFolderError && e.message.startsWith(path.join(dir, file)) && message.test(e.message),
      what,
    );
  }
});

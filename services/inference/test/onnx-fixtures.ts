import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import * as ort from '../src/onnxruntime.ts';
import { attr, ElemType, onnx, OnnxGraphBuilder, valueInfo, type OnnxValueInfo, type ValueInfo } from '@sightline/tfjs-onnx';

/** Tiny ONNX models built in the test, one per Custom Vision I/O form. */

export interface ModelParts {
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  build: (b: OnnxGraphBuilder) => void;
  metadata?: Record<string, string>;
  /** Opsets besides the default domain's 17 (e.g. ai.onnx.ml for ZipMap). */
  extraOpsets?: Array<{ domain: string; version: number }>;
}

export function buildModel(parts: ModelParts): Uint8Array {
  const b = new OnnxGraphBuilder();
  parts.build(b);
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }, ...(parts.extraOpsets ?? [])],
    producerName: 'sightline-test',
    metadataProps: Object.entries(parts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: { name: 'test', node: b.nodes, initializer: b.initializers, input: parts.inputs, output: parts.outputs },
  });
  return onnx.ModelProto.encode(model).finish();
}

export const tensorInfo = (name: string, elemType: ValueInfo['elemType'], shape?: (number | string)[]): OnnxValueInfo =>
  valueInfo(shape ? { name, elemType, shape } : { name, elemType });

/**
 * A "pass-through" model: each output is the input of the same index, unchanged, so a test feeds the
 * exact output tensor it wants the decoder to see and still goes through onnxruntime.
 */
export function passThroughModel(
  pairs: Array<{ input: string; output: string; elemType: ValueInfo['elemType']; shape: number[] }>,
  metadata?: Record<string, string>,
): Uint8Array {
  return buildModel({
    inputs: pairs.map((p) => tensorInfo(p.input, p.elemType, p.shape)),
    outputs: pairs.map((p) => tensorInfo(p.output, p.elemType, p.shape)),
    build: (b) => {
      for (const p of pairs) b.node('Identity', [p.input], [p.output]);
    },
    ...(metadata ? { metadata } : {}),
  });
}

/**
 * An image input `[1,3,H,W]` and outputs of the given forms, each filled with the input's mean
 * (ReduceMean → Expand, Cast for int64): only the I/O form of a Custom Vision export matters here.
 */
export function imageToFormsModel(
  input: { name: string; shape: number[] },
  outputs: Array<{ name: string; elemType: ValueInfo['elemType']; shape: number[] }>,
  metadata?: Record<string, string>,
): Uint8Array {
  return buildModel({
    inputs: [tensorInfo(input.name, ElemType.float, input.shape)],
    outputs: outputs.map((o) => tensorInfo(o.name, o.elemType, o.shape)),
    build: (b) => {
      const mean = b.op('ReduceMean', [input.name], 'mean', { keepdims: attr.int(1) });
      for (const o of outputs) {
        const shape = b.int64s(`${o.name}_shape`, o.shape);
        if (o.elemType === ElemType.float) b.node('Expand', [mean, shape], [o.name]);
        else b.node('Cast', [b.op('Expand', [mean, shape], o.name)], [o.name], { to: attr.int(o.elemType) });
      }
    },
    ...(metadata ? { metadata } : {}),
  });
}

/**
 * A real image classifier in miniature: `data` [1,3,H,W] (BGR, 0..255) → mean of each channel →
 * softmax(mean / 10) → `model_output` [1,3]; with labels blue, green, red the dominant colour wins.
 */
export function meanColourClassifier(size: number, metadata: Record<string, string> = CV_METADATA_BGR): Uint8Array {
  return buildModel({
    inputs: [tensorInfo('data', ElemType.float, [1, 3, size, size])],
    outputs: [tensorInfo('model_output', ElemType.float, [1, 3])],
    build: (b) => {
      const mean = b.op('ReduceMean', ['data'], 'mean', { axes: attr.ints([2, 3]), keepdims: attr.int(0) });
      const scaled = b.op('Div', [mean, b.floats('ten', [], Float32Array.of(10))], 'scaled');
      b.node('Softmax', [scaled], ['model_output'], { axis: attr.int(1) });
    },
    metadata,
  });
}

/** The older Custom Vision classification form: `classLabel` string [1,1] and `loss` seq(map(string,float)) via ZipMap. */
export function zipMapClassifier(labels: readonly string[]): Uint8Array {
  const mapType = { mapType: { keyType: 8 /* string */, valueType: { tensorType: { elemType: ElemType.float } } } };
  return buildModel({
    inputs: [tensorInfo('data', ElemType.float, [1, labels.length])],
    outputs: [{ name: 'loss', type: { sequenceType: { elemType: mapType } } }],
    build: (b) => {
      b.nodes.push({
        opType: 'ZipMap',
        domain: 'ai.onnx.ml',
        name: 'zipmap',
        input: ['data'],
        output: ['loss'],
        attribute: [{ name: 'classlabels_strings', type: onnx.AttributeProto.AttributeType.STRINGS, strings: labels.map((l) => Buffer.from(l)) }],
      });
    },
    extraOpsets: [{ domain: 'ai.onnx.ml', version: 1 }],
  });
}

export const CV_METADATA_BGR = { 'Image.BitmapPixelFormat': 'Bgr8', 'Image.NominalPixelRange': 'NominalRange_0_255', 'Image.ColorSpaceGamma': 'SRGB' };
export const CV_METADATA_RGB = { 'Image.BitmapPixelFormat': 'Rgb8', 'Image.NominalPixelRange': 'NominalRange_0_255', 'Image.ColorSpaceGamma': 'SRGB' };

export async function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes);
}

export function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `sightline-cv-${prefix}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a fake Custom Vision export folder; pass null to leave a file out. */
export function writeExportFolder(
  dir: string,
  files: { model?: Uint8Array | string | null; labels?: readonly string[] | string | null; manifest?: Record<string, unknown> | string | null },
): string {
  if (files.model != null) writeFileSync(path.join(dir, 'model.onnx'), files.model);
  if (files.labels != null) writeFileSync(path.join(dir, 'labels.txt'), typeof files.labels === 'string' ? files.labels : `${files.labels.join('\n')}\n`);
  if (files.manifest != null)
    writeFileSync(path.join(dir, 'cvexport.manifest'), typeof files.manifest === 'string' ? files.manifest : JSON.stringify(files.manifest, null, 2));
  return dir;
}

export function cvManifest(domainType: 'Classification' | 'ObjectDetection', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    DomainType: domainType,
    Platform: 'ONNX',
    Flavor: '',
    ExporterVersion: '2.0',
    ExportedDate: '2026-01-01T00:00:00Z',
    IterationId: 'a1b2c3d4-0000-4000-8000-000000000000',
    ModelFileName: 'model.onnx',
    LabelFileName: 'labels.txt',
    MetadataPropsFileName: '',
    SchemaVersion: '1.0',
    ...extra,
  };
}

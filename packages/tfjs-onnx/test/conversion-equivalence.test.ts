import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { convertTfjsToOnnx, loadTfjsGraphModel } from '../src/index.ts';
import { centerNetModelJson, loadTfjsReference, maxAbsDiff, ort, runOnnx, syntheticImage, tangerineInput, type ModelOutputs } from './helpers.ts';

/**
 * The converter on the model it exists for: @vladmandic/human's CenterNet (TF.js graph model,
 * float16 weights), run by onnxruntime after conversion and by TF.js as it ships.
 */

/** Heatmaps are probabilities in [0, 1]. */
const KEYPOINTS_TOLERANCE = 1e-4;
/**
 * Sizes are distances in input pixels (up to 512), scaled by 16 at the end of the graph, so float32
 * rounding differences (onnxruntime accumulates in float32, TF.js CPU in float64) show up larger:
 * measured up to 2e-3 px. 0.01 px is a 400th of a grid cell.
 */
const WH_TOLERANCE_PX = 1e-2;

interface Case {
  name: string;
  onnx: ModelOutputs;
  tfjs: ModelOutputs;
}

const cases: Case[] = [];
let ops: Record<string, number> = {};

before(async () => {
  const converted = convertTfjsToOnnx(await loadTfjsGraphModel(centerNetModelJson()));
  ops = converted.ops;
  const session = await ort.InferenceSession.create(converted.onnx, { intraOpNumThreads: 1 });
  const reference = await loadTfjsReference(centerNetModelJson());
  const inputs = [
    { name: 'synthetic shapes', input: syntheticImage() },
    { name: 'tangerine on grey', input: await tangerineInput() },
  ];
  for (const { name, input } of inputs) {
    cases.push({ name, onnx: await runOnnx(session, input), tfjs: await reference.run(input) });
  }
  await session.release();
});

test('the conversion covers every op on the path to the three outputs', () => {
  assert.deepEqual(Object.keys(ops).sort(), [
    'Add',
    'Cast',
    'ConcatV2',
    'Const',
    'Conv2D',
    'DepthwiseConv2dNative',
    'Equal',
    'ExpandDims',
    'FloorDiv',
    'FloorMod',
    'FusedDepthwiseConv2dNative',
    'GatherV2',
    'Identity',
    'MaxPool',
    'Mean',
    'Mul',
    'Placeholder',
    'Relu',
    'Relu6',
    'Reshape',
    'ResizeBilinear',
    'Sigmoid',
    'StridedSlice',
    'Sub',
    'TopKV2',
    '_FusedConv2D',
  ]);
});

test('onnxruntime on the converted model matches TF.js on heatmaps and sizes', (t) => {
  for (const c of cases) {
    const keypoints = maxAbsDiff(c.onnx.keypoints, c.tfjs.keypoints);
    const wh = maxAbsDiff(c.onnx.wh, c.tfjs.wh);
    t.diagnostic(`${c.name}: max |diff| keypoints ${keypoints.toExponential(2)}, wh ${wh.toExponential(2)} px`);
    assert.ok(keypoints < KEYPOINTS_TOLERANCE, `${c.name}: keypoints differ by ${keypoints}`);
    assert.ok(wh < WH_TOLERANCE_PX, `${c.name}: wh differ by ${wh} px`);
  }
});

test("the converted model's own detections match TF.js's (top 20 rows)", (t) => {
  for (const c of cases) {
    let box = 0;
    for (let row = 0; row < 20; row++) {
      const a = c.onnx.detections.subarray(row * 6, row * 6 + 6);
      const b = c.tfjs.detections.subarray(row * 6, row * 6 + 6);
      assert.equal(a[5], b[5], `${c.name} row ${row}: class`);
      assert.ok(Math.abs(a[4]! - b[4]!) < KEYPOINTS_TOLERANCE, `${c.name} row ${row}: score ${a[4]} vs ${b[4]}`);
      for (let k = 0; k < 4; k++) box = Math.max(box, Math.abs(a[k]! - b[k]!));
    }
    t.diagnostic(`${c.name}: max |diff| detection boxes ${box.toExponential(2)} px`);
    assert.ok(box < WH_TOLERANCE_PX * 2, `${c.name}: boxes differ by ${box} px`);
  }
});

test('the tangerine scene gives an orange as the best detection in both runtimes', () => {
  const scene = cases.find((c) => c.name === 'tangerine on grey')!;
  for (const out of [scene.onnx, scene.tfjs]) {
    assert.equal(out.detections[5], 49);
    assert.ok(out.detections[4]! > 0.4 && out.detections[4]! < 0.55, `score ${out.detections[4]}`);
  }
});

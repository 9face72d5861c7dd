import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from '../src/onnxruntime.ts';
import { checkOutputsReadable, createDecoder, DecodeError, OLD_LOSS_EXPORT_MESSAGE, UnsupportedModelError, type DecodeContext } from '../src/decoders/index.ts';
import { zipMapClassifier } from './onnx-fixtures.ts';

const ctx = (labels: string[], over: Partial<DecodeContext> = {}): DecodeContext => ({
  labels,
  inputWidth: 416,
  inputHeight: 416,
  region: { x: 0, y: 0, width: 416, height: 416 },
  scoreThreshold: 0.1,
  iouThreshold: 0.45,
  maxDetections: 50,
  ...over,
});

test('the older Custom Vision `loss` output (sequence of maps): onnxruntime-node loads it but cannot run it, and it is refused clearly', async () => {
  const session = await ort.InferenceSession.create(zipMapClassifier(['a', 'b']));
  try {
    assert.deepEqual(
      session.outputMetadata.map((m) => [m.name, m.isTensor]),
      [['loss', false]],
    );
    await assert.rejects(session.run({ data: new ort.Tensor('float32', Float32Array.of(0.2, 0.8), [1, 2]) }), /Non tensor type is temporarily not supported/);
    const decoder = createDecoder({ type: 'custom-vision-classification', output: 'loss' });
    assert.throws(
      () => checkOutputsReadable(decoder.outputs, session.outputMetadata),
      (e: Error) => e instanceof UnsupportedModelError && e.message === OLD_LOSS_EXPORT_MESSAGE,
    );
    // whatever a binding hands back for it that is not a tensor gets the same message
    assert.throws(
      () => decoder.decode({ loss: [new Map([['a', 0.2]])] as unknown as ort.Tensor }, ctx(['a', 'b'])),
      (e: Error) => e.message === OLD_LOSS_EXPORT_MESSAGE,
    );
  } finally {
    await session.release();
  }
});

test('yolov2: one cell decoded by hand — centre from sigmoid offsets, size from exp x anchor / grid, score softmax x objectness', () => {
  const anchors: [number, number][] = [[2, 3]];
  const C = 2;
  const G = 4;
  const data = new Float32Array((5 + C) * G * G).fill(0);
  const plane = G * G;
  for (let i = 0; i < plane; i++) data[4 * plane + i] = -20;
  const cell = 1 * G + 2; // gx 2, gy 1
  data[0 * plane + cell] = 0; // sigmoid 0.5
  data[1 * plane + cell] = 0;
  data[2 * plane + cell] = Math.log(0.5); // w = 0.5 * 2 / 4 = 0.25
  data[3 * plane + cell] = 0; // h = 3 / 4 = 0.75
  data[4 * plane + cell] = 2; // objectness sigmoid(2)
  data[5 * plane + cell] = 1;
  data[6 * plane + cell] = 0;
  const decoder = createDecoder({ type: 'yolov2', output: 'o', anchors });
  const got = decoder.decode({ o: new ort.Tensor('float32', data, [1, 5 + C, G, G]) }, ctx(['x', 'y']));
  const obj = 1 / (1 + Math.exp(-2));
  const p0 = Math.exp(1) / (Math.exp(1) + 1);
  assert.equal(got.length, 2);
  assert.equal(got[0]!.label, 'x');
  assert.ok(Math.abs(got[0]!.score - p0 * obj) < 1e-6);
  assert.ok(Math.abs(got[1]!.score - (1 - p0) * obj) < 1e-6);
  // centre (2.5/4, 1.5/4) = (0.625, 0.375); w 0.25, h 0.75 → y from 0 (clipped) to 0.75
  const b = got[0]!.box!;
  assert.ok(Math.abs(b.x - 0.5) < 1e-6 && Math.abs(b.width - 0.25) < 1e-6);
  assert.ok(Math.abs(b.y - 0) < 1e-6 && Math.abs(b.height - 0.75) < 1e-6);
});

test('yolov2 refuses a channel count that is not anchors x (5 + classes)', () => {
  const decoder = createDecoder({
    type: 'yolov2',
    output: 'o',
    anchors: [
      [1, 1],
      [2, 2],
    ],
  });
  assert.throws(() => decoder.decode({ o: new ort.Tensor('float32', new Float32Array(13 * 4), [1, 13, 2, 2]) }, ctx(['a'])), /13 channels, not 2 anchors/);
});

test('boxes-classes-scores refuses a class id beyond the labels and disagreeing counts', () => {
  const decoder = createDecoder({ type: 'boxes-classes-scores', boxes: 'b', classes: 'c', scores: 's' });
  const out = (classes: bigint[], n = classes.length) => ({
    b: new ort.Tensor(
      'float32',
      new Float32Array(n * 4).fill(0.5).map((v, i) => (i % 4 < 2 ? 0.1 : 0.5)),
      [1, n, 4],
    ),
    c: new ort.Tensor('int64', BigInt64Array.from(classes), [1, classes.length]),
    s: new ort.Tensor('float32', new Float32Array(n).fill(0.9), [1, n]),
  });
  assert.equal(createDecoder({ type: 'boxes-classes-scores', boxes: 'b', classes: 'c', scores: 's' }).decode(out([1n]), ctx(['a', 'b']))[0]!.label, 'b');
  assert.throws(
    () => decoder.decode(out([5n]), ctx(['a', 'b'])),
    (e: Error) => e instanceof DecodeError && /class 5/.test(e.message),
  );
  assert.throws(() => decoder.decode(out([0n, 1n], 3), ctx(['a', 'b'])), /disagree in number: 3 boxes, 2 classes, 3 scores/);
});

test('custom-vision-classification refuses values that are not probabilities', () => {
  const decoder = createDecoder({ type: 'custom-vision-classification', output: 'model_output' });
  assert.throws(() => decoder.decode({ model_output: new ort.Tensor('float32', Float32Array.of(3, -1), [1, 2]) }, ctx(['a', 'b'])), /not a probability/);
});

test('centernet refuses NaN and +Infinity anywhere in the heatmaps (found by its threshold scan) and in the sizes; -Infinity is a low score', () => {
  const decoder = createDecoder({ type: 'centernet', heatmaps: 'h', sizes: 's' });
  const G = 8;
  const run = (heatAt: number, heatValue: number, sizeValue = 4) => {
    const heat = new Float32Array(G * G * 2);
    heat[(3 * G + 3) * 2 + 1] = 0.9;
    heat[heatAt] = heatValue;
    const out = { h: new ort.Tensor('float32', heat, [1, G, G, 2]), s: new ort.Tensor('float32', new Float32Array(G * G * 4).fill(sizeValue), [1, G, G, 4]) };
    return decoder.decode(out, ctx(['a', 'b'], { inputWidth: 32, inputHeight: 32, region: { x: 0, y: 0, width: 32, height: 32 }, scoreThreshold: 0.5 }));
  };
  assert.deepEqual(
    run(0, 0).map((p) => p.label),
    ['b'],
  );
  // the last value, far from the one object and below nothing: the scan still finds it
  assert.throws(
    () => run(G * G * 2 - 1, Number.NaN),
    (e: Error) => e instanceof DecodeError && e.message === `output "h" holds NaN at index ${G * G * 2 - 1}`,
  );
  assert.throws(
    () => run(5, Number.POSITIVE_INFINITY),
    (e: Error) => e instanceof DecodeError && e.message === 'output "h" holds Infinity at index 5',
  );
  assert.deepEqual(
    run(5, Number.NEGATIVE_INFINITY).map((p) => p.label),
    ['b'],
  );
  assert.throws(
    () => run(0, 0, Number.NaN),
    (e: Error) => e instanceof DecodeError && /output "s" holds NaN/.test(e.message),
  );
});

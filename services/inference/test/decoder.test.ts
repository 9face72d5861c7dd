import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from '../src/onnxruntime.ts';
import { decodeCenterNet, findPeaks, type CenterNetOutput } from '../src/decoders/centernet.ts';
import { createDecoder, iou } from '../src/decoders/index.ts';
import { builtinDescriptor } from '../src/model/loader.ts';
import { COCO_LABELS } from '../src/model/coco-labels.ts';
import type { DecoderSpec } from '../src/model/descriptor.ts';
import { DEFAULT_MODEL, ensureDefaultModel } from '../src/model/default-model.ts';
import { centerNetOutput, emojiScene, runOnnx, tempDir, toModelInput } from './helpers.ts';

/** An 8x8 grid over a 32x32 input (stride 4) with `classes` heatmaps, all zero but the given cells. */
function grid(classes: number, cells: Array<{ gx: number; gy: number; c: number; score: number; ltrb?: [number, number, number, number] }>): CenterNetOutput {
  const heatmaps = new Float32Array(8 * 8 * classes);
  const sizes = new Float32Array(8 * 8 * 4);
  for (const { gx, gy, c, score, ltrb = [4, 4, 4, 4] } of cells) {
    heatmaps[(gy * 8 + gx) * classes + c] = score;
    sizes.set(ltrb, (gy * 8 + gx) * 4);
  }
  return { heatmaps, sizes, gridWidth: 8, gridHeight: 8, classes, inputWidth: 32, inputHeight: 32 };
}

const LABELS = ['a', 'b', 'c'];

test('sizes are left/top/right/bottom distances from the cell corner point (gx * stride, gy * stride)', () => {
  const [p] = findPeaks(grid(3, [{ gx: 2, gy: 3, c: 1, score: 0.9, ltrb: [1, 2, 3, 4] }]), { topK: 10, minScore: 0.1 });
  assert.deepEqual(p, { classId: 1, score: Math.fround(0.9), gx: 2, gy: 3, x1: 7, y1: 10, x2: 11, y2: 16 });
  const [d] = decodeCenterNet(grid(3, [{ gx: 2, gy: 3, c: 1, score: 0.9, ltrb: [1, 2, 3, 4] }]), { labels: LABELS });
  assert.deepEqual(d, { classId: 1, label: 'b', score: Math.fround(0.9), box: { x: 7 / 32, y: 10 / 32, width: 4 / 32, height: 6 / 32 } });
});

test('a cell is a peak only when no 3x3 neighbour of the same class scores higher', () => {
  const out = grid(2, [
    { gx: 4, gy: 4, c: 0, score: 0.8 },
    { gx: 5, gy: 4, c: 0, score: 0.6 },
    { gx: 5, gy: 5, c: 1, score: 0.7 },
  ]);
  const peaks = findPeaks(out, { topK: 10, minScore: 0.1 });
  assert.deepEqual(
    peaks.map((p) => [p.gx, p.gy, p.classId]),
    [
      [4, 4, 0],
      [5, 5, 1],
    ],
  );
});

test('class-wise NMS: overlapping boxes of one class collapse, of different classes stay; thresholds and limits apply', () => {
  const out = grid(3, [
    { gx: 2, gy: 2, c: 0, score: 0.9, ltrb: [12, 12, 12, 12] },
    { gx: 4, gy: 2, c: 0, score: 0.8, ltrb: [12, 12, 12, 12] }, // IoU with the first: 0.57 once clipped
    { gx: 4, gy: 2, c: 1, score: 0.7, ltrb: [12, 12, 12, 12] },
    { gx: 6, gy: 6, c: 2, score: 0.5, ltrb: [1, 1, 1, 1] },
    { gx: 0, gy: 7, c: 2, score: 0.2 },
  ]);
  const labelsOf = (ds: ReturnType<typeof decodeCenterNet>) => ds.map((d) => `${d.label}${d.score.toFixed(1)}`);
  assert.deepEqual(labelsOf(decodeCenterNet(out, { labels: LABELS })), ['a0.9', 'b0.7', 'c0.5']);
  assert.deepEqual(labelsOf(decodeCenterNet(out, { labels: LABELS, iouThreshold: 0.7 })), ['a0.9', 'a0.8', 'b0.7', 'c0.5']);
  assert.deepEqual(labelsOf(decodeCenterNet(out, { labels: LABELS, scoreThreshold: 0.1 })), ['a0.9', 'b0.7', 'c0.5', 'c0.2']);
  assert.deepEqual(labelsOf(decodeCenterNet(out, { labels: LABELS, maxDetections: 2 })), ['a0.9', 'b0.7']);
});

test('boxes are mapped from the input region the frame occupies and clipped to the frame', () => {
  // A 32x16 frame letterboxed into the 32x32 input: it fills rows 8..24.
  const out = grid(1, [{ gx: 1, gy: 3, c: 0, score: 0.9, ltrb: [8, 2, 4, 2] }]);
  const [d] = decodeCenterNet(out, { labels: ['a'], region: { x: 0, y: 8, width: 32, height: 16 } });
  assert.deepEqual(d?.box, { x: 0, y: 2 / 16, width: 8 / 32, height: 4 / 16 });
});

test('rejects outputs whose sizes do not match the grid', () => {
  const out = grid(3, []);
  assert.throws(() => findPeaks({ ...out, classes: 4 }, { topK: 1, minScore: 0 }), /heatmaps hold/);
  assert.throws(() => findPeaks({ ...out, sizes: new Float32Array(3) }, { topK: 1, minScore: 0 }), /sizes hold/);
});

test('the default model on emoji scenes: what it really finds', async (t) => {
  const model = await ensureDefaultModel(tempDir(t, 'emoji'));
  const session = await ort.InferenceSession.create(model.onnxPath, { intraOpNumThreads: 1 });
  t.after(() => session.release());
  const detect = async (codepoint: string) => {
    const scene = await emojiScene(codepoint);
    const out = await runOnnx(session, await toModelInput(scene.rgb, scene.width, scene.height));
    return { scene, detections: decodeCenterNet(centerNetOutput(out), { labels: DEFAULT_MODEL.labels }) };
  };

  const tangerine = await detect('1f34a');
  const [best] = tangerine.detections;
  assert.ok(best, 'the tangerine is detected');
  assert.equal(best.label, 'orange');
  assert.ok(best.score > 0.42 && best.score < 0.52, `score ${best.score}`);
  assert.ok(iou(best.box, tangerine.scene.object) > 0.7, `box ${JSON.stringify(best.box)} vs emoji ${JSON.stringify(tangerine.scene.object)}`);
  t.diagnostic(`tangerine: ${tangerine.detections.map((d) => `${d.label} ${d.score.toFixed(3)}`).join(', ')}`);

  // The red apple is an orange to this model too, and the 3D person emoji is nothing at all.
  const apple = await detect('1f34e');
  assert.equal(apple.detections[0]?.label, 'orange');
  assert.ok(iou(apple.detections[0].box, apple.scene.object) > 0.7);
  const person = await detect('1f9d1');
  assert.deepEqual(person.detections, []);
});

test("the peak finder reproduces the default model's own tower_0/detections from its heatmaps and sizes", async (t) => {
  // The graph ends in its own CenterNet post-processing (3x3 max pool, top 100); the service decodes
  // the heads instead (scores, boxes mapped to the frame). The converter's tests show the converted
  // graph matches TF.js on all three outputs.
  const model = await ensureDefaultModel(tempDir(t, 'peaks'));
  const session = await ort.InferenceSession.create(model.onnxPath, { intraOpNumThreads: 1 });
  t.after(() => session.release());
  for (const codepoint of ['1f34a', '1f34e']) {
    const scene = await emojiScene(codepoint);
    const out = await runOnnx(session, await toModelInput(scene.rgb, scene.width, scene.height));
    const peaks = findPeaks(centerNetOutput(out), { topK: 100, minScore: 0 });
    assert.equal(peaks.length, 100);
    peaks.forEach((p, row) => {
      const d = out.detections.subarray(row * 6, row * 6 + 6);
      const where = `${codepoint} row ${row}`;
      assert.equal(p.classId, d[5], `${where}: class`);
      assert.equal(Math.fround(p.score), d[4], `${where}: score`);
      const box = [p.x1, p.y1, p.x2, p.y2];
      for (let k = 0; k < 4; k++) assert.ok(Math.abs(box[k]! - d[k]!) < 1e-3, `${where}: box ${box} vs ${Array.from(d.subarray(0, 4))}`);
    });
  }
});

test("the default model's decoder reads the graph's own detections and predicts what decoding the heads predicts", async (t) => {
  const model = await ensureDefaultModel(tempDir(t, 'graph-detections'));
  const session = await ort.InferenceSession.create(model.onnxPath, { intraOpNumThreads: 1 });
  t.after(() => session.release());
  const builtin = builtinDescriptor('test').decoder;
  assert.equal(builtin.type === 'centernet' && builtin.detections, DEFAULT_MODEL.outputs.detections);
  const fromGraph = createDecoder(builtin);
  const fromHeads = createDecoder({ ...builtin, detections: undefined } as DecoderSpec);
  assert.deepEqual(fromGraph.outputs, [DEFAULT_MODEL.outputs.detections]);
  let compared = 0;
  for (const codepoint of ['1f34a', '1f34e', '1f9f8', '1f4f1']) {
    const scene = await emojiScene(codepoint);
    const input = await toModelInput(scene.rgb, scene.width, scene.height);
    const outputs = await session.run({ [DEFAULT_MODEL.input.name]: new ort.Tensor('float32', input, [1, 512, 512, 3]) });
    for (const [scoreThreshold, region] of [
      [0.25, { x: 0, y: 0, width: 512, height: 512 }],
      [0.05, { x: 0, y: 64, width: 512, height: 384 }],
      [0, { x: 0, y: 0, width: 512, height: 512 }],
    ] as const) {
      const context = { labels: COCO_LABELS, inputWidth: 512, inputHeight: 512, region, scoreThreshold, iouThreshold: 0.5, maxDetections: 50 };
      const a = fromGraph.decode(outputs, context);
      const b = fromHeads.decode(outputs, context);
      const where = `${codepoint} at ${scoreThreshold}`;
      assert.deepEqual(
        a.map((p) => [p.label, p.score]),
        b.map((p) => [p.label, p.score]),
        where,
      );
      a.forEach((p, i) => {
        for (const k of ['x', 'y', 'width', 'height'] as const) assert.ok(Math.abs(p.box![k] - b[i]!.box![k]) < 1e-5, `${where}: ${k}`);
      });
      compared += a.length;
    }
  }
  assert.ok(compared > 20, `${compared} predictions compared`);
});

test("the graph's detections are checked: shape, NaN, a class beyond the labels", () => {
  const decoder = createDecoder({ type: 'centernet', heatmaps: 'h', sizes: 's', detections: 'd' });
  const context = {
    labels: LABELS,
    inputWidth: 32,
    inputHeight: 32,
    region: { x: 0, y: 0, width: 32, height: 32 },
    scoreThreshold: 0.25,
    iouThreshold: 0.5,
    maxDetections: 50,
  };
  const rows = (...values: number[]) => ({ d: new ort.Tensor('float32', Float32Array.from(values), [1, values.length / 6, 6]) });
  assert.deepEqual(
    decoder.decode(rows(4, 4, 12, 20, 0.9, 2, 0, 0, 8, 8, 0.1, 0), context).map((p) => [p.label, p.box]),
    [['c', { x: 4 / 32, y: 4 / 32, width: 8 / 32, height: 16 / 32 }]],
  );
  assert.throws(() => decoder.decode({ d: new ort.Tensor('float32', new Float32Array(10), [1, 2, 5]) }, context), /expected \[1, K, 6\]/);
  assert.throws(() => decoder.decode(rows(4, 4, 12, 20, Number.NaN, 2), context), /holds NaN/);
  assert.throws(() => decoder.decode(rows(4, 4, 12, 20, 0.9, 3), context), /class 3 in row 0/);
  assert.throws(() => decoder.decode(rows(4, 4, 12, 20, 0.9, 1.5), context), /class 1.5/);
  assert.throws(() => decoder.decode({}, context), /no output "d"/);
});

test('findPeaks (one pass, one comparison per value) keeps exactly the peaks of the reference, with ties, zeros, negatives and NaN, at any threshold', async () => {
  const { referenceFindPeaks } = await import('./reference-impl.ts');
  let seed = 3;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let k = 0; k < 8; k++) {
    const gw = 5 + k;
    const gh = 4 + 2 * k;
    const nc = 1 + k;
    const heatmaps = Float32Array.from({ length: gw * gh * nc }, () => {
      const r = rnd();
      return r < 0.05 ? Number.NaN : r < 0.12 ? 0 : r < 0.18 ? -r : r < 0.3 ? 0.5 : r < 0.33 ? 0.25 : Math.round(r * 16) / 16;
    });
    const out: CenterNetOutput = {
      heatmaps,
      sizes: Float32Array.from({ length: gw * gh * 4 }, () => rnd() * 20),
      gridWidth: gw,
      gridHeight: gh,
      classes: nc,
      inputWidth: gw * 4,
      inputHeight: gh * 4,
    };
    for (const minScore of [0, 0.25, 0.3, 0.5, 1, -1, Number.NaN, 1e-30]) {
      for (const topK of [1, 7, 100, 1e6]) {
        assert.deepEqual(
          findPeaks(out, { topK, minScore }),
          referenceFindPeaks(out, { topK, minScore }),
          `grid ${gw}x${gh}x${nc} minScore ${minScore} topK ${topK}`,
        );
      }
    }
  }
});

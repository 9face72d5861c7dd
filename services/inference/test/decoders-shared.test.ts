import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import * as ort from '../src/onnxruntime.ts';
import { ElemType } from '@sightline/tfjs-onnx';
import { createDecoder, CUSTOM_VISION_ANCHORS, DecodeError, type DecodeContext, type OutputDecoder, type Prediction } from '../src/decoders/index.ts';
import { decoderSpecSchema, type DecoderSpec } from '../src/model/descriptor.ts';
import { passThroughModel } from './onnx-fixtures.ts';

/**
 * The one suite every decoder passes, built by `createDecoder`, the entry point the model loader
 * uses. Each form says how to write a few known objects into its own output tensors; a pass-through
 * ONNX model (output = input) puts them through onnxruntime so the decoder reads real session outputs.
 */

const LABELS = ['cat', 'dog', 'bird'];
const SIZE = 416;

/** An object as the model would see it: input-normalised corners. */
interface Obj {
  classId: number;
  score: number;
  box?: [number, number, number, number];
}

interface RawOutput {
  type: 'float32' | 'int64';
  dims: number[];
  data: Float32Array | BigInt64Array;
}

interface Form {
  name: string;
  spec: DecoderSpec;
  detection: boolean;
  encode(objects: Obj[]): Record<string, RawOutput>;
  /** How close a decoded score is to the encoded one. */
  scoreTolerance: number;
}

const logit = (p: number): number => Math.log(p / (1 - p));
const f32 = (dims: number[], data: Float32Array): RawOutput => ({ type: 'float32', dims, data });

function classificationScores(objects: Obj[]): Float32Array {
  const p = new Float32Array(LABELS.length);
  const rest = 1 - objects.reduce((s, o) => s + o.score, 0);
  const free = LABELS.length - objects.length;
  p.fill(free > 0 ? rest / free : 0);
  for (const o of objects) p[o.classId] = o.score;
  return p;
}

const GRID = 13;

const FORMS: Form[] = [
  {
    name: 'softmax (logits)',
    spec: { type: 'softmax', output: 'logits', applySoftmax: true },
    detection: false,
    scoreTolerance: 1e-5,
    encode: (objects) => ({
      logits: f32(
        [1, 3],
        classificationScores(objects).map((p) => Math.log(p)),
      ),
    }),
  },
  {
    name: 'softmax (probabilities)',
    spec: { type: 'softmax', output: 'probs', applySoftmax: false },
    detection: false,
    scoreTolerance: 1e-6,
    encode: (objects) => ({ probs: f32([3], classificationScores(objects)) }),
  },
  {
    name: 'custom-vision-classification',
    spec: { type: 'custom-vision-classification', output: 'model_output' },
    detection: false,
    scoreTolerance: 1e-6,
    encode: (objects) => ({ model_output: f32([1, 3], classificationScores(objects)) }),
  },
  {
    name: 'yolov2 (Custom Vision General compact)',
    spec: { type: 'yolov2', output: 'model_outputs0', anchors: CUSTOM_VISION_ANCHORS.map(([w, h]) => [w, h] as [number, number]) },
    detection: true,
    scoreTolerance: 1e-4,
    encode: (objects) => {
      const A = CUSTOM_VISION_ANCHORS.length;
      const per = 5 + LABELS.length;
      const plane = GRID * GRID;
      const data = new Float32Array(A * per * plane);
      for (let a = 0; a < A; a++) for (let cell = 0; cell < plane; cell++) data[(a * per + 4) * plane + cell] = -30;
      objects.forEach((o, i) => {
        const [x1, y1, x2, y2] = o.box!;
        const cx = ((x1 + x2) / 2) * GRID;
        const cy = ((y1 + y2) / 2) * GRID;
        const gx = Math.floor(cx);
        const gy = Math.floor(cy);
        const a = i % A; // distinct anchors so objects in one cell do not overwrite each other
        const [aw, ah] = CUSTOM_VISION_ANCHORS[a]!;
        const cell = gy * GRID + gx;
        const set = (k: number, v: number): void => void (data[(a * per + k) * plane + cell] = v);
        set(0, logit(cx - gx));
        set(1, logit(cy - gy));
        set(2, Math.log(((x2 - x1) * GRID) / aw));
        set(3, Math.log(((y2 - y1) * GRID) / ah));
        set(4, logit(o.score));
        for (let c = 0; c < LABELS.length; c++) set(5 + c, c === o.classId ? 30 : -30);
      });
      return { model_outputs0: f32([1, A * per, GRID, GRID], data) };
    },
  },
  {
    name: 'boxes-classes-scores (Custom Vision compact S1)',
    spec: { type: 'boxes-classes-scores', boxes: 'detected_boxes', classes: 'detected_classes', scores: 'detected_scores' },
    detection: true,
    scoreTolerance: 1e-6,
    encode: (objects) => {
      const n = 8;
      const boxes = new Float32Array(n * 4);
      const classes = new BigInt64Array(n);
      const scores = new Float32Array(n);
      objects.forEach((o, i) => {
        boxes.set(o.box!, i * 4);
        classes[i] = BigInt(o.classId);
        scores[i] = o.score;
      });
      return {
        detected_boxes: f32([1, n, 4], boxes),
        detected_classes: { type: 'int64', dims: [1, n], data: classes },
        detected_scores: f32([1, n], scores),
      };
    },
  },
  {
    name: 'centernet (NHWC heads)',
    spec: { type: 'centernet', heatmaps: 'heatmaps', sizes: 'sizes' },
    detection: true,
    scoreTolerance: 1e-6,
    encode: (objects) => {
      const stride = SIZE / GRID;
      const heat = new Float32Array(GRID * GRID * LABELS.length);
      const sizes = new Float32Array(GRID * GRID * 4);
      for (const o of objects) {
        const [x1, y1, x2, y2] = o.box!.map((v) => v * SIZE) as [number, number, number, number];
        const gx = Math.round((x1 + x2) / 2 / stride);
        const gy = Math.round((y1 + y2) / 2 / stride);
        const cell = gy * GRID + gx;
        heat[cell * LABELS.length + o.classId] = o.score;
        sizes.set([gx * stride - x1, gy * stride - y1, x2 - gx * stride, y2 - gy * stride], cell * 4);
      }
      return { heatmaps: f32([1, GRID, GRID, 3], heat), sizes: f32([1, GRID, GRID, 4], sizes) };
    },
  },
];

function context(overrides: Partial<DecodeContext> = {}): DecodeContext {
  return {
    labels: LABELS,
    inputWidth: SIZE,
    inputHeight: SIZE,
    region: { x: 0, y: 0, width: SIZE, height: SIZE },
    scoreThreshold: 0.3,
    iouThreshold: 0.45,
    maxDetections: 50,
    ...overrides,
  };
}

function assertBox(actual: Prediction['box'], expected: [number, number, number, number], tolerance = 1e-4): void {
  assert.ok(actual, 'expected a box');
  const got = [actual.x, actual.y, actual.x + actual.width, actual.y + actual.height];
  got.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < tolerance, `box ${JSON.stringify(got)} differs from ${JSON.stringify(expected)}`));
}

test('every decoder form a descriptor can name is in this suite', () => {
  const named = decoderSpecSchema.options.map((option) => option.shape.type.value).sort();
  assert.deepEqual([...new Set(FORMS.map((form) => form.spec.type))].sort(), named);
});

const sessions: ort.InferenceSession[] = [];
after(async () => {
  for (const s of sessions) await s.release();
});

for (const form of FORMS) {
  describe(`decoder: ${form.name}`, () => {
    const decoder: OutputDecoder = createDecoder(form.spec);
    let session: ort.InferenceSession | undefined;

    /** Encodes the objects, runs them through onnxruntime and returns the session's outputs. */
    async function run(objects: Obj[]): Promise<Record<string, ort.Tensor>> {
      const raw = form.encode(objects);
      if (!session) {
        const pairs = Object.entries(raw).map(([name, r]) => ({
          input: `in_${name}`,
          output: name,
          elemType: r.type === 'int64' ? ElemType.int64 : ElemType.float,
          shape: r.dims,
        }));
        session = await ort.InferenceSession.create(passThroughModel(pairs));
        sessions.push(session);
      }
      const feeds = Object.fromEntries(Object.entries(raw).map(([name, r]) => [`in_${name}`, new ort.Tensor(r.type, r.data, r.dims)]));
      return session.run(feeds);
    }

    test('names the outputs it reads, and they are what the encoded model gives', async () => {
      assert.deepEqual([...decoder.outputs].sort(), Object.keys(form.encode([])).sort());
    });

    test('a known object comes out with its label, score and place', async () => {
      const out = await run([{ classId: 1, score: 0.8, box: [0.25, 0.375, 0.5, 0.625] }]);
      const [p, ...rest] = decoder.decode(out, context());
      assert.equal(rest.length, 0, JSON.stringify(rest));
      assert.equal(p!.classId, 1);
      assert.equal(p!.label, 'dog');
      assert.ok(Math.abs(p!.score - 0.8) < form.scoreTolerance, `score ${p!.score}`);
      if (form.detection) assertBox(p!.box, [0.25, 0.375, 0.5, 0.625]);
      else assert.equal(p!.box, null);
    });

    test('nothing at all gives no predictions', async () => {
      const out = await run([]);
      const got = decoder.decode(out, context({ scoreThreshold: 0.5 }));
      assert.deepEqual(got, []);
    });

    test('the score threshold drops what is below it; predictions come best first', async () => {
      const objects: Obj[] = [
        { classId: 0, score: 0.35, box: [0.05, 0.05, 0.25, 0.25] },
        { classId: 2, score: 0.55, box: [0.6, 0.6, 0.9, 0.9] },
      ];
      const out = await run(objects);
      assert.deepEqual(
        decoder.decode(out, context({ scoreThreshold: 0.3 })).map((p) => p.label),
        ['bird', 'cat'],
      );
      assert.deepEqual(
        decoder.decode(out, context({ scoreThreshold: 0.5 })).map((p) => p.label),
        ['bird'],
      );
      assert.deepEqual(
        decoder.decode(out, context({ scoreThreshold: 0.3, maxDetections: 1 })).map((p) => p.label),
        ['bird'],
      );
    });

    test('malformed outputs give a DecodeError naming the output', () => {
      const raw = form.encode([{ classId: 0, score: 0.9, box: [0.1, 0.1, 0.3, 0.3] }]);
      const tensors = (edit: (name: string, r: RawOutput) => RawOutput): Record<string, ort.Tensor> =>
        Object.fromEntries(
          Object.entries(raw).map(([name, r]) => {
            const e = edit(name, r);
            return [name, new ort.Tensor(e.type, e.data, e.dims)];
          }),
        );
      const first = decoder.outputs[0]!;
      // missing
      const missing = tensors((_, r) => r);
      delete missing[first];
      assert.throws(
        () => decoder.decode(missing, context()),
        (e: Error) => e instanceof DecodeError && e.message.includes(first),
      );
      // NaN
      const nan = tensors((name, r) =>
        name === first && r.type === 'float32' ? { ...r, data: Float32Array.from(r.data as Float32Array, (v, i) => (i === 0 ? NaN : v)) } : r,
      );
      assert.throws(
        () => decoder.decode(nan, context()),
        (e: Error) => e instanceof DecodeError && /NaN/.test(e.message),
      );
      // wrong shape (an extra leading dimension of 2)
      const wrong = tensors((name, r) =>
        name === first
          ? { ...r, dims: [2, ...r.dims], data: r.type === 'int64' ? new BigInt64Array(2 * r.data.length) : new Float32Array(2 * r.data.length) }
          : r,
      );
      assert.throws(
        () => decoder.decode(wrong, context()),
        (e: Error) => e instanceof DecodeError && e.message.includes(first),
      );
      // a class count that does not match the labels (the boxes form carries no class count: tested apart)
      if (form.spec.type !== 'boxes-classes-scores')
        assert.throws(
          () =>
            decoder.decode(
              tensors((_, r) => r),
              context({ labels: ['only'] }),
            ),
          DecodeError,
        );
    });

    if (!form.detection) return;

    test('a letterboxed frame: boxes are mapped out of the bars back onto the frame', async () => {
      // an 832x416 frame fitted into 416x416: 416x208 in the middle, bars of 104 above and below
      const out = await run([{ classId: 2, score: 0.9, box: [0.25, 0.375, 0.5, 0.625] }]);
      const [p] = decoder.decode(out, context({ region: { x: 0, y: 104, width: 416, height: 208 } }));
      assertBox(p!.box, [0.25, 0.25, 0.5, 0.75]);
    });

    test('boxes reaching into the bars are clipped to the frame', async () => {
      const out = await run([{ classId: 0, score: 0.9, box: [0.1, 0.2, 0.4, 0.5] }]);
      const [p] = decoder.decode(out, context({ region: { x: 0, y: 104, width: 416, height: 208 } }));
      assertBox(p!.box, [0.1, 0, 0.4, (208 - 104) / 208]);
    });

    test('NMS: overlapping boxes of one class collapse to the best, of different classes stay', async () => {
      const objects: Obj[] = [
        // centres two grid cells apart, so that even heatmap peaks stay separate
        { classId: 0, score: 0.9, box: [0.1, 0.1, 0.8, 0.8] },
        { classId: 0, score: 0.7, box: [0.25, 0.1, 0.95, 0.8] },
        { classId: 1, score: 0.6, box: [0.1, 0.25, 0.8, 0.95] },
      ];
      const out = await run(objects);
      const got = decoder.decode(out, context());
      assert.deepEqual(
        got.map((p) => [p.label, Math.round(p.score * 10) / 10]),
        [
          ['cat', 0.9],
          ['dog', 0.6],
        ],
      );
      const loose = decoder.decode(out, context({ iouThreshold: 0.99 }));
      assert.equal(loose.length, 3);
    });
  });
}

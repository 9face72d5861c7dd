import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import {
  CONVERTER_NAME,
  CONVERTER_VERSION,
  ConversionError,
  convertTfjsToOnnx,
  halfToFloat,
  loadTfjsGraphModel,
  onnx,
  parseModelJson,
  parseTfjsGraphModel,
  TfjsModelError,
  UnsupportedOpError,
  type TfjsModelFiles,
} from '../src/index.ts';
import { ort, tempDir } from './helpers.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const dtype = (t: string) => ({ type: t });

interface TinyWeight {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  /** Stored bytes, already in the manifest's encoding. */
  bytes: Buffer;
  float16?: boolean;
}

function tinyModel(nodes: object[], weights: TinyWeight[], outputs: string[]): TfjsModelFiles {
  const json = {
    format: 'graph-model',
    generatedBy: 'test',
    convertedBy: null,
    signature: { outputs: Object.fromEntries(outputs.map((o) => [o, { name: o }])) },
    modelTopology: {
      node: [...weights.map((w) => ({ name: w.name, op: 'Const', attr: { dtype: dtype(w.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT') } })), ...nodes],
    },
    weightsManifest: [
      {
        paths: ['w.bin'],
        weights: weights.map((w) => ({
          name: w.name,
          shape: w.shape,
          dtype: w.dtype,
          ...(w.float16 ? { quantization: { dtype: 'float16', original_dtype: 'float32' } } : {}),
        })),
      },
    ],
  };
  return { modelJson: JSON.stringify(json), shards: [[Buffer.concat(weights.map((w) => w.bytes))]] };
}

const int32s = (...v: number[]) => Buffer.from(Int32Array.from(v).buffer);
const halves = (...bits: number[]) => Buffer.from(Uint16Array.from(bits).buffer);

/** x * w (w stored as float16) -> Relu6; i // d and i mod d for ints of both signs; a strided slice. */
function arithmeticModel(): TfjsModelFiles {
  return tinyModel(
    [
      { name: 'x', op: 'Placeholder', attr: { dtype: dtype('DT_FLOAT'), shape: { shape: { dim: [{ size: '1' }, { size: '4' }] } } } },
      { name: 'i', op: 'Placeholder', attr: { dtype: dtype('DT_INT32'), shape: { shape: { dim: [{ size: '6' }] } } } },
      { name: 'scaled', op: 'Mul', input: ['x', 'w'] },
      { name: 'clipped', op: 'Relu6', input: ['scaled'] },
      { name: 'quotient', op: 'FloorDiv', input: ['i', 'd'] },
      { name: 'remainder', op: 'FloorMod', input: ['i:0', 'd'] },
      {
        name: 'middle',
        op: 'StridedSlice',
        input: ['x', 'begin', 'end', 'strides', '^clipped'],
        attr: { begin_mask: { i: '0' }, end_mask: { i: '0' }, shrink_axis_mask: { i: '1' }, ellipsis_mask: { i: '0' }, new_axis_mask: { i: '0' } },
      },
    ],
    [
      // 0.5, 2, -1.5, 3 as IEEE half bits
      { name: 'w', shape: [4], dtype: 'float32', bytes: halves(0x3800, 0x4000, 0xbe00, 0x4200), float16: true },
      { name: 'd', shape: [], dtype: 'int32', bytes: int32s(-3) },
      { name: 'begin', shape: [2], dtype: 'int32', bytes: int32s(0, 1) },
      { name: 'end', shape: [2], dtype: 'int32', bytes: int32s(1, 3) },
      { name: 'strides', shape: [2], dtype: 'int32', bytes: int32s(1, 1) },
    ],
    ['clipped', 'quotient', 'remainder', 'middle'],
  );
}

test('float16 decoding covers normals, subnormals, zero, infinity and NaN', () => {
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x7bff), 65504);
  assert.equal(halfToFloat(0x0001), 2 ** -24);
  assert.equal(halfToFloat(0x8000), -0);
  assert.equal(halfToFloat(0x7c00), Infinity);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
});

test('a small graph converts and runs in onnxruntime with TF semantics (float16 weights, floor division of negatives, strided slice)', async (t) => {
  const converted = convertTfjsToOnnx(parseTfjsGraphModel(arithmeticModel()), { metadata: { source_sha256: 'abc' } });
  assert.deepEqual(
    converted.outputs.map((o) => o.name),
    ['clipped', 'quotient', 'remainder', 'middle'],
  );

  const proto = onnx.ModelProto.decode(converted.onnx);
  assert.equal(proto.producerName, 'sightline');
  assert.equal(proto.producerVersion, CONVERTER_VERSION);
  assert.equal(proto.docString, `Converted from a TensorFlow.js graph model (test) by ${CONVERTER_NAME}`);
  assert.deepEqual(
    proto.metadataProps.map((p) => [p.key, p.value]),
    [['source_sha256', 'abc']],
  );
  assert.deepEqual(
    proto.graph?.input?.map((i) => i.type?.tensorType?.shape?.dim?.map((d) => Number(d.dimValue))),
    [[1, 4], [6]],
  );

  const session = await ort.InferenceSession.create(converted.onnx);
  t.after(() => session.release());
  const out = await session.run({
    x: new ort.Tensor('float32', Float32Array.of(-10, 1, 5, 10), [1, 4]),
    i: new ort.Tensor('int32', Int32Array.of(-7, -6, -1, 0, 5, 7), [6]),
  });
  assert.deepEqual(Array.from(out['clipped']!.data as Float32Array), [0, 2, 0, 6]);
  assert.deepEqual(Array.from(out['quotient']!.data as Int32Array), [2, 2, 0, 0, -2, -3]);
  assert.deepEqual(Array.from(out['remainder']!.data as Int32Array), [-1, 0, -1, 0, -1, -2]);
  assert.deepEqual(Array.from(out['middle']!.data as Float32Array), [1, 5]);
  assert.deepEqual(out['middle']!.dims, [2]);
});

test('average pooling excludes padding like TF, and Squeeze drops the named unit dimensions', async (t) => {
  const ints = (...v: number[]) => ({ list: { i: v.map(String) } });
  const files = tinyModel(
    [
      { name: 'x', op: 'Placeholder', attr: { dtype: dtype('DT_FLOAT'), shape: { shape: { dim: [1, 3, 3, 1].map((size) => ({ size: String(size) })) } } } },
      { name: 'same', op: 'AvgPool', input: ['x'], attr: { ksize: ints(1, 2, 2, 1), strides: ints(1, 2, 2, 1), padding: { s: b64('SAME') } } },
      { name: 'whole', op: 'AvgPool', input: ['x'], attr: { ksize: ints(1, 3, 3, 1), strides: ints(1, 1, 1, 1), padding: { s: b64('VALID') } } },
      { name: 'vector', op: 'Squeeze', input: ['whole'], attr: { squeeze_dims: ints(1, 2) } },
    ],
    [],
    ['same', 'vector'],
  );
  const converted = convertTfjsToOnnx(parseTfjsGraphModel(files));
  assert.deepEqual(converted.ops, { Placeholder: 1, AvgPool: 2, Squeeze: 1 });
  const session = await ort.InferenceSession.create(converted.onnx);
  t.after(() => session.release());
  const out = await session.run({ x: new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9), [1, 3, 3, 1]) });
  // SAME pads the 3x3 input to 4x4 at the bottom and right; TF averages only the real cells there.
  assert.deepEqual(Array.from(out['same']!.data as Float32Array), [3, 4.5, 7.5, 9]);
  assert.deepEqual(out['same']!.dims, [1, 2, 2, 1]);
  assert.deepEqual(Array.from(out['vector']!.data as Float32Array), [5]);
  assert.deepEqual(out['vector']!.dims, [1, 1]);
});

test('an op without a mapping is rejected with the op and the node named', () => {
  const files = tinyModel(
    [
      { name: 'x', op: 'Placeholder', attr: { dtype: dtype('DT_FLOAT') } },
      { name: 'mystery/node', op: 'Erfinv', input: ['x'] },
      { name: 'y', op: 'Identity', input: ['mystery/node'] },
    ],
    [],
    ['y'],
  );
  assert.throws(
    () => convertTfjsToOnnx(parseTfjsGraphModel(files)),
    (err: unknown) => err instanceof UnsupportedOpError && err.op === 'Erfinv' && err.node === 'mystery/node' && /"mystery\/node".*"Erfinv"/.test(err.message),
  );
});

test('unsupported attributes of a mapped op are named too', () => {
  const files = tinyModel(
    [
      { name: 'x', op: 'Placeholder', attr: { dtype: dtype('DT_FLOAT') } },
      {
        name: 'pool',
        op: 'MaxPool',
        input: ['x'],
        attr: { data_format: { s: b64('NCHW') }, ksize: { list: { i: ['1', '1', '3', '3'] } }, padding: { s: b64('SAME') } },
      },
    ],
    [],
    ['pool'],
  );
  assert.throws(
    () => convertTfjsToOnnx(parseTfjsGraphModel(files)),
    (err: unknown) => err instanceof ConversionError && /"pool" \(op MaxPool\): data_format NCHW/.test(err.message),
  );
});

test('only what the outputs need is converted: an unsupported op elsewhere does not matter', () => {
  const files = tinyModel(
    [
      { name: 'x', op: 'Placeholder', attr: { dtype: dtype('DT_FLOAT') } },
      { name: 'unused', op: 'Erfinv', input: ['x'] },
      { name: 'y', op: 'Relu', input: ['x'] },
    ],
    [],
    ['y'],
  );
  assert.deepEqual(convertTfjsToOnnx(parseTfjsGraphModel(files)).ops, { Placeholder: 1, Relu: 1 });
});

test('model.json that is empty, not JSON or not a graph model is refused with the reason', () => {
  assert.throws(
    () => parseModelJson(''),
    (e: unknown) => e instanceof TfjsModelError && /empty/.test(e.message),
  );
  assert.throws(
    () => parseModelJson('{"format": "graph-model", '),
    (e: unknown) => e instanceof TfjsModelError && /not JSON/.test(e.message),
  );
  assert.throws(
    () => parseModelJson('[1, 2]'),
    (e: unknown) => e instanceof TfjsModelError && /not a TensorFlow.js graph model/.test(e.message),
  );
  assert.throws(
    () => parseModelJson(JSON.stringify({ format: 'layers-model', modelTopology: {}, weightsManifest: [] })),
    (e: unknown) => e instanceof TfjsModelError && /format/.test(e.message) && /modelTopology\.node/.test(e.message),
  );
  assert.throws(
    () =>
      parseModelJson(
        JSON.stringify({
          format: 'graph-model',
          modelTopology: { node: [{ name: 'a', op: 'Const' }] },
          weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'a', shape: [2], dtype: 'string' }] }],
        }),
      ),
    (e: unknown) => e instanceof TfjsModelError && /weightsManifest\.0\.weights\.0\.dtype/.test(e.message),
  );
});

test('weights shorter or longer than the manifest describes are refused', () => {
  const good = arithmeticModel();
  const bytes = good.shards[0]![0]!;
  assert.throws(
    () => parseTfjsGraphModel({ ...good, shards: [[bytes.subarray(0, bytes.length - 2)]] }),
    (e: unknown) => e instanceof TfjsModelError && /w\.bin are 34 bytes but the manifest describes 36: truncated/.test(e.message),
  );
  assert.throws(() => parseTfjsGraphModel({ ...good, shards: [[Buffer.concat([bytes, Buffer.alloc(4)])]] }), /longer than described/);
  assert.throws(() => parseTfjsGraphModel({ ...good, shards: [] }), /lists 1 file\(s\) but 0 were given/);
});

test('model files on disk: truncated or missing weights are refused when loading', async (t) => {
  const dir = tempDir(t, 'files');
  const good = arithmeticModel();
  const modelJson = path.join(dir, 'model.json');
  writeFileSync(modelJson, good.modelJson);
  await assert.rejects(loadTfjsGraphModel(modelJson), (e: unknown) => e instanceof TfjsModelError && /ENOENT/.test(e.message));
  writeFileSync(path.join(dir, 'w.bin'), good.shards[0]![0]!.subarray(0, 10));
  await assert.rejects(loadTfjsGraphModel(modelJson), /truncated/);
  writeFileSync(path.join(dir, 'w.bin'), good.shards[0]![0]!);
  assert.equal((await loadTfjsGraphModel(modelJson)).weights.size, 5);
  await assert.rejects(loadTfjsGraphModel(path.join(dir, 'nope.json')), (e: unknown) => e instanceof TfjsModelError && /cannot read/.test(e.message));
});

test('a Const without weights and a reference to a missing node are refused', () => {
  const noWeights: TfjsModelFiles = {
    modelJson: JSON.stringify({
      format: 'graph-model',
      modelTopology: {
        node: [
          { name: 'c', op: 'Const' },
          { name: 'y', op: 'Identity', input: ['c'] },
        ],
      },
      weightsManifest: [],
    }),
    shards: [],
  };
  assert.throws(() => convertTfjsToOnnx(parseTfjsGraphModel(noWeights), { outputs: ['y'] }), /"c" \(op Const\): constant has no weights/);
  const dangling = tinyModel([{ name: 'y', op: 'Relu', input: ['ghost'] }], [], ['y']);
  assert.throws(() => convertTfjsToOnnx(parseTfjsGraphModel(dangling)), /node "y" uses "ghost", which is not in the graph/);
});

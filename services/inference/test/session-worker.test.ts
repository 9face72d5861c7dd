import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ElemType } from '@sightline/tfjs-onnx';
import * as ort from '../src/onnxruntime.ts';
import { sessionOptions } from '../src/model/loader.ts';
import { WorkerSession } from '../src/model/session-worker.ts';
import { buildModel, tensorInfo } from './onnx-fixtures.ts';

/** y = x * 3 + 1 and z = the count of x's elements above 0 (two outputs, two element types). */
const affine = buildModel({
  inputs: [tensorInfo('x', ElemType.float, [1, 'n'])],
  outputs: [tensorInfo('y', ElemType.float, [1, 'n']), tensorInfo('z', ElemType.int64, [])],
  build: (b) => {
    const three = b.floats('three', [], Float32Array.of(3));
    const one = b.floats('one', [], Float32Array.of(1));
    const zero = b.floats('zero', [], Float32Array.of(0));
    b.node('Add', [b.op('Mul', ['x', three], 'mul'), one], ['y']);
    const positive = b.op('Cast', [b.op('Greater', ['x', zero], 'gt')], 'cast', { to: { kind: 'int', value: ElemType.int64 } });
    b.node('ReduceSum', [positive], ['z'], { keepdims: { kind: 'int', value: 0 } });
  },
});

/** A chain of 512x512 matrix products: a run long enough to watch the event loop during it. */
function slowModel(products: number): Uint8Array {
  const size = 512;
  return buildModel({
    inputs: [tensorInfo('x', ElemType.float, [size, size])],
    outputs: [tensorInfo('y', ElemType.float, [size, size])],
    build: (b) => {
      const weights = b.floats('w', [size, size], new Float32Array(size * size).fill(1 / size));
      let value = 'x';
      for (let i = 0; i < products - 1; i++) value = b.op('MatMul', [value, weights], `p${i}`);
      b.node('MatMul', [value, weights], ['y']);
    },
  });
}

const input = () => ({ x: new ort.Tensor('float32', Float32Array.from([-2, -0.5, 0, 0.25, 7]), [1, 5]) });

test('runs give what the same model gives on this thread, bit for bit, with names and metadata', async (t) => {
  const remote = await WorkerSession.create(affine, sessionOptions(1));
  t.after(() => remote.release());
  const local = await ort.InferenceSession.create(affine, sessionOptions(1));
  t.after(() => local.release());
  assert.deepEqual(remote.inputNames, local.inputNames);
  assert.deepEqual(remote.outputNames, ['y', 'z']);
  assert.deepEqual(remote.outputMetadata, structuredClone(local.outputMetadata));
  const [got, want] = [await remote.run(input()), await local.run(input())];
  assert.deepEqual([...(got['y']!.data as Float32Array)], [...(want['y']!.data as Float32Array)]);
  assert.deepEqual([...(got['y']!.data as Float32Array)], [-5, -0.5, 1, 1.75, 22]);
  assert.deepEqual(got['y']!.dims, [1, 5]);
  assert.equal(got['z']!.type, 'int64');
  assert.equal(got['z']!.data[0], 2n);
  // Only what is fetched comes back.
  assert.deepEqual(Object.keys(await remote.run(input(), ['z'])), ['z']);
});

test('the input tensor stays usable after a run (it is copied, not moved)', async (t) => {
  const remote = await WorkerSession.create(affine, sessionOptions(1));
  t.after(() => remote.release());
  const feeds = input();
  await remote.run(feeds);
  assert.deepEqual([...(feeds.x.data as Float32Array)], [-2, -0.5, 0, 0.25, 7]);
});

test('the event loop keeps turning while a run is in flight', async (t) => {
  const remote = await WorkerSession.create(slowModel(24), sessionOptions(1));
  t.after(() => remote.release());
  const x = new ort.Tensor('float32', new Float32Array(512 * 512).fill(1), [512, 512]);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 2);
  const t0 = performance.now();
  const outputs = await remote.run({ x });
  const runMs = performance.now() - t0;
  clearInterval(timer);
  assert.ok(Math.abs((outputs['y']!.data as Float32Array)[0]! - 1) < 1e-4);
  // On this thread, a run holds the loop for its whole length and not one tick happens.
  assert.ok(ticks >= Math.min(5, runMs / 8), `${ticks} ticks during a ${runMs.toFixed(0)} ms run`);
});

test('runs issued together all complete, each with its own result', async (t) => {
  const remote = await WorkerSession.create(affine, sessionOptions(1));
  t.after(() => remote.release());
  const results = await Promise.all([1, 2, 3, 4, 5, 6].map((k) => remote.run({ x: new ort.Tensor('float32', Float32Array.of(k), [1, 1]) })));
  assert.deepEqual(
    results.map((r) => (r['y']!.data as Float32Array)[0]),
    [4, 7, 10, 13, 16, 19],
  );
});

test("a bad run is refused with onnxruntime's reason, and the next one works", async (t) => {
  const remote = await WorkerSession.create(affine, sessionOptions(1));
  t.after(() => remote.release());
  await assert.rejects(remote.run({ wrong: new ort.Tensor('float32', Float32Array.of(1), [1, 1]) }), /input 'x' is missing/);
  await assert.rejects(remote.run({ x: new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4), [2, 2, 1]) }), /rank|dimension|shape/i);
  await assert.rejects(remote.run(input(), ['nope']), /nope/);
  assert.deepEqual([...((await remote.run(input()))['y']!.data as Float32Array)], [-5, -0.5, 1, 1.75, 22]);
});

test('a worker that dies is replaced at the next run', async (t) => {
  const remote = await WorkerSession.create(affine, sessionOptions(1));
  t.after(() => remote.release());
  await remote.run(input());
  await remote.kill();
  assert.deepEqual([...((await remote.run(input()))['y']!.data as Float32Array)], [-5, -0.5, 1, 1.75, 22]);
  assert.equal(remote.starts, 2);
});

test('what is not a model is refused at create with the reason', async () => {
  for (const bytes of [new Uint8Array(0), new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), Buffer.from('{"format":"graph-model"}')]) {
    await assert.rejects(WorkerSession.create(bytes, sessionOptions(1)), (err: Error) => err.message.length > 0 && !/worker thread ended/.test(err.message));
  }
  await assert.rejects(WorkerSession.create('/nonexistent/model.onnx', sessionOptions(1)), /No such file|does not exist|ENOENT|Load model/i);
});

test('after release, runs are refused and the worker is gone; releasing twice is fine', async () => {
  const remote = await WorkerSession.create(affine, sessionOptions(1));
  await remote.release();
  await remote.release();
  await assert.rejects(remote.run(input()), /released/);
  assert.equal(remote.starts, 1);
});

test('fixed-shape outputs come in shared memory from a slot that is reused once they are disposed of', async (t) => {
  // s = the sum of x, always [1, 1]; n = x * 2, as long as x.
  const mixed = buildModel({
    inputs: [tensorInfo('x', ElemType.float, [1, 'n'])],
    outputs: [tensorInfo('s', ElemType.float, [1, 1]), tensorInfo('n', ElemType.float, [1, 'n'])],
    build: (b) => {
      const two = b.floats('two', [], Float32Array.of(2));
      b.node('ReduceSum', ['x', b.int64s('axes', [1])], ['s'], { keepdims: { kind: 'int', value: 1 } });
      b.node('Mul', ['x', two], ['n']);
    },
  });
  const remote = await WorkerSession.create(mixed, sessionOptions(1));
  t.after(() => remote.release());
  const x = (...values: number[]) => ({ x: new ort.Tensor('float32', Float32Array.from(values), [1, values.length]) });
  const sum = (outputs: Record<string, ort.Tensor>) => (outputs['s']!.data as Float32Array)[0];
  const first = await remote.run(x(1, 2, 3, 4, 5));
  assert.ok((first['s']!.data as Float32Array).buffer instanceof SharedArrayBuffer, 'a fixed shape is placed in shared memory');
  assert.ok(!((first['n']!.data as Float32Array).buffer instanceof SharedArrayBuffer), 'a dynamic one is moved');
  assert.equal(sum(first), 15);
  assert.deepEqual([...(first['n']!.data as Float32Array)], [2, 4, 6, 8, 10]);
  // Held: the next run gets another slot, and the first run's values stay as they were.
  const second = await remote.run(x(7, 7));
  assert.equal(remote.slots, 2);
  assert.equal(sum(first), 15);
  assert.equal(sum(second), 14);
  // Disposed of: their slot is taken again, no new one is made.
  first['s']!.dispose();
  first['n']!.dispose();
  second['s']!.dispose();
  for (let i = 1; i <= 5; i++) {
    const again = await remote.run(x(i, i));
    assert.equal(sum(again), 2 * i);
    again['s']!.dispose();
  }
  assert.equal(remote.slots, 2);
  // Never disposed of: slots stop at a bound, and outputs beyond it are moved instead.
  const kept = [];
  for (let i = 0; i < 8; i++) kept.push(await remote.run(x(i)));
  assert.ok(remote.slots <= 4, `${remote.slots} slots`);
  assert.deepEqual(
    kept.map((outputs) => sum(outputs)),
    [0, 1, 2, 3, 4, 5, 6, 7],
  );
  assert.ok(!((kept.at(-1)!['s']!.data as Float32Array).buffer instanceof SharedArrayBuffer));
  // A model with no fixed-shape output has no slots at all.
  const identity = buildModel({
    inputs: [tensorInfo('x', ElemType.float, [1, 'n'])],
    outputs: [tensorInfo('y', ElemType.float, [1, 'n'])],
    build: (b) => b.node('Identity', ['x'], ['y']),
  });
  const dynamic = await WorkerSession.create(identity, sessionOptions(1));
  t.after(() => dynamic.release());
  await dynamic.run(x(1, 2));
  assert.equal(dynamic.slots, 0);
});

test('an input in shared memory is read in place, and changing it changes the next result', async (t) => {
  const remote = await WorkerSession.create(affine, sessionOptions(1));
  t.after(() => remote.release());
  const shared = new Float32Array(new SharedArrayBuffer(5 * 4));
  shared.set([1, 1, 1, 1, 1]);
  const x = new ort.Tensor('float32', shared, [1, 5]);
  assert.deepEqual([...((await remote.run({ x }))['y']!.data as Float32Array)], [4, 4, 4, 4, 4]);
  shared.set([0, 0, 0, 0, 2]);
  assert.deepEqual([...((await remote.run({ x }))['y']!.data as Float32Array)], [1, 1, 1, 1, 7]);
});

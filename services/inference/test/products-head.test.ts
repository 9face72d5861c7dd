import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HEAD_LAMBDA, trainHead } from '../src/products/head.ts';
import { Recognizer } from '../src/products/recognizer.ts';

/** Unit vectors around a few directions, reproducible. */
function photos(perProduct: number, products: number, dims: number, spread: number): Array<{ product: string; vector: Float32Array }> {
  let state = 7;
  const random = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5;
  const rows: Array<{ product: string; vector: Float32Array }> = [];
  for (let p = 0; p < products; p++)
    for (let i = 0; i < perProduct; i++) {
      const v = Float32Array.from({ length: dims }, (_, d) => (d === p ? 1 : 0) + spread * random());
      const n = Math.hypot(...v);
      rows.push({ product: `p${p}`, vector: v.map((x) => x / n) });
    }
  return rows;
}

test('the head solves (X Xᵀ + λI) A = Y exactly: K times its weights gives back the one-hot targets', async () => {
  const rows = photos(6, 3, 8, 0.8);
  const recognizer = Recognizer.from(8, rows);
  const input = recognizer.headInput();
  const head = (await trainHead(input))!;
  const n = rows.length;
  let worst = 0;
  for (let i = 0; i < n; i++)
    for (let c = 0; c < head.products; c++) {
      let value = 0;
      for (let j = 0; j < n; j++) {
        let k = i === j ? HEAD_LAMBDA : 0;
        for (let d = 0; d < 8; d++) k += input.matrix[i * 8 + d]! * input.matrix[j * 8 + d]!;
        value += k * head.weights[j * head.products + c]!;
      }
      worst = Math.max(worst, Math.abs(value - (input.productOf[i] === c ? 1 : 0)));
    }
  assert.ok(worst < 1e-4, `largest error ${worst}`);
});

test('with a head the product is chosen by it, and the similarity is still that of the closest photo', async () => {
  const rows = photos(5, 4, 6, 0.6);
  const nearest = Recognizer.from(6, rows);
  const withHead = nearest.withHead((await trainHead(nearest.headInput()))!);
  assert.equal(withHead.hasHead, true);
  const query = Float32Array.from([0.05, 0.98, 0.1, 0, 0.05, 0]);
  const verdict = withHead.classify(query)!;
  assert.deepEqual([verdict.product, verdict.by], ['p1', 'head']);
  assert.equal(verdict.similarity, withHead.rank(query, 4).find((m) => m.product === 'p1')!.similarity);
  assert.equal(nearest.classify(query)!.by, 'nearest');
});

test('no head for a single product, none when stopped, and a head never serves other photos than its own', async () => {
  assert.equal(await trainHead(Recognizer.from(4, photos(3, 1, 4, 0.1)).headInput()), null);
  let asked = 0;
  const big = Recognizer.from(64, photos(60, 4, 64, 0.5));
  assert.equal(await trainHead(big.headInput(), { sliceMs: 0, shouldStop: () => ++asked > 2 }), null);
  const head = (await trainHead(Recognizer.from(6, photos(2, 3, 6, 0.2)).headInput()))!;
  assert.throws(() => Recognizer.from(6, photos(3, 3, 6, 0.2)).withHead(head), /other photos/);
});

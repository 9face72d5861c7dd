import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expectedRange, gramsToMilligrams, pricePerKg, pricePerUnit, withinRange } from '../src/pricing.ts';

/** Reference in exact decimal arithmetic over strings: grams (up to 3 decimals) x price / 1000, half up. */
function reference(grams: string, minorPerKg: number): number {
  const [whole, fraction = ''] = grams.split('.');
  const mg = BigInt(whole! + fraction.padEnd(3, '0'));
  const scaled = mg * BigInt(minorPerKg);
  return Number((scaled + 500_000n) / 1_000_000n);
}

test('per-kg prices match exact decimal arithmetic for many weights and prices', () => {
  const prices = [1, 99, 152, 299, 330, 441, 999, 1234, 100_000_000];
  let checked = 0;
  for (let tenths = 0; tenths <= 30_000; tenths += 7) {
    const grams = `${Math.floor(tenths / 10)}.${tenths % 10}`;
    for (const price of prices) {
      assert.equal(pricePerKg(Number(grams), price), reference(grams, price), `${grams} g at ${price}/kg`);
      checked++;
    }
  }
  assert.ok(checked > 30_000);
});

test('rounds half up, exactly at the half', () => {
  // 250 g x 2 = 0.5 minor units exactly -> 1
  assert.equal(pricePerKg(250, 2), 1);
  assert.equal(pricePerKg(249.999, 2), 0);
  // 182.5 g x 299 /1000 = 54.5675 -> 55
  assert.equal(pricePerKg(182.5, 299), 55);
  // 1500 g x 333 = 499.5 -> 500
  assert.equal(pricePerKg(1500, 333), 500);
  assert.equal(pricePerKg(0, 999), 0);
});

test('no floating-point artefacts: 0.1 + 0.2 g style weights are exact', () => {
  assert.equal(gramsToMilligrams(0.1 + 0.2), 300n);
  assert.equal(gramsToMilligrams(182.3), 182_300n);
  assert.equal(gramsToMilligrams(1.005), 1_005n);
  // 0.1+0.2 g at 5000/kg is exactly 1.5 -> 2
  assert.equal(pricePerKg(0.1 + 0.2, 5000), 2);
  // 32.8 g at 1875/kg is exactly 61.5 -> 62, where float maths gives 61.49999999999999 -> 61
  assert.equal(Math.round((32.8 * 1875) / 1000), 61, 'the float artefact this guards against');
  assert.equal(pricePerKg(32.8, 1875), 62);
  assert.equal(pricePerKg(266.4, 1875), 500);
  // 1.005 g at 1_000_000/kg is 1005 exactly (1.005 * 1000 is 1004.9999999999999 in floats)
  assert.equal(pricePerKg(1.005, 1_000_000), 1005);
  assert.equal(Number.isInteger(pricePerKg(123.4, 777)), true);
});

test('per-unit prices are integer products; bad inputs are refused', () => {
  assert.equal(pricePerUnit(3, 129), 387);
  assert.equal(pricePerUnit(1, 0), 0);
  assert.throws(() => pricePerUnit(0, 100), RangeError);
  assert.throws(() => pricePerUnit(1.5, 100), RangeError);
  assert.throws(() => pricePerKg(Number.NaN, 100), RangeError);
  assert.throws(() => pricePerKg(-1, 100), RangeError);
  assert.throws(() => pricePerKg(Infinity, 100), RangeError);
  assert.throws(() => pricePerKg(100, 1.5), RangeError);
});

test('expected weight ranges scale with the quantity and include the tolerance edges', () => {
  const range = expectedRange({ min: 510, max: 545 }, 2, 2);
  assert.deepEqual(range, { min: 1018, max: 1092 });
  assert.equal(withinRange(1018, range), true);
  assert.equal(withinRange(1092, range), true);
  assert.equal(withinRange(1017.9, range), false);
  assert.equal(withinRange(1092.1, range), false);
  assert.deepEqual(expectedRange({ min: 0.1, max: 0.2 }, 3, 0), { min: 0.3, max: 0.6 });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WeightSettler } from '../src/scale.ts';

test('settles once every reading stayed within the tolerance for the settle time', () => {
  const s = new WeightSettler(2, 500);
  assert.equal(s.add(180, 0), null);
  assert.equal(s.add(181.5, 100), null);
  assert.equal(s.add(180.4, 300), null);
  const settled = s.add(181, 500);
  assert.equal(settled?.grams, 181);
  assert.equal(s.settled?.grams, 181);
  // staying inside keeps the same settled weight (no new episode)
  assert.equal(s.add(180.2, 600), null);
  assert.equal(s.settled?.episode, settled?.episode);
});

test('a reading outside the tolerance restarts the settle time', () => {
  const s = new WeightSettler(2, 500);
  s.add(100, 0);
  s.add(103, 400);
  assert.equal(s.add(103, 800), null, 'only 400 ms since the run restarted at 103 g');
  assert.equal(s.add(102.5, 900)?.grams, 102.5);
  assert.equal(s.add(250, 1000), null);
  assert.equal(s.settled, null, 'a large change unsettles at once');
});

test('a drifting weight (each step inside the tolerance, the run beyond it) does not settle', () => {
  const s = new WeightSettler(2, 500);
  let settled = null;
  for (let i = 0; i <= 20; i++) settled ??= s.add(100 + i * 1.5, i * 100);
  assert.equal(settled, null);
});

test('stable: true settles at once; stable: false is believed', () => {
  const s = new WeightSettler(2, 500);
  assert.equal(s.add(300, 0, true)?.grams, 300);
  const moving = new WeightSettler(2, 500);
  moving.add(300, 0, false);
  moving.add(300, 400, false);
  assert.equal(moving.add(300, 1000, false), null);
  assert.equal(moving.check(5000), null);
  assert.equal(moving.add(300, 5100), null);
  assert.equal(moving.add(300.5, 5600)?.grams, 300.5);
});

test('a lone reading followed by a pause is not settled: the last reading of a swing is no weight', () => {
  const s = new WeightSettler(2, 500);
  s.add(120, 0);
  s.add(160, 100);
  s.add(178.2, 200);
  assert.equal(s.check(700), null);
  assert.equal(s.add(190, 700), null, 'the steady value starts a new run');
  assert.equal(s.add(190.1, 1200)?.grams, 190.1);
});

test('settles by time alone when the scale goes quiet long enough, and -0 reads as 0', () => {
  const s = new WeightSettler(2, 500);
  s.add(-0, 0);
  assert.equal(s.check(999), null);
  const settled = s.check(1000);
  assert.equal(settled?.grams, 0);
  assert.equal(Object.is(settled?.grams, -0), false);
});

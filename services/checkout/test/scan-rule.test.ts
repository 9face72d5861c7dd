import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_TUNING, laneConfig, laneHarness, metricValue } from './helpers.ts';

const noScale = (tuning = {}) => laneConfig({ scale: false, tuning });
const bottle = { label: 'bottle', score: 0.6 };

test('N consecutive frames make a scan; fewer do not', (t) => {
  const h = laneHarness(t, noScale({ scanMs: 60_000 }));
  h.frames(2, [bottle]);
  assert.equal(h.scans.length, 0);
  h.frames(1, [bottle]);
  assert.equal(h.scans.length, 1);
  const scan = h.scans[0]!;
  assert.equal(scan.product.sku, 'DRINK-WATER-500');
  assert.equal(scan.product.name, 'Spring water 500 ml');
  assert.deepEqual(scan.product.spoken, { one: 'bottle of water', other: 'bottles of water' });
  assert.equal(scan.locale, 'en-US');
  assert.equal(scan.pricing, 'unit');
  assert.equal(scan.priceMinor, 129);
  assert.equal(scan.weightGrams, null);
  assert.equal(scan.basket.count, 1);
  assert.equal(scan.basket.totalMinor, 129);
});

test('the frames must be consecutive detections messages', (t) => {
  const h = laneHarness(t, noScale({ scanMs: 60_000 }));
  h.frames(2, [bottle]);
  h.frames(1, []);
  h.frames(2, [bottle]);
  assert.equal(h.scans.length, 0, 'a gap restarts the count');
  h.frames(1, [bottle]);
  assert.equal(h.scans.length, 1);
});

test('or T ms of capture time, whichever comes first; confidence is the mean score', (t) => {
  const h = laneHarness(t, noScale({ scanFrames: 10, scanMs: 600 }));
  h.frames(1, [{ label: 'bottle', score: 0.5 }], 300);
  h.frames(1, [{ label: 'bottle', score: 0.7 }], 300);
  assert.equal(h.scans.length, 0, '300 ms in view');
  h.frames(1, [{ label: 'bottle', score: 0.9 }], 300);
  assert.equal(h.scans.length, 1, '600 ms in view');
  assert.equal(h.scans[0]!.confidence, 0.7);
});

test('an object whose box centre is outside the zone is not scanned', (t) => {
  const zone = [
    { x: 0, y: 0 },
    { x: 0.5, y: 0 },
    { x: 0.5, y: 1 },
    { x: 0, y: 1 },
  ];
  const h = laneHarness(t, laneConfig({ scale: false, zone }));
  h.frames(5, [
    { label: 'bottle', at: [0.8, 0.5] },
    { label: 'kite', at: [0.9, 0.2] },
  ]);
  assert.equal(h.scans.length, 0);
  assert.equal(h.events.length, 0, 'unknown objects outside the zone are not announced either');
  h.frames(3, [{ label: 'bottle', at: [0.2, 0.5] }]);
  assert.equal(h.scans.length, 1);
});

test('below the product threshold (catalog) or the global default nothing counts', (t) => {
  const h = laneHarness(t, noScale());
  h.frames(5, [{ label: 'bottle', score: 0.34 }]);
  assert.equal(h.scans.length, 0, 'the bottle needs 0.35 in the catalog');
  h.frames(5, [
    { label: 'donut', score: 0.29 },
    { label: 'kite', score: 0.29 },
  ]);
  assert.equal(h.scans.length + h.events.length, 0, 'global default 0.3');
});

test('people are never products: not scanned, not "not recognised", and they do not keep the zone occupied', async (t) => {
  const h = laneHarness(t, noScale());
  h.frames(10, [
    { label: 'person', score: 0.9 },
    { label: 'Person', score: 0.8 },
  ]);
  assert.equal(h.scans.length, 0);
  assert.equal(h.events.length, 0);
  h.frames(3, [bottle, { label: 'person', score: 0.9 }]);
  assert.equal(h.scans.length, 1);
  h.frames(6, [{ label: 'person', score: 0.9 }]);
  h.frames(3, [bottle, { label: 'person', score: 0.9 }]);
  assert.equal(h.scans.length, 2, 'a person alone in view for 1.2 s leaves the zone clear of products');
  assert.equal(await metricValue(h.registry, 'sightline_checkout_not_recognised_total'), 0);
});

test('an item is scanned once, however long it stays, and again after the zone was clear long enough', (t) => {
  const h = laneHarness(t, noScale());
  h.frames(20, [bottle]);
  assert.equal(h.scans.length, 1);
  h.frames(3, [], 200); // last seen 800 ms before it is back
  h.frames(5, [bottle]);
  assert.equal(h.scans.length, 1, 'back too soon: the same item');
  h.frames(4, [], 200); // last seen 1000 ms before it is back
  h.frames(3, [bottle]);
  assert.equal(h.scans.length, 2);
});

test('detector flicker inside the clear time does not rescan', (t) => {
  const h = laneHarness(t, noScale());
  for (let i = 0; i < 10; i++) {
    h.frames(3, [bottle]);
    h.frames(1, []);
  }
  assert.equal(h.scans.length, 1);
});

test('a different product is scanned even while the first is still in the zone', (t) => {
  const h = laneHarness(t, noScale());
  h.frames(3, [bottle]);
  h.frames(3, [bottle, { label: 'donut', at: [0.3, 0.3] }]);
  assert.deepEqual(
    h.scans.map((s) => s.product.sku),
    ['DRINK-WATER-500', 'BAKERY-DONUT'],
  );
  h.frames(10, [bottle, { label: 'donut', at: [0.3, 0.3] }]);
  assert.equal(h.scans.length, 2, 'and neither again while both stay');
});

test('several of the same per-unit product at once: quantity is the count', (t) => {
  const h = laneHarness(t, noScale());
  const three = [
    { label: 'bottle', at: [0.2, 0.5] as [number, number] },
    { label: 'bottle', at: [0.5, 0.5] as [number, number] },
    { label: 'bottle', at: [0.8, 0.5] as [number, number] },
  ];
  h.frames(3, three);
  assert.equal(h.scans[0]!.quantity, 3);
  assert.equal(h.scans[0]!.priceMinor, 387);
  assert.equal(h.scans[0]!.basket.count, 3);
});

test('a count seen only in some frames is not charged: the most frequent count wins, ties go low', (t) => {
  const h = laneHarness(t, noScale());
  const two = [
    { label: 'bottle', at: [0.2, 0.5] as [number, number] },
    { label: 'bottle', at: [0.8, 0.5] as [number, number] },
  ];
  h.frames(1, two);
  h.frames(1, [bottle]);
  h.frames(1, [bottle]);
  assert.equal(h.scans[0]!.quantity, 1);
});

test('an unknown object seen N frames is announced once as not recognised', async (t) => {
  const h = laneHarness(t, noScale());
  h.frames(2, [{ label: 'kite' }]);
  assert.equal(h.events.length, 0);
  h.frames(10, [{ label: 'kite' }]);
  const events = h.eventsOf('not-recognised');
  assert.equal(events.length, 1);
  assert.equal(events[0]!.label, 'kite');
  assert.equal(events[0]!.camera, 'demo');
  // The frame that showed it, for the alert's snapshot: one of the kite frames.
  assert.equal(events[0]!.frame?.camera, 'demo');
  assert.ok(events[0]!.frame!.capturedAt <= h.clock.t && events[0]!.frame!.seq > 0);
  assert.equal(h.scans.length, 0);
  h.frames(5, [], 200);
  h.frames(3, [{ label: 'kite' }]);
  assert.equal(h.eventsOf('not-recognised').length, 2, 'again after the zone was clear');
  assert.equal(await metricValue(h.registry, 'sightline_checkout_not_recognised_total', { reason: 'unknown-label' }), 2);
});

test('a classification result (no box) counts as the middle of the frame', (t) => {
  const h = laneHarness(t, noScale());
  h.frames(3, [{ label: 'bottle', box: null }]);
  assert.equal(h.scans.length, 1);
});

test('per-lane overrides: ignore labels and frame count', (t) => {
  const h = laneHarness(t, noScale({ ignoreLabels: ['person', 'bottle'], scanFrames: 1 }));
  h.frames(3, [bottle]);
  assert.equal(h.scans.length, 0);
  h.frames(1, [{ label: 'donut' }]);
  assert.equal(h.scans.length, 1);
  assert.equal(DEFAULT_TUNING.scanFrames, 3);
});

test('the lane locale names the product', (t) => {
  const h = laneHarness(t, laneConfig({ scale: false, locale: 'es-ES' }));
  h.frames(3, [{ label: 'donut' }]);
  assert.equal(h.scans[0]!.product.name, 'Dónut glaseado');
  assert.deepEqual(h.scans[0]!.product.spoken, { one: 'dónut', other: 'dónuts', article: 'un' });
  assert.equal(h.scans[0]!.locale, 'es-ES');
});

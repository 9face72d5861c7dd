import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Clock, laneConfig, laneHarness, tempDir } from './helpers.ts';

const noScale = laneConfig({ scale: false });
const bottle = { label: 'bottle' };
const donut = { label: 'donut', at: [0.3, 0.3] as [number, number] };

test('remove-last, finish and clear change the basket and are announced', (t) => {
  const h = laneHarness(t, noScale);
  assert.deepEqual(h.lane.command({ action: 'remove-last' }), {
    ok: false,
    reason: 'basket-empty',
    error: 'the basket of lane lane-1 is empty: there is nothing to remove',
  });
  assert.equal(h.lane.command({ action: 'finish' }).ok, false);
  h.frames(3, [bottle]);
  h.frames(3, [bottle, donut]);
  const firstBasket = h.lane.basket.id;
  assert.equal(h.lane.basket.totalMinor, 129 + 149);

  const removed = h.lane.command({ action: 'remove-last' });
  assert.equal(removed.ok, true);
  assert.equal(h.lane.basket.totalMinor, 129);
  const [event] = h.eventsOf('removed');
  assert.equal(event!.item.sku, 'BAKERY-DONUT');
  assert.equal(event!.product.spoken.one, 'donut');
  assert.deepEqual(event!.basket, { id: firstBasket, count: 1, totalMinor: 129 });

  const finished = h.lane.command({ action: 'finish' });
  assert.equal(finished.ok, true);
  assert.equal(h.lane.basket.status, 'finished');
  assert.deepEqual(h.eventsOf('total')[0]!.basket, { id: firstBasket, count: 1, totalMinor: 129 });
  assert.equal(h.baskets.at(-1)!.status, 'finished');
  assert.match((h.lane.command({ action: 'finish' }) as { error: string }).error, /already finished/);
  assert.match((h.lane.command({ action: 'remove-last' }) as { error: string }).error, /finished/);

  // the next scan starts a new basket
  h.frames(6, [], 200);
  h.frames(3, [donut]);
  assert.notEqual(h.lane.basket.id, firstBasket);
  assert.equal(h.lane.basket.status, 'open');
  assert.equal(h.lane.basket.totalMinor, 149);
  assert.equal(h.scans.at(-1)!.basket.id, h.lane.basket.id);

  const beforeClear = h.lane.basket.id;
  assert.equal(h.lane.command({ action: 'clear' }).ok, true);
  assert.notEqual(h.lane.basket.id, beforeClear);
  assert.equal(h.lane.basket.count, 0);
  assert.deepEqual(h.eventsOf('cleared')[0]!.basket, { id: h.lane.basket.id, count: 0, totalMinor: 0 });
});

test('finish abandons an item still being weighed: it is not charged to the next basket', (t) => {
  const h = laneHarness(t);
  h.frames(3, [bottle]);
  h.clock.advance(1500);
  h.tick();
  h.frames(3, [{ label: 'orange' }]);
  assert.equal(h.lane.status().state, 'weighing');
  h.lane.command({ action: 'finish' });
  h.weigh(180, 600);
  assert.equal(h.scans.length, 1);
  assert.equal(h.lane.basket.status, 'finished');
});

test('the basket, finished state and what is in the zone survive a restart of the lane', (t) => {
  const dataDir = tempDir(t);
  const clock = new Clock();
  const first = laneHarness(t, noScale, { dataDir, clock });
  first.frames(3, [bottle]);
  first.frames(3, [bottle, donut]);
  const basket = first.lane.basket;
  first.store.close();

  const second = laneHarness(t, noScale, { dataDir, clock });
  assert.deepEqual(second.lane.basket, basket);
  // the bottle and donut still lie there: not scanned again after the restart
  second.frames(10, [bottle, donut]);
  assert.equal(second.scans.length, 0);
  second.frames(6, [], 200);
  second.frames(3, [bottle]);
  assert.equal(second.scans.length, 1, 'once they were gone long enough, a new bottle is scanned');
  assert.equal(second.lane.basket.count, 3);
  second.lane.command({ action: 'finish' });
  second.store.close();

  const third = laneHarness(t, noScale, { dataDir, clock });
  assert.equal(third.lane.basket.status, 'finished');
  assert.equal(third.lane.basket.totalMinor, 129 + 149 + 129);
});

test("trouble: a camera capture reports online that yields no detections is item recognition not working; silence counts from the camera's return", (t) => {
  const h = laneHarness(t, laneConfig({ scale: false }));
  const trouble = () => h.eventsOf('trouble').map((e) => `${e.problem}:${e.state}`);
  h.tick({ camera: 'online' });
  h.clock.advance(9_000);
  h.tick({ camera: 'online' });
  assert.deepEqual(trouble(), []);
  h.clock.advance(1_000);
  h.tick({ camera: 'online' });
  assert.deepEqual(trouble(), ['inference-offline:begin'], 'not blamed on a camera capture says is delivering');
  h.frames(1, []);
  h.tick({ camera: 'online' });
  assert.deepEqual(trouble(), ['inference-offline:begin', 'inference-offline:end']);
  h.events.length = 0;
  h.tick({ camera: 'offline' });
  h.clock.advance(20_000);
  h.tick({ camera: 'offline' });
  h.tick({ camera: 'online' });
  assert.deepEqual(trouble(), ['camera-offline:begin', 'camera-offline:end'], 'back after 20 s away: no detections yet is not yet a fault');
  h.clock.advance(10_000);
  h.tick({ camera: 'online' });
  assert.deepEqual(trouble().slice(2), ['inference-offline:begin']);
});

test('trouble: camera, inference and scale offline begin and end, once each', (t) => {
  const h = laneHarness(t);
  h.clock.advance(9_000);
  h.tick();
  assert.deepEqual(h.eventsOf('trouble'), []);
  h.clock.advance(1_000);
  h.tick();
  h.tick();
  assert.deepEqual(
    h.eventsOf('trouble').map((e) => `${e.problem}:${e.state}`),
    ['camera-offline:begin'],
  );
  h.frames(1, []);
  h.tick();
  assert.deepEqual(
    h
      .eventsOf('trouble')
      .map((e) => `${e.problem}:${e.state}`)
      .slice(1),
    ['camera-offline:end'],
  );
  assert.deepEqual(h.lane.status().trouble, []);

  h.events.length = 0;
  h.tick({ inferenceOffline: true });
  h.clock.advance(12_000);
  h.tick({ inferenceOffline: true });
  assert.deepEqual(
    h.eventsOf('trouble').map((e) => `${e.problem}:${e.state}`),
    ['inference-offline:begin'],
    'no detections because inference is down is not blamed on the camera',
  );
  h.events.length = 0;
  h.tick({ camera: 'offline' });
  assert.deepEqual(
    h.eventsOf('trouble').map((e) => `${e.problem}:${e.state}`),
    ['inference-offline:end', 'camera-offline:begin'],
  );
  h.frames(1, []);
  h.events.length = 0;
  h.tick({ camera: 'offline' });
  assert.deepEqual(h.eventsOf('trouble'), [], 'detections do not overrule capture saying the camera is offline');
  h.tick({ camera: 'online' });
  assert.deepEqual(
    h.eventsOf('trouble').map((e) => `${e.problem}:${e.state}`),
    ['camera-offline:end'],
  );

  h.events.length = 0;
  h.clock.advance(10_000);
  h.frames(1, []);
  h.tick();
  assert.deepEqual(
    h.eventsOf('trouble').map((e) => `${e.problem}:${e.state}`),
    ['scale-offline:begin'],
    '30 s without a reading',
  );
  assert.equal(h.eventsOf('trouble')[0]!.locale, 'en-US');
  h.lane.onWeight(0, undefined);
  h.tick();
  assert.deepEqual(
    h.eventsOf('trouble').map((e) => `${e.problem}:${e.state}`),
    ['scale-offline:begin', 'scale-offline:end'],
  );
});

test('a lane without a scale never reports the scale offline', (t) => {
  const h = laneHarness(t, noScale);
  h.clock.advance(60_000);
  h.frames(1, []);
  h.tick();
  assert.deepEqual(h.eventsOf('trouble'), []);
});

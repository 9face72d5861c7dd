/**
 * What a lane holds per label and what it writes to disk are bounded, expire by the service's own
 * clock, and always load again (issue 9, defects 5 and 7). Real broker, real SQLite file.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test, type TestContext } from 'node:test';
import { indexCatalog } from '@sightline/catalog';
import { channels, type Basket, type Catalog } from '@sightline/schemas';
import { startTestBroker, waitUntil } from '@sightline/kit/testing';
import type { CheckoutConfig } from '../src/config.ts';
import {
  Clock,
  connectPeer,
  detections,
  laneConfig,
  laneHarness,
  metricValue,
  sampleCatalog,
  tempDir,
  testConfig,
  startApp,
  type Obj,
  type Peer,
} from './helpers.ts';

/** Frames `stepMs` apart on the service clock; `capturedAt` is the clock unless pinned. */
async function sendFrames(peer: Peer, clock: Clock, count: number, objects: Obj[], options: { capturedAt?: number; stepMs?: number } = {}): Promise<void> {
  for (let i = 0; i < count; i++) {
    await peer.bus.publish(channels.detections, { camera: 'demo' }, detections('demo', options.capturedAt ?? clock.t, objects));
    clock.advance(options.stepMs ?? 200);
  }
}

function storedRow(dataDir: string): { basket: Basket; memory: { scanned: string[]; accountedGrams: number } } {
  const db = new DatabaseSync(path.join(dataDir, 'checkout.sqlite'));
  try {
    const row = db.prepare('SELECT basket, memory FROM lanes WHERE lane = ?').get('lane-1') as { basket: string; memory: string };
    return { basket: JSON.parse(row.basket) as Basket, memory: JSON.parse(row.memory) as { scanned: string[]; accountedGrams: number } };
  } finally {
    db.close();
  }
}

const ghosts = (batch: number, count = 600): Obj[] => Array.from({ length: count }, (_, i) => ({ label: `ghost-${batch}-${i}`, score: 0.6 }));

async function setup(t: TestContext, configure: (config: CheckoutConfig) => CheckoutConfig = (c) => c) {
  const broker = await startTestBroker(t);
  const clock = new Clock();
  const dataDir = tempDir(t);
  const config = configure(testConfig(dataDir, broker.url, { lanes: [laneConfig({ scale: false })] }));
  const peer = await connectPeer(t, broker.url);
  const scans = await peer.collect(channels.scan);
  const events = await peer.collect(channels.laneEvent);
  const app = await startApp(t, config, { now: clock.now });
  return { clock, dataDir, config, peer, scans, events, app };
}

test('2 x 3 frames of 600 made-up labels: the lane holds at most its bound, and after a restart the basket is intact', async (t) => {
  const { app, peer, clock, scans, dataDir, config } = await setup(t);
  await sendFrames(peer, clock, 3, [{ label: 'bottle' }]);
  await waitUntil('the bottle is scanned', () => scans.length === 1);
  // All within CLEAR_MS, so nothing of the flood has left the zone yet.
  for (const batch of [1, 2]) await sendFrames(peer, clock, 3, ghosts(batch), { stepMs: 0 });
  await sendFrames(peer, clock, 3, [{ label: 'donut' }], { stepMs: 0 });
  await waitUntil('the donut after the flood is scanned', () => scans.length === 2, 10_000);
  const before = (await app.runtime.http.inject({ url: '/lanes/lane-1/basket' })).json() as Basket;
  assert.equal(before.count, 2);
  assert.equal((await app.runtime.http.inject({ url: '/healthz' })).statusCode, 200);
  const remembered = storedRow(dataDir).memory.scanned.length;
  await app.stop();

  const second = await startApp(t, config, { now: clock.now });
  const after = (await second.runtime.http.inject({ url: '/lanes/lane-1/basket' })).json() as Basket;
  assert.deepEqual(after, before, 'the same basket, not a new empty one');
  assert.equal(await metricValue(second.runtime.registry, 'sightline_checkout_unreadable_states_total'), 0);

  const limit = config.lanes[0]!.tuning.maxPresences;
  assert.ok(remembered <= limit, `${remembered} labels remembered on disk, bound ${limit}`);
  const map = { map: 'checkout-presences-lane-1' };
  assert.ok((await metricValue(app.runtime.registry, 'sightline_bounded_map_entries', map)) <= limit);
  assert.ok((await metricValue(app.runtime.registry, 'sightline_bounded_map_evictions_total', map)) >= 1200 - limit, 'every forgotten label is counted');
});

test('what is in view expires by the service clock, not by the capture time inside the message', async (t) => {
  const { peer, clock, scans, dataDir } = await setup(t);
  const pinned = clock.t - 60_000;
  await sendFrames(peer, clock, 3, [{ label: 'bottle' }, ...ghosts(1, 50)], { capturedAt: pinned });
  await waitUntil('the bottle is scanned', () => scans.length === 1);
  await waitUntil('what is in view is on disk', () => storedRow(dataDir).memory.scanned.length === 51);
  // Gone for 2 s of service time, while every message still claims the same capture time.
  await sendFrames(peer, clock, 10, [], { capturedAt: pinned });
  await waitUntil('forgotten on disk once gone longer than CLEAR_MS', () => storedRow(dataDir).memory.scanned.length === 0, 3000);
  await sendFrames(peer, clock, 3, [{ label: 'bottle' }], { capturedAt: pinned });
  await waitUntil('a bottle placed again is a new scan', () => scans.length === 2, 3000);
});

test('an unknown label that grows when lower-cased still loads after a restart', (t) => {
  const dataDir = tempDir(t);
  const clock = new Clock();
  const config = laneConfig({ scale: false });
  const first = laneHarness(t, config, { dataDir, clock });
  first.frames(3, [{ label: 'bottle' }]);
  // 'İ' (1 UTF-16 unit) lower-cases to 'i̇' (2 units): a 256-character label becomes 512.
  first.frames(3, [{ label: 'İ'.repeat(256) }]);
  assert.equal(first.eventsOf('not-recognised').length, 1);
  const basket = first.lane.basket;
  first.store.close();
  const second = laneHarness(t, config, { dataDir, clock });
  assert.deepEqual(second.lane.basket, basket);
  assert.equal(second.lane.status().unreadableState, null);
});

test('nothing is charged that the store could not load again: an item over the basket schema bound is refused', (t) => {
  const catalog = sampleCatalog().catalog;
  const gold: Catalog = {
    ...catalog,
    products: [
      ...catalog.products,
      {
        sku: 'GOLD-BAR',
        labels: ['gold bar'],
        name: Object.fromEntries(catalog.locales.map((l) => [l, 'Gold bar'])),
        price: { per: 'unit', minor: 100_000_000 },
        weight: { min: 900, max: 1100 },
      },
    ],
  };
  const dataDir = tempDir(t);
  const clock = new Clock();
  const config = laneConfig({ scale: false });
  const first = laneHarness(t, config, { dataDir, clock, catalog: indexCatalog(gold) });
  first.frames(3, [{ label: 'bottle' }]);
  // 101 bars at 1,000,000.00 each: 10,100,000,000 minor units, past the schema's 10,000,000,000.
  first.frames(
    3,
    Array.from({ length: 101 }, () => ({ label: 'gold bar' })),
  );
  assert.equal(first.scans.length, 1, 'the bars are not charged');
  assert.equal(first.eventsOf('not-recognised').length, 1, 'the shopper hears it was not charged');
  const basket = first.lane.basket;
  first.store.close();
  const second = laneHarness(t, config, { dataDir, clock, catalog: indexCatalog(gold) });
  assert.deepEqual(second.lane.basket, basket);
});

test('an unreadable stored row is kept aside with its reason, reported, and the lane starts a new basket', async (t) => {
  const { app, peer, clock, scans, dataDir, config } = await setup(t);
  await sendFrames(peer, clock, 3, [{ label: 'bottle' }]);
  await waitUntil('scanned', () => scans.length === 1);
  await app.stop();

  const db = new DatabaseSync(path.join(dataDir, 'checkout.sqlite'));
  const original = db.prepare('SELECT basket, memory FROM lanes WHERE lane = ?').get('lane-1') as { basket: string; memory: string };
  db.prepare('UPDATE lanes SET memory = ? WHERE lane = ?').run('{"scanned":"not a list","accountedGrams":0}', 'lane-1');
  db.close();

  const second = await startApp(t, config, { now: clock.now });
  const fresh = (await second.runtime.http.inject({ url: '/lanes/lane-1/basket' })).json() as Basket;
  assert.notEqual(fresh.id, scans[0]!.basket.id, 'a new basket id');
  assert.equal(fresh.count, 0);
  assert.equal(await metricValue(second.runtime.registry, 'sightline_checkout_unreadable_states_total', { lane: 'lane-1' }), 1);
  const lane = (
    (await second.runtime.http.inject({ url: '/lanes' })).json() as {
      lanes: Array<{ id: string; unreadableState: { quarantineId: number; reason: string } | null }>;
    }
  ).lanes[0]!;
  assert.match(lane.unreadableState?.reason ?? '', /scanned/);
  await second.stop();

  // A second restart reads the new basket and leaves the quarantined row alone.
  const third = await startApp(t, config, { now: clock.now });
  assert.equal(((await third.runtime.http.inject({ url: '/lanes/lane-1/basket' })).json() as Basket).id, fresh.id);
  assert.equal(await metricValue(third.runtime.registry, 'sightline_checkout_unreadable_states_total'), 0);
  await third.stop();
  const check = new DatabaseSync(path.join(dataDir, 'checkout.sqlite'));
  const quarantined = check.prepare('SELECT id, lane, basket, memory, reason FROM quarantined_lanes').all() as Array<{
    id: number;
    lane: string;
    basket: string;
    memory: string;
    reason: string;
  }>;
  check.close();
  assert.equal(quarantined.length, 1);
  assert.equal(quarantined[0]!.id, lane.unreadableState!.quarantineId);
  assert.equal(quarantined[0]!.lane, 'lane-1');
  assert.equal(quarantined[0]!.basket, original.basket, 'the old basket is kept byte for byte');
  assert.equal(quarantined[0]!.memory, '{"scanned":"not a list","accountedGrams":0}');
  assert.match(quarantined[0]!.reason, /scanned/);
});

import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { channels, type Basket, type BasketResult, type LaneEvent, type Scan } from '@sightline/schemas';
import { sleep, startTestBroker, waitUntil } from '@sightline/kit/testing';
import type { CheckoutConfig } from '../src/config.ts';
import { Clock, connectPeer, detections, laneConfig, metricValue, tempDir, testConfig, startApp, type Obj, type Peer } from './helpers.ts';

async function sendFrames(peer: Peer, clock: Clock, count: number, objects: Obj[], camera = 'demo'): Promise<void> {
  for (let i = 0; i < count; i++) {
    await peer.bus.publish(channels.detections, { camera }, detections(camera, clock.t, objects));
    clock.advance(200);
  }
}

async function setup(t: TestContext, configure: (config: CheckoutConfig) => CheckoutConfig = (c) => c) {
  const broker = await startTestBroker(t);
  const clock = new Clock();
  const dataDir = tempDir(t);
  const config = configure(testConfig(dataDir, broker.url));
  const peer = await connectPeer(t, broker.url);
  const scans = await peer.collect(channels.scan);
  const events = await peer.collect(channels.laneEvent);
  const baskets = await peer.collect(channels.basket);
  const results = await peer.collect(channels.basketResult);
  const app = await startApp(t, config, { now: clock.now });
  return { broker, clock, dataDir, config, peer, scans, events, baskets, results, app };
}

test('detections and scale readings over MQTT become a scan, a retained basket and nothing else', async (t) => {
  const { app, peer, clock, scans, baskets, broker } = await setup(t);
  await waitUntil('the empty basket is published at start', () => baskets.length >= 1);
  await sendFrames(peer, clock, 3, [
    { label: 'orange', score: 0.45 },
    { label: 'person', score: 0.9 },
  ]);
  await peer.bus.publish(channels.weight, { lane: 'lane-1' }, { grams: 182.5, stable: true });
  await waitUntil('the scan arrives', () => scans.length === 1);
  const scan: Scan = scans[0]!;
  assert.equal(scan.product.sku, 'PRODUCE-ORANGE');
  assert.equal(scan.priceMinor, 60);
  assert.equal(scan.camera, 'demo');
  await waitUntil('the basket is republished', () => baskets.some((b) => b.count === 1));
  const retained = JSON.parse(broker.retained.get('sightline/lanes/lane-1/basket')!) as Basket;
  assert.equal(retained.totalMinor, 60);
  assert.equal(retained.items[0]!.weightGrams, 182.5);
  assert.equal(await metricValue(app.runtime.registry, 'sightline_checkout_scans_total', { pricing: 'kg' }), 1);
});

test('basket commands over MQTT are answered on the result topic and announced', async (t) => {
  const { peer, clock, scans, events, results } = await setup(t, (c) => ({ ...c, lanes: [laneConfig({ scale: false })] }));
  await peer.bus.publish(channels.basketCommand, { lane: 'lane-1' }, { action: 'remove-last', transaction: 'tx-1' });
  await waitUntil('an answer', () => results.length === 1);
  assert.deepEqual(results[0], {
    status: 'error',
    action: 'remove-last',
    transaction: 'tx-1',
    error: 'the basket of lane lane-1 is empty: there is nothing to remove',
  });

  await peer.bus.publish(channels.basketCommand, { lane: 'lane-9' }, { action: 'finish', transaction: 'tx-2' });
  await waitUntil('an answer', () => results.length === 2);
  assert.equal(results[1]!.status, 'error');
  assert.match((results[1] as Extract<BasketResult, { status: 'error' }>).error, /unknown lane "lane-9"/);

  await peer.raw('sightline/lanes/lane-1/basket/set', '{"action":"explode"}');
  await waitUntil('an answer to the invalid command', () => results.length === 3);
  assert.equal(results[2]!.status, 'error');
  assert.match((results[2] as Extract<BasketResult, { status: 'error' }>).error, /invalid command/);

  await sendFrames(peer, clock, 3, [{ label: 'donut' }]);
  await waitUntil('a scan', () => scans.length === 1);
  await peer.bus.publish(channels.basketCommand, { lane: 'lane-1' }, { action: 'finish', transaction: 'tx-3' });
  await waitUntil('the total', () => events.some((e) => e.type === 'total'));
  await waitUntil('an answer', () => results.length === 4);
  assert.deepEqual(results[3], { status: 'ok', action: 'finish', transaction: 'tx-3', basket: { id: scans[0]!.basket.id, count: 1, totalMinor: 149 } });
  const total = events.find((e): e is Extract<LaneEvent, { type: 'total' }> => e.type === 'total')!;
  assert.equal(total.basket.totalMinor, 149);
});

test('HTTP: lanes, basket, and commands with clear errors for bad ids and bodies', async (t) => {
  const { app, peer, clock, scans, events } = await setup(t, (c) => ({
    ...c,
    lanes: [laneConfig({ scale: false }), laneConfig({ id: 'lane-2', camera: 'cam-2', locale: 'es-ES', scale: false })],
  }));
  const http = app.runtime.http;
  const lanes = await http.inject({ method: 'GET', url: '/lanes' });
  assert.equal(lanes.statusCode, 200);
  const body = lanes.json() as { lanes: Array<{ id: string; camera: string; state: string; trouble: string[]; basket: { count: number } }> };
  assert.deepEqual(
    body.lanes.map((l) => [l.id, l.camera, l.state, l.basket.count]),
    [
      ['lane-1', 'demo', 'idle', 0],
      ['lane-2', 'cam-2', 'idle', 0],
    ],
  );

  await sendFrames(peer, clock, 3, [{ label: 'cake' }], 'cam-2');
  await waitUntil('a scan on lane-2', () => scans.length === 1);
  assert.equal(scans[0]!.lane, 'lane-2');
  assert.equal(scans[0]!.product.name, 'Tarta de chocolate');
  await sleep(100);
  assert.equal(scans.length, 1, 'lane-1 watches another camera: it sees nothing');
  const basket = await http.inject({ method: 'GET', url: '/lanes/lane-2/basket' });
  assert.equal((basket.json() as Basket).totalMinor, 1299);

  const bad = await http.inject({ method: 'GET', url: '/lanes/..%2Fetc/basket' });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.json().error, /bad lane id/);
  const unknown = await http.inject({ method: 'GET', url: '/lanes/lane-7/basket' });
  assert.equal(unknown.statusCode, 404);
  assert.match(unknown.json().error, /unknown lane "lane-7"/);

  const empty = await http.inject({ method: 'POST', url: '/lanes/lane-1/basket', payload: { action: 'remove-last' } });
  assert.equal(empty.statusCode, 409);
  assert.match(empty.json().error, /empty/);
  const nonsense = await http.inject({ method: 'POST', url: '/lanes/lane-1/basket', payload: { action: 'pay-double' } });
  assert.equal(nonsense.statusCode, 400);
  assert.match(nonsense.json().error, /bad command/);
  const extra = await http.inject({ method: 'POST', url: '/lanes/lane-1/basket', payload: { action: 'clear', price: 0 } });
  assert.equal(extra.statusCode, 400);
  const notJson = await http.inject({ method: 'POST', url: '/lanes/lane-1/basket', headers: { 'content-type': 'application/json' }, payload: '{"action":' });
  assert.equal(notJson.statusCode, 400);
  const huge = await http.inject({ method: 'POST', url: '/lanes/lane-1/basket', payload: { action: 'clear', transaction: 'x'.repeat(10_000) } });
  assert.equal(huge.statusCode, 413);

  const removed = await http.inject({ method: 'POST', url: '/lanes/lane-2/basket', payload: { action: 'remove-last', transaction: 'h-1' } });
  assert.equal(removed.statusCode, 200);
  assert.deepEqual(removed.json(), { status: 'ok', action: 'remove-last', transaction: 'h-1', basket: { id: scans[0]!.basket.id, count: 0, totalMinor: 0 } });
  await waitUntil('the removal is announced', () => events.some((e) => e.type === 'removed'));
  assert.equal(events.find((e) => e.type === 'removed')!.locale, 'es-ES');
  assert.equal(await metricValue(app.runtime.registry, 'sightline_checkout_commands_total', { via: 'http', result: 'ok' }), 1);
  assert.equal(await metricValue(app.runtime.registry, 'sightline_checkout_commands_total', { via: 'http', result: 'error' }), 1);
});

test('hostile MQTT payloads are dropped and counted; the service keeps working', async (t) => {
  const { app, peer, clock, scans } = await setup(t, (c) => ({ ...c, lanes: [laneConfig({ tuning: { placeWaitMs: 0 } })] }));
  const hostile: Array<[string, string | Buffer]> = [
    ['sightline/lanes/lane-1/weight', ''],
    ['sightline/lanes/lane-1/weight', 'not json'],
    ['sightline/lanes/lane-1/weight', '{"grams":-5}'],
    ['sightline/lanes/lane-1/weight', '{"grams":"NaN"}'],
    ['sightline/lanes/lane-1/weight', '{"grams":1e999}'],
    ['sightline/lanes/lane-1/weight', '{"grams":null}'],
    ['sightline/lanes/lane-1/weight', '{"grams":1000000000}'],
    ['sightline/lanes/lane-1/weight', '{"grams":100,"__proto__":{"admin":true}}'],
    ['sightline/lanes/lane-1/weight', JSON.stringify({ grams: 100, pad: 'x'.repeat(2000) })],
    ['sightline/lanes/lane-1/weight', Buffer.from([0xff, 0xfe, 0x00, 0x01])],
    ['sightline/cameras/demo/detections', '{"camera":"demo"}'],
    ['sightline/cameras/demo/detections', Buffer.alloc(300 * 1024, 0x7b)],
    ['sightline/lanes/lane-1/basket/set', '[]'],
  ];
  for (const [topic, payload] of hostile) await peer.raw(topic, payload);
  await peer.bus.publish(channels.weight, { lane: 'lane-404' }, { grams: 12 });
  await waitUntil(
    'every hostile payload counted',
    async () => (await metricValue(app.runtime.registry, 'sightline_bus_messages_dropped_total')) >= hostile.length,
  );
  assert.equal(await metricValue(app.runtime.registry, 'sightline_bus_messages_dropped_total', { channel: 'weight' }), 10);
  assert.equal(await metricValue(app.runtime.registry, 'sightline_bus_messages_dropped_total', { reason: 'oversize' }), 2);
  await waitUntil(
    'the unknown lane counted',
    async () => (await metricValue(app.runtime.registry, 'sightline_checkout_inputs_dropped_total', { reason: 'unknown-lane' })) === 1,
  );

  await peer.bus.publish(channels.weight, { lane: 'lane-1' }, { grams: 530, stable: true });
  await sendFrames(peer, clock, 3, [{ label: 'bottle' }]);
  await waitUntil('still scanning', () => scans.length === 1);
  assert.equal(scans[0]!.weightGrams, 530);
  const ready = await app.runtime.http.inject({ method: 'GET', url: '/readyz' });
  assert.equal(ready.statusCode, 200);
});

test('restart: a new app on the same data dir has the basket intact and republishes it', async (t) => {
  const { app, peer, clock, scans, baskets, config } = await setup(t, (c) => ({ ...c, lanes: [laneConfig({ scale: false })] }));
  await sendFrames(peer, clock, 3, [{ label: 'sandwich' }, { label: 'hot dog', at: [0.2, 0.2] }]);
  await waitUntil('two scans', () => scans.length === 2);
  const before = (await app.runtime.http.inject({ method: 'GET', url: '/lanes/lane-1/basket' })).json() as Basket;
  assert.equal(before.totalMinor, 599 + 349);
  await app.stop();

  const published = baskets.length;
  const second = await startApp(t, config, { now: clock.now });
  const after = (await second.runtime.http.inject({ method: 'GET', url: '/lanes/lane-1/basket' })).json() as Basket;
  assert.deepEqual(after, before);
  await waitUntil('the basket is republished', () => baskets.length > published);
  assert.deepEqual(baskets.at(-1), before);
  // the sandwich and hot dog are still in view: the restart does not charge them again
  await sendFrames(peer, clock, 5, [{ label: 'sandwich' }, { label: 'hot dog', at: [0.2, 0.2] }]);
  await sleep(200);
  assert.equal(scans.length, 2);
});

test('camera status and inference availability become lane trouble, begin and end; capture offline takes the camera with it until a fresh status', async (t) => {
  const { peer, events } = await setup(t);
  const trouble = () => events.filter((e): e is Extract<LaneEvent, { type: 'trouble' }> => e.type === 'trouble').map((e) => `${e.problem}:${e.state}`);
  const status = (state: 'online' | 'offline') =>
    peer.bus.publish(
      channels.cameraStatus,
      { camera: 'demo' },
      { camera: 'demo', state, ...(state === 'offline' ? { reason: 'stalled' } : {}), fps: 5, width: 640, height: 480, since: 1, at: 2 },
    );
  await status('online');
  await peer.bus.publish(channels.availability, { service: 'inference' }, 'offline');
  await waitUntil('inference trouble', () => trouble().includes('inference-offline:begin'));
  await status('offline');
  await waitUntil('camera trouble', () => trouble().includes('camera-offline:begin'));
  await peer.bus.publish(channels.availability, { service: 'inference' }, 'online');
  await status('online');
  await waitUntil('both end', () => trouble().includes('inference-offline:end') && trouble().includes('camera-offline:end'));
  assert.deepEqual(trouble(), ['inference-offline:begin', 'camera-offline:begin', 'inference-offline:end', 'camera-offline:end']);

  // capture vanishes (its last will): the camera is offline whatever its retained status says.
  await peer.bus.publish(channels.availability, { service: 'capture' }, 'offline');
  await waitUntil('camera trouble again', () => trouble().length === 5);
  await status('online');
  await peer.bus.publish(channels.availability, { service: 'capture' }, 'online');
  await sleep(300);
  assert.deepEqual(trouble().slice(4), ['camera-offline:begin'], 'a stale status, and capture back, are not the camera back');
  await status('online');
  await waitUntil('camera back', () => trouble().length === 6);
  assert.deepEqual(trouble().slice(4), ['camera-offline:begin', 'camera-offline:end']);
  await sleep(100);
  assert.equal(trouble().length, 6, 'each change announced once');
});

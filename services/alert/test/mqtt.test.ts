import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { startTestBroker, waitUntil } from '@sightline/kit/testing';
import { channels } from '@sightline/schemas';
import { createAlertApp, type AlertApp } from '../src/app.ts';
import type { AlertConfig } from '../src/config.ts';
import { makeConfig, notRecognised, tempDir, testClient, testLogger, weightMismatch } from './helpers.ts';

async function startApp(t: TestContext, config: AlertConfig): Promise<AlertApp> {
  const app = createAlertApp(config, testLogger());
  let stopped = false;
  t.after(() => (stopped ? undefined : app.stop()));
  const stop = app.stop.bind(app);
  Object.assign(app, { stop: async () => ((stopped = true), stop()) });
  await app.start();
  await waitUntil('the alert service is ready', async () => (await app.http.inject({ method: 'GET', url: '/readyz' })).statusCode === 200);
  return app;
}

test('lane events over MQTT raise alerts, announced on sightline/alerts after they are stored; hostile payloads are counted', async (t) => {
  const broker = await startTestBroker(t);
  const defaults = makeConfig(tempDir(t), { mqtt: { url: broker.url, topicPrefix: 'sightline' } });
  // No grace period here: the offline service is alerted at once (the engine tests cover the grace).
  const config = { ...defaults, rules: defaults.rules.map((rule) => (rule.type === 'service-offline' ? { ...rule, graceSeconds: 0 } : rule)) };
  const app = await startApp(t, config);
  const { client, bus, events } = await testClient(t, broker.url);

  const hostile: Array<Buffer | string> = [
    '',
    'not json',
    '{"type":"weight-mismatch"}',
    '[]',
    'null',
    '{"__proto__":{"polluted":true}}',
    Buffer.alloc(300 * 1024, 'x'),
    Buffer.from([0xff, 0xfe, 0x00]),
  ];
  for (const payload of hostile) await client.publishAsync('sightline/lanes/lane-1/event', payload, { qos: 1 });
  await client.publishAsync('sightline/lanes/lane-1/scan', '{"confidence": "high"}', { qos: 1 });

  await bus.publish(channels.laneEvent, { lane: 'lane-1' }, weightMismatch('lane-1'));
  await waitUntil('the alert is announced', () => events.length === 1);
  const [event] = events;
  assert.equal(event!.type, 'new');
  assert.equal(event!.alert.type, 'weight-mismatch');
  assert.equal(app.store.get(event!.alert.id)?.id, event!.alert.id);
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);

  await bus.publish(channels.laneEvent, { lane: 'lane-1' }, weightMismatch('lane-1'));
  await waitUntil('the repeat is announced as an update', () => events.length === 2, 3000);
  assert.equal(events[1]!.type, 'update');
  assert.equal(events[1]!.alert.id, event!.alert.id);
  assert.equal(events[1]!.alert.count, 2);

  await bus.publish(channels.availability, { service: 'checkout' }, 'offline', { retain: false });
  await waitUntil('service offline is announced', () => events.some((e) => e.alert.type === 'service-offline'));

  const metrics = (await app.http.inject({ method: 'GET', url: '/metrics' })).body;
  const dropped = [...metrics.matchAll(/sightline_bus_messages_dropped_total\{channel="(lane-event|scan)",reason="[a-z-]+",service="alert"\} (\d+)/g)].reduce(
    (n, m) => n + Number(m[2]),
    0,
  );
  assert.equal(
    dropped,
    hostile.length + 1,
    metrics
      .split('\n')
      .filter((l) => l.includes('dropped'))
      .join('\n'),
  );
  const listed = await app.http.inject({ method: 'GET', url: '/alerts' });
  assert.equal(listed.json().alerts.length, 2);
});

test('restart: stored alerts survive, and events published while the service is down arrive after it restarts (persistent session)', async (t) => {
  const broker = await startTestBroker(t);
  const config = makeConfig(tempDir(t), { mqtt: { url: broker.url, topicPrefix: 'sightline' } });
  const first = await startApp(t, config);
  const { bus, events } = await testClient(t, broker.url);
  await bus.publish(channels.laneEvent, { lane: 'lane-1' }, weightMismatch('lane-1'));
  await waitUntil('the first alert is announced', () => events.length === 1);
  const id = events[0]!.alert.id;
  await first.stop();

  for (let i = 0; i < 5; i++) await bus.publish(channels.laneEvent, { lane: `down-${i}` }, notRecognised(`down-${i}`, 'kite'));
  await bus.publish(channels.laneEvent, { lane: 'lane-1' }, weightMismatch('lane-1'));

  const second = await startApp(t, config);
  await waitUntil('the queued events are evaluated', () => second.store.count() === 6, 5000);
  const lanes = second.engine
    .openAlerts()
    .map((a) => a.lane)
    .sort();
  assert.deepEqual(lanes, ['down-0', 'down-1', 'down-2', 'down-3', 'down-4', 'lane-1']);
  const kept = second.store.get(id);
  assert.equal(kept?.state, 'active');
  await waitUntil('the repeat aggregated into the stored alert', () => second.store.get(id)?.count === 2, 3000);
});

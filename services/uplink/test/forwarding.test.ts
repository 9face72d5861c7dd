import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { channels, createTopics, type Channel } from '@sightline/schemas';
import {
  cloudReader,
  localClient,
  metric,
  mosquittoSub,
  PREFIX,
  SITE_PASSWORD,
  sleep,
  startTestBroker,
  startUplink,
  startUpstream,
  tempDir,
  uplinkEnv,
  waitUntil,
} from './helpers.ts';

const local = createTopics('sightline');
const upstreamTopics = createTopics(PREFIX);

/** Publishes on the local broker as a service would: the channel's codec, QoS and retain. */
async function publish<T, P extends string>(client: MqttClient, channel: Channel<T, P>, params: Record<P, string>, value: T): Promise<Buffer> {
  const payload = channel.codec.encode(value);
  await client.publishAsync(local.topic(channel, params), payload, { qos: channel.qos, retain: channel.retain });
  return payload;
}

function scan(n: number) {
  return { ...channels.scan.example, id: `scan-${n}`, seq: n };
}

test('the default channels arrive upstream under the prefix with payload and retain intact; frames and invalid messages stay home', async (t) => {
  const broker = await startTestBroker(t);
  const upstream = await startUpstream(t);
  const reader = await cloudReader(t, upstream);
  const app = await startUplink(t, uplinkEnv(upstream, broker.url, tempDir(t)));
  await waitUntil('connected upstream', () => app.state().upstream.state === 'connected', 10_000);
  const services = await localClient(t, broker.url);

  // A frame first: had it been forwarded, it would arrive before everything after it.
  await publish(services, channels.frame, { camera: 'demo' }, channels.frame.example);
  await services.publishAsync(local.topic(channels.scan, { lane: 'lane-1' }), Buffer.from('{"not":"a scan"}'), { qos: 1 });
  const sent = new Map<string, { payload: Buffer; retain: boolean }>();
  const put = async <T, P extends string>(channel: Channel<T, P>, params: Record<P, string>, value: T) =>
    sent.set(upstreamTopics.topic(channel, params), { payload: await publish(services, channel, params, value), retain: channel.retain });
  await put(channels.cameraStatus, { camera: 'demo' }, channels.cameraStatus.example);
  await put(channels.availability, { service: 'capture' }, 'online');
  await put(channels.detections, { camera: 'demo' }, channels.detections.example);
  await put(channels.basket, { lane: 'lane-1' }, channels.basket.example);
  await put(channels.laneEvent, { lane: 'lane-1' }, channels.laneEvent.example);
  await put(channels.scan, { lane: 'lane-1' }, channels.scan.example);
  await put(channels.alerts, {}, channels.alerts.example);

  const last = upstreamTopics.topic(channels.alerts, {});
  await waitUntil('the alert arrives upstream', () => reader.messages.some((m) => m.topic === last), 10_000);
  const live = reader.messages.filter((m) => !m.topic.endsWith('/services/uplink/availability'));
  assert.deepEqual(
    live.map((m) => m.topic),
    [...sent.keys()],
    'every default channel arrives, in order, and nothing else (no frame, no invalid scan)',
  );
  for (const m of live) assert.ok(m.payload.equals(sent.get(m.topic)!.payload), `${m.topic}: payload changed on the way`);

  // A late subscriber gets what was retained upstream, with the retain flag: Debian's own client says so.
  const retained = await mosquittoSub(upstream, `${PREFIX}/#`, 4, 3);
  assert.deepEqual(
    retained.map((m) => `${m.retain ? 'retained' : 'live'} ${m.topic}`).sort(),
    [
      `retained ${upstreamTopics.topic(channels.availability, { service: 'capture' })}`,
      `retained ${upstreamTopics.topic(channels.availability, { service: 'uplink' })}`,
      `retained ${upstreamTopics.topic(channels.basket, { lane: 'lane-1' })}`,
      `retained ${upstreamTopics.topic(channels.cameraStatus, { camera: 'demo' })}`,
    ].sort(),
  );
  for (const m of retained.filter((r) => sent.has(r.topic))) assert.ok(m.payload.equals(sent.get(m.topic)!.payload), `${m.topic}: retained payload changed`);
  assert.equal(retained.find((m) => m.topic.endsWith('/services/uplink/availability'))!.payload.toString(), 'online');

  assert.equal(app.state().forwarded, 7);
  assert.equal(await metric(app, 'sightline_uplink_messages_forwarded_total'), 7);
  assert.equal(await metric(app, 'sightline_uplink_messages_queued_total', 'channel="frame"'), Number.NaN, 'a frame was taken in');
  assert.equal(await metric(app, 'sightline_bus_messages_dropped_total', 'channel="scan",reason="invalid"'), 1);
  assert.doesNotMatch(app.logs.text(), new RegExp(SITE_PASSWORD), 'the upstream password reached the log');

  // The uplink's own retained state on the local bus says what it did.
  const state = broker.retained.get(local.topic(channels.uplinkState, {}));
  await waitUntil(
    'the state counts the forwarded messages',
    () => JSON.parse(broker.retained.get(local.topic(channels.uplinkState, {})) ?? '{}').forwarded === 7,
    5000,
  );
  assert.ok(state !== undefined);
  const published = channels.uplinkState.codec.decode(Buffer.from(broker.retained.get(local.topic(channels.uplinkState, {}))!));
  assert.equal(published.upstream.state, 'connected');
  assert.equal(published.upstream.url, upstream.url);
  assert.equal(published.queue.messages, 0);
});

test('frames go upstream only when listed', async (t) => {
  const broker = await startTestBroker(t);
  const upstream = await startUpstream(t);
  const reader = await cloudReader(t, upstream);
  const app = await startUplink(t, uplinkEnv(upstream, broker.url, tempDir(t), { SIGHTLINE_UPLINK_CHANNELS: 'frame' }));
  await waitUntil('connected upstream', () => app.state().upstream.state === 'connected', 10_000);
  const services = await localClient(t, broker.url);
  const jpeg = await publish(services, channels.frame, { camera: 'demo' }, channels.frame.example);
  await publish(services, channels.scan, { lane: 'lane-1' }, scan(1));
  const topic = upstreamTopics.topic(channels.frame, { camera: 'demo' });
  await waitUntil('the frame arrives', () => reader.messages.some((m) => m.topic === topic), 10_000);
  assert.ok(reader.messages.find((m) => m.topic === topic)!.payload.equals(jpeg));
  await sleep(200);
  assert.equal(reader.messages.filter((m) => m.topic.includes('/lanes/')).length, 0, 'an unlisted channel was forwarded');
});

test('upstream down: messages wait on disk; upstream back: all delivered, in order', async (t) => {
  const broker = await startTestBroker(t);
  const upstream = await startUpstream(t);
  const reader = await cloudReader(t, upstream, `${PREFIX}/lanes/#`);
  const dataDir = tempDir(t);
  const app = await startUplink(t, uplinkEnv(upstream, broker.url, dataDir));
  await waitUntil('connected upstream', () => app.state().upstream.state === 'connected', 10_000);
  await upstream.stop();
  await waitUntil('the uplink sees the upstream gone', () => app.state().upstream.state === 'unreachable', 10_000);

  const services = await localClient(t, broker.url);
  const count = 300;
  for (let n = 0; n < count; n++) await publish(services, channels.scan, { lane: 'lane-1' }, scan(n));
  await waitUntil('all queued', () => app.queue.messages === count, 10_000);
  const queueDir = path.join(dataDir, 'uplink', 'queue');
  const onDisk = readdirSync(queueDir)
    .filter((name) => name.endsWith('.seg'))
    .reduce((sum, name) => sum + statSync(path.join(queueDir, name)).size, 0);
  assert.ok(onDisk >= app.queue.bytes && app.queue.bytes > count * 300, `queue on disk: ${onDisk} bytes for ${app.queue.bytes} queued`);
  assert.equal((await fetch(`http://127.0.0.1:${app.runtime.httpPort()}/readyz`)).status, 200, 'an absent upstream is what the queue is for');

  const began = performance.now();
  await upstream.start();
  await waitUntil('all delivered', () => reader.messages.length >= count, 20_000);
  const seconds = (performance.now() - began) / 1000;
  assert.deepEqual(
    reader.messages.map((m) => JSON.parse(m.payload.toString()).seq),
    Array.from({ length: count }, (_, n) => n),
  );
  await waitUntil('the queue empties', () => app.queue.messages === 0, 5000);
  assert.equal(app.state().forwarded, count);
  t.diagnostic(`${count} queued scans delivered ${seconds.toFixed(2)} s after the upstream came back (reconnect included)`);
});

test('a queue over its limit drops the oldest and counts them; the rest arrive in order', async (t) => {
  const broker = await startTestBroker(t);
  const upstream = await startUpstream(t);
  const reader = await cloudReader(t, upstream, `${PREFIX}/lanes/#`);
  await upstream.stop();
  const app = await startUplink(t, uplinkEnv(upstream, broker.url, tempDir(t), { SIGHTLINE_UPLINK_QUEUE_MAX_MESSAGES: '50' }));
  const services = await localClient(t, broker.url);
  for (let n = 0; n < 80; n++) await publish(services, channels.scan, { lane: 'lane-1' }, scan(n));
  await waitUntil('80 taken in', async () => (await metric(app, 'sightline_uplink_messages_queued_total', 'channel="scan"')) === 80, 10_000);
  assert.equal(app.queue.messages, 50);
  assert.equal(app.state().dropped.overflow, 30);
  assert.equal(await metric(app, 'sightline_uplink_messages_dropped_total', 'reason="overflow"'), 30);
  assert.match(app.logs.text(), /queue full: oldest messages dropped/);

  await upstream.start();
  await waitUntil('the 50 kept are delivered', () => reader.messages.length >= 50, 20_000);
  await sleep(200);
  assert.deepEqual(
    reader.messages.map((m) => JSON.parse(m.payload.toString()).seq),
    Array.from({ length: 50 }, (_, n) => n + 30),
  );
});

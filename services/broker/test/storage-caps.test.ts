import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { createBrokerApp, type BrokerApp } from '../src/app.ts';
import { brokerConfig, type BrokerConfig } from '../src/config.ts';
import { anonymousWritesFile, collect, connectClient, metric, mqttUrl, openBroker, quietLogger, sleep, tempDir, type Received } from './helpers.ts';

/** Subscribes a fresh client and returns the retained messages it is sent. */
async function retainedNow(t: TestContext, app: BrokerApp, filter = 'sightline/#'): Promise<Map<string, string>> {
  const client = await connectClient(t, mqttUrl(app));
  const inbox = collect(client);
  await client.subscribeAsync([filter, 'sightline/zz-marker'], { qos: 1 });
  await client.publishAsync('sightline/zz-marker', 'marker', { qos: 1 });
  await inbox.next((m) => m.topic === 'sightline/zz-marker');
  // Retained messages are sent after the SUBACK, alongside the marker: give them a moment.
  await sleep(300);
  await client.endAsync();
  return new Map(inbox.filter((m) => m.retain).map((m) => [m.topic, m.payload.toString()]));
}

test('retained messages are capped in count: a new retained topic is refused (still delivered), existing ones are updated, none evicted', async (t) => {
  // The broker's own availability is the first retained message.
  const app = await openBroker(t, { maxRetainedMessages: 3 });
  const live = await connectClient(t, mqttUrl(app));
  const liveInbox = collect(live);
  await live.subscribeAsync('sightline/#', { qos: 1 });
  const publisher = await connectClient(t, mqttUrl(app));
  await publisher.publishAsync('sightline/services/capture/availability', 'online', { qos: 1, retain: true });
  await publisher.publishAsync('sightline/lanes/1/basket', '{"n":1}', { qos: 1, retain: true });
  await publisher.publishAsync('sightline/lanes/2/basket', '{"n":2}', { qos: 1, retain: true });
  // A subscriber of the moment still gets the refused one.
  assert.equal((await liveInbox.next((m) => m.topic === 'sightline/lanes/2/basket')).payload.toString(), '{"n":2}');
  await publisher.publishAsync('sightline/services/capture/availability', 'offline', { qos: 1, retain: true });
  assert.deepEqual([...(await retainedNow(t, app))].sort(), [
    ['sightline/lanes/1/basket', '{"n":1}'],
    ['sightline/services/broker/availability', 'online'],
    ['sightline/services/capture/availability', 'offline'],
  ]);
  assert.equal(await metric(app, 'sightline_broker_retained_refused_total', 'reason="count"'), 1);
  // Clearing one (empty payload) makes room.
  await publisher.publishAsync('sightline/lanes/1/basket', '', { qos: 1, retain: true });
  await publisher.publishAsync('sightline/lanes/2/basket', '{"n":3}', { qos: 1, retain: true });
  assert.equal((await retainedNow(t, app)).get('sightline/lanes/2/basket'), '{"n":3}');
  assert.equal(await metric(app, 'sightline_broker_retained_messages'), 3);
});

test('retained messages are capped in bytes; small state is charged 1 KiB, so replacing it is never refused', async (t) => {
  const app = await openBroker(t, { maxRetainedBytes: 10 * 1024 });
  const publisher = await connectClient(t, mqttUrl(app));
  await publisher.publishAsync('sightline/services/capture/availability', 'online', { qos: 1, retain: true });
  await publisher.publishAsync('sightline/lanes/1/basket', Buffer.alloc(7 * 1024, 1), { qos: 1, retain: true });
  // broker availability 1 KiB + capture 1 KiB + basket 7 KiB + topic: a second 2 KiB basket does not fit.
  await publisher.publishAsync('sightline/lanes/2/basket', Buffer.alloc(2 * 1024, 2), { qos: 1, retain: true });
  // Growing the first basket does not fit either; the previous value stays.
  await publisher.publishAsync('sightline/lanes/1/basket', Buffer.alloc(8 * 1024, 3), { qos: 1, retain: true });
  await publisher.publishAsync('sightline/services/capture/availability', 'offline', { qos: 1, retain: true });
  const retained = await retainedNow(t, app);
  assert.equal(retained.get('sightline/services/capture/availability'), 'offline');
  assert.equal(retained.get('sightline/lanes/1/basket')?.length, 7 * 1024);
  assert.equal(retained.has('sightline/lanes/2/basket'), false);
  assert.equal(await metric(app, 'sightline_broker_retained_refused_total', 'reason="bytes"'), 2);
});

async function queueFor(t: TestContext, app: BrokerApp, clientId: string): Promise<void> {
  const durable = await connectClient(t, mqttUrl(app), { clientId, clean: false });
  await durable.subscribeAsync('sightline/queue/#', { qos: 1 });
  await durable.endAsync();
}

/**
 * Publishes in order and waits until a live subscriber has the last one: aedes acknowledges a
 * PUBLISH before it queues it, and delivers it live only once it is queued (and the queue trimmed).
 */
async function publishAll(t: TestContext, app: BrokerApp, messages: [topic: string, payload: string | Buffer][]): Promise<void> {
  const observer = await connectClient(t, mqttUrl(app));
  const seen = collect(observer);
  await observer.subscribeAsync('sightline/queue/#', { qos: 1 });
  const publisher = await connectClient(t, mqttUrl(app));
  // One at a time, each seen by the observer first: aedes acknowledges a QoS 1 PUBLISH before it
  // has queued it, so the next could be queued first and "the oldest" would not be the first sent;
  // it delivers to live subscribers only after queueing for the offline ones.
  for (const [topic, payload] of messages) {
    await publisher.publishAsync(topic, payload, { qos: 1 });
    await seen.next((m) => m.topic === topic);
  }
  await Promise.all([observer.endAsync(), publisher.endAsync()]);
}

async function drain(t: TestContext, app: BrokerApp, clientId: string, expected: number): Promise<Received[]> {
  const back = await connectClient(t, mqttUrl(app), { clientId, clean: false });
  const inbox = collect(back);
  await inbox.next((m) => m.payload.toString().endsWith('last'));
  await sleep(200);
  await back.endAsync();
  assert.equal(inbox.length, expected, JSON.stringify(inbox.map((m) => [m.topic, m.payload.toString(), m.retain])));
  return inbox;
}

for (const persistence of ['memory', 'level'] as const) {
  test(`a persistent session's queue is capped in count and bytes, the oldest dropped (${persistence} persistence)`, async (t) => {
    const dataDir = await tempDir(t);
    const app = await openBroker(t, { persistence, dataDir, maxQueuedMessages: 3, maxQueuedBytes: 3 * 1024 });
    await queueFor(t, app, 'durable-cap');
    await publishAll(
      t,
      app,
      ['m1', 'm2', 'm3', 'm4', 'last'].map((name) => [`sightline/queue/${name}`, name]),
    );
    const byCount = await drain(t, app, 'durable-cap', 3);
    assert.deepEqual(
      byCount.map((m) => m.payload.toString()),
      ['m3', 'm4', 'last'],
    );
    assert.equal(await metric(app, 'sightline_broker_queue_drops_total', 'reason="count"'), 2);

    await queueFor(t, app, 'durable-cap');
    await publishAll(
      t,
      app,
      ['b1', 'b2', 'b3-last'].map((name) => [`sightline/queue/${name}`, Buffer.concat([Buffer.alloc(1200), Buffer.from(name)])]),
    );
    const byBytes = await drain(t, app, 'durable-cap', 2);
    assert.deepEqual(
      byBytes.map((m) => m.topic),
      ['sightline/queue/b2', 'sightline/queue/b3-last'],
    );
    assert.equal(await metric(app, 'sightline_broker_queue_drops_total', 'reason="bytes"'), 1);
  });
}

test('the queue cap counts what was queued before a restart (level persistence)', async (t) => {
  const dataDir = await tempDir(t);
  const config: BrokerConfig = brokerConfig({ persistence: 'level', dataDir, usersFile: await anonymousWritesFile(t), maxQueuedMessages: 3 });
  const first = createBrokerApp(config, quietLogger());
  await first.start();
  t.after(() => first.stop());
  await queueFor(t, first, 'durable-restart-cap');
  await publishAll(
    t,
    first,
    ['r1', 'r2'].map((name) => [`sightline/queue/${name}`, name]),
  );
  await first.stop();

  const second = createBrokerApp(config, quietLogger());
  await second.start();
  t.after(() => second.stop());
  await publishAll(
    t,
    second,
    ['r3', 'last'].map((name) => [`sightline/queue/${name}`, name]),
  );
  // Queued by two broker runs, the messages come back in the store's order (by broker id), not by time.
  const received = await drain(t, second, 'durable-restart-cap', 3);
  assert.deepEqual(received.map((m) => m.payload.toString()).sort(), ['last', 'r2', 'r3']);
});

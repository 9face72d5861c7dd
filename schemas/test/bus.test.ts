import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { Aedes } from 'aedes';
import { connectAsync, type MqttClient } from 'mqtt';
import { Registry } from 'prom-client';
import { channels, createBus, createTopics, encodeFrame, type BusLogger } from '../src/index.ts';

const JPEG = channels.frame.example.jpeg;

async function startBroker(t: TestContext, options: ConstructorParameters<typeof Aedes>[0] = {}): Promise<string> {
  const broker = await Aedes.createBroker(options);
  const server = createServer(broker.handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    server.close();
  });
  return `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function client(t: TestContext, url: string): Promise<MqttClient> {
  const c = await connectAsync(url, { protocolVersion: 4, resubscribe: false, reconnectPeriod: 0 });
  t.after(() => c.endAsync(true));
  return c;
}

function recordingLogger() {
  const warnings: object[] = [];
  const errors: object[] = [];
  const logger: BusLogger = { warn: (obj) => warnings.push(obj), error: (obj) => errors.push(obj), debug: () => {} };
  return { logger, warnings, errors };
}

async function counter(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value ? Number(value.value) : 0;
}

function until(check: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = async (): Promise<void> => {
      if (await check()) return resolve();
      if (Date.now() > deadline) return reject(new Error('condition not met in time'));
      setTimeout(() => {
        poll().catch(reject);
      }, 20);
    };
    poll().catch(reject);
  });
}

test('a valid frame reaches the handler with its topic parameters; invalid ones are dropped and counted', async (t) => {
  const url = await startBroker(t);
  const topics = createTopics();
  const registry = new Registry();
  const { logger, warnings } = recordingLogger();
  const sub = await client(t, url);
  const bus = createBus({ client: sub, topics, logger, registry });
  const got: Array<{ camera: string; seq: number }> = [];
  await bus.subscribe(channels.frame, {}, (frame, params) => {
    got.push({ camera: params.camera, seq: frame.meta.seq });
  });
  assert.equal(bus.ready(), true);

  const raw = await client(t, url);
  const topic = topics.topic(channels.frame, { camera: 'cam1' });
  await raw.publishAsync(topic, Buffer.alloc(0));
  await raw.publishAsync(topic, Buffer.from('garbage'));
  await raw.publishAsync(topic, JPEG); // a JPEG without metadata
  await raw.publishAsync(topic, encodeFrame(JPEG, { camera: 'cam1', seq: 3, capturedAt: Date.now() }));
  await until(() => got.length === 1);
  assert.deepEqual(got, [{ camera: 'cam1', seq: 3 }]);
  assert.equal(await counter(registry, 'sightline_bus_messages_dropped_total', { channel: 'frame', reason: 'empty' }), 1);
  assert.equal(await counter(registry, 'sightline_bus_messages_dropped_total', { channel: 'frame', reason: 'not-jpeg' }), 1);
  assert.equal(await counter(registry, 'sightline_bus_messages_dropped_total', { channel: 'frame', reason: 'no-metadata' }), 1);
  assert.equal(await counter(registry, 'sightline_bus_messages_received_total', { channel: 'frame' }), 1);
  assert.equal(warnings.length, 3);
});

test('a subscription for one service gets only that service, beside one for all services on the same client', async (t) => {
  const url = await startBroker(t);
  const topics = createTopics();
  const { logger } = recordingLogger();
  const bus = createBus({ client: await client(t, url), topics, logger, registry: new Registry() });
  const one: string[] = [];
  const all: string[] = [];
  await bus.subscribe(channels.availability, { service: 'capture' }, (state, params) => void one.push(`${params.service} ${state}`));
  await bus.subscribe(channels.availability, {}, (state, params) => void all.push(`${params.service} ${state}`));
  const pub = createBus({ client: await client(t, url), topics, logger, registry: new Registry() });
  await pub.publish(channels.availability, { service: 'inference' }, 'offline', { retain: false });
  await pub.publish(channels.availability, { service: 'capture' }, 'online', { retain: false });
  await until(() => all.length === 2);
  assert.deepEqual(all, ['inference offline', 'capture online']);
  assert.deepEqual(one, ['capture online']);
});

test('a throwing or rejecting handler is counted and the subscriber keeps receiving', async (t) => {
  const url = await startBroker(t);
  const topics = createTopics();
  const registry = new Registry();
  const { logger, errors } = recordingLogger();
  const bus = createBus({ client: await client(t, url), topics, logger, registry });
  let calls = 0;
  await bus.subscribe(channels.availability, {}, async (state) => {
    calls += 1;
    if (calls === 1) throw new Error('sync boom');
    if (calls === 2) await Promise.reject(new Error('async boom'));
    assert.equal(state, 'online');
  });
  const pub = createBus({ client: await client(t, url), topics, logger, registry: new Registry() });
  for (let i = 0; i < 3; i++) await pub.publish(channels.availability, { service: 'capture' }, 'online', { retain: false });
  await until(async () => (await counter(registry, 'sightline_bus_handler_errors_total', { channel: 'availability' })) === 2 && calls === 3);
  assert.equal(errors.length, 2);
});

test('publishing validates the payload and the topic parameters before anything is sent', async (t) => {
  const url = await startBroker(t);
  const bus = createBus({ client: await client(t, url), topics: createTopics(), logger: recordingLogger().logger });
  await assert.rejects(async () => bus.publish(channels.availability, { service: 'x' }, 'maybe' as 'online'));
  await assert.rejects(async () => bus.publish(channels.availability, { service: '#' }, 'online'), /service/);
});

test('a subscription the broker refuses rejects and leaves the bus not ready', async (t) => {
  const url = await startBroker(t, {
    authorizeSubscribe: (_client, subscription, callback) => callback(null, subscription.topic.includes('/frame') ? null : subscription),
  });
  const bus = createBus({ client: await client(t, url), topics: createTopics(), logger: recordingLogger().logger });
  await bus.subscribe(channels.availability, {}, () => {});
  assert.equal(bus.ready(), true);
  await assert.rejects(
    bus.subscribe(channels.frame, {}, () => {}),
    /refused subscription to sightline\/cameras\/\+\/frame/,
  );
  assert.equal(bus.ready(), false);
});

test('subscriptions made while disconnected are granted on connect, and again after a reconnect', async (t) => {
  const url = await startBroker(t);
  const { connect } = await import('mqtt');
  const c = connect(url, { protocolVersion: 4, resubscribe: false, manualConnect: true, reconnectPeriod: 100 });
  t.after(() => c.endAsync(true));
  const bus = createBus({ client: c, topics: createTopics(), logger: recordingLogger().logger });
  const granted = bus.subscribe(channels.availability, {}, () => {});
  assert.equal(bus.ready(), false);
  c.connect();
  await granted;
  assert.equal(bus.ready(), true);
  const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
  c.stream.destroy();
  await closed;
  assert.equal(bus.ready(), false);
  await until(() => bus.ready());
});

test('publishing never queues: it rejects while disconnected and when the connection dies mid-publish', async (t) => {
  const url = await startBroker(t);
  const { connect } = await import('mqtt');
  const c = connect(url, { protocolVersion: 4, manualConnect: true, reconnectPeriod: 0, queueQoSZero: false });
  t.after(() => c.endAsync(true));
  const bus = createBus({ client: c, topics: createTopics(), logger: recordingLogger().logger });
  const frame = { jpeg: JPEG, meta: { camera: 'c', seq: 0, capturedAt: 1 } };
  await assert.rejects(bus.publish(channels.frame, { camera: 'c' }, frame), /not connected/);
  c.connect();
  await new Promise<void>((resolve) => c.once('connect', () => resolve()));
  assert.equal(await bus.publish(channels.frame, { camera: 'c' }, frame), channels.frame.codec.encode(frame).length);
  // A payload far larger than the socket buffer, then the connection dies before it drains.
  const big = { jpeg: Buffer.concat([JPEG.subarray(0, -2), Buffer.alloc(3 * 1024 * 1024), JPEG.subarray(-2)]), meta: frame.meta };
  const sending = bus.publish(channels.frame, { camera: 'c' }, big);
  c.stream.destroy();
  await assert.rejects(sending, /closed|not connected/);
});

test('an invalid message is told to its subscription, after it is counted, so the sender can be answered; a failing hook is counted', async (t) => {
  const url = await startBroker(t);
  const topics = createTopics();
  const registry = new Registry();
  const { logger } = recordingLogger();
  const bus = createBus({ client: await client(t, url), topics, logger, registry });
  const valid: string[] = [];
  const invalid: string[] = [];
  await bus.subscribe(channels.basketCommand, {}, (command, { lane }) => void valid.push(`${lane} ${command.action}`), {
    onInvalid: (error, { lane }) => {
      invalid.push(`${lane} ${error.fault}`);
      if (lane === 'lane-3') throw new Error('hook broke');
    },
  });
  const raw = await client(t, url);
  await raw.publishAsync(topics.topic(channels.basketCommand, { lane: 'lane-1' }), '{"action":"explode"}');
  await raw.publishAsync(topics.topic(channels.basketCommand, { lane: 'lane-2' }), 'not json');
  await raw.publishAsync(topics.topic(channels.basketCommand, { lane: 'lane-3' }), '');
  await raw.publishAsync(topics.topic(channels.basketCommand, { lane: 'lane-1' }), '{"action":"finish"}');
  await until(() => valid.length === 1 && invalid.length === 3);
  assert.deepEqual(invalid, ['lane-1 invalid', 'lane-2 not-json', 'lane-3 empty']);
  assert.deepEqual(valid, ['lane-1 finish']);
  assert.equal(await counter(registry, 'sightline_bus_handler_errors_total', { channel: 'basket-command' }), 1);
  assert.equal(await counter(registry, 'sightline_bus_messages_dropped_total', { channel: 'basket-command', reason: 'invalid' }), 1);
});

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { createLogger } from '@sightline/kit';
import { createBrokerApp, type BrokerApp } from '../src/app.ts';
import { brokerConfig, type BrokerConfig } from '../src/config.ts';
import { collect, connectClient, metric, mqttUrl, sleep, subscribeGranted, tempDir, tryConnect, writeUsers, type Received } from './helpers.ts';
import { startRedisServer, type RedisServer } from './redis-server.ts';

const alert = { username: 'alert', password: 'alert-pw' };
const mallory = { username: 'mallory', password: 'mallory-pw' };
const viewer = { username: 'viewer', password: 'viewer-pw' };

interface TestRedis extends RedisServer {
  /** Stops the broker when the test ends, before Redis goes (a broker stopping without its Redis waits on retries). */
  own(app: BrokerApp): BrokerApp;
}

/** A Redis for one test; one `t.after` stops the brokers it owns, newest first, then Redis. */
async function redisFor(t: TestContext, options: { password?: string } = {}): Promise<TestRedis> {
  const server = await startRedisServer(options);
  const owned: BrokerApp[] = [];
  t.after(async () => {
    for (const app of owned.reverse()) await app.stop();
    await server.stop();
  });
  return {
    ...server,
    own(app) {
      owned.push(app);
      return app;
    },
  };
}

/** The same users file content for every broker of the cluster, each reading its own copy. */
async function usersFile(t: TestContext): Promise<string> {
  const path = join(await tempDir(t), 'users.json');
  await writeUsers(
    path,
    {
      alert: { password: 'alert-pw', acl: [{ pattern: 'sightline/#', access: 'readwrite' }] },
      mallory: { password: 'mallory-pw', acl: [{ pattern: 'sightline/#', access: 'readwrite' }] },
      viewer: {
        password: 'viewer-pw',
        acl: [
          { pattern: 'sightline/#', access: 'read' },
          { pattern: 'sightline/viewer/#', access: 'readwrite' },
        ],
      },
    },
    { acl: [{ pattern: 'sightline/#', access: 'readwrite' }] },
  );
  return path;
}

/** Two (or more) brokers sharing one Redis, each with its own copy of the users file. */
async function cluster(t: TestContext, redis: TestRedis, size = 2, overrides: Partial<BrokerConfig> = {}): Promise<BrokerApp[]> {
  const brokers: BrokerApp[] = [];
  for (let i = 0; i < size; i++) {
    const config = brokerConfig({ persistence: 'redis', redisUrl: redis.url(), usersFile: await usersFile(t), anonymous: 'loopback', ...overrides });
    const app = redis.own(createBrokerApp(config, createLogger('broker', process.env.TEST_LOG_LEVEL ?? 'silent')));
    await app.start();
    brokers.push(app);
  }
  return brokers;
}

/** Subscribes a fresh client and returns the retained messages it is sent (a marker message ends the wait). */
async function retainedOn(t: TestContext, app: BrokerApp, filter: string): Promise<Map<string, string>> {
  const client = await connectClient(t, mqttUrl(app), alert);
  const inbox = collect(client);
  await client.subscribeAsync([filter, 'sightline/zz-marker'], { qos: 1 });
  await client.publishAsync('sightline/zz-marker', 'marker', { qos: 1 });
  await inbox.next((m) => m.topic === 'sightline/zz-marker');
  await sleep(200);
  await client.endAsync();
  return new Map(inbox.filter((m) => m.retain).map((m) => [m.topic, m.payload.toString()]));
}

const payloads = (inbox: Received[]) => inbox.map((m) => m.payload.toString());

test('a message published on one broker reaches subscribers on the other (QoS 0 and 1), and subscriptions made on either', async (t) => {
  const redis = await redisFor(t);
  const [a, b] = await cluster(t, redis);
  const onB = await connectClient(t, mqttUrl(b!), alert);
  const inboxB = collect(onB);
  await onB.subscribeAsync('sightline/lanes/+/scan', { qos: 1 });
  const onA = await connectClient(t, mqttUrl(a!), mallory);
  const inboxA = collect(onA);
  await onA.subscribeAsync('sightline/lanes/+/scan', { qos: 0 });

  await onA.publishAsync('sightline/lanes/1/scan', 'from-a-qos0', { qos: 0 });
  await onA.publishAsync('sightline/lanes/1/scan', 'from-a-qos1', { qos: 1 });
  await onB.publishAsync('sightline/lanes/2/scan', 'from-b', { qos: 1 });
  assert.equal((await inboxB.next((m) => m.payload.toString() === 'from-a-qos1')).qos, 1);
  await inboxB.next((m) => m.payload.toString() === 'from-a-qos0');
  await inboxA.next((m) => m.payload.toString() === 'from-b');
  await sleep(200);
  // Each once: Redis carries a message to every broker once, and each delivers it to its own clients.
  assert.deepEqual(payloads(inboxB).sort(), ['from-a-qos0', 'from-a-qos1', 'from-b']);
  assert.deepEqual(payloads(inboxA).sort(), ['from-a-qos0', 'from-a-qos1', 'from-b']);
});

test('a persistent session survives the death of its broker: the client reconnects to the other and gets what was queued meanwhile', async (t) => {
  const redis = await redisFor(t);
  const [a, b] = await cluster(t, redis);
  const durable = await connectClient(t, mqttUrl(a!), { ...alert, clientId: 'lane-1-display', clean: false });
  await durable.subscribeAsync('sightline/lanes/1/#', { qos: 1 });
  const closed = new Promise<void>((resolve) => durable.once('close', () => resolve()));
  await a!.stop();
  await closed;

  const publisher = await connectClient(t, mqttUrl(b!), mallory);
  for (const n of [1, 2, 3]) await publisher.publishAsync('sightline/lanes/1/scan', `queued-${n}`, { qos: 2 });
  await publisher.publishAsync('sightline/lanes/2/scan', 'not-subscribed', { qos: 1 });

  const back = await tryConnect(t, mqttUrl(b!), { ...alert, clientId: 'lane-1-display', clean: false });
  assert.ok('client' in back, 'the owner reconnects to B');
  const inbox = collect(back.client);
  await inbox.next((m) => m.payload.toString() === 'queued-3');
  // The subscription came along too: a live message reaches the session on its new broker.
  await publisher.publishAsync('sightline/lanes/1/scan', 'live-4', { qos: 1 });
  await inbox.next((m) => m.payload.toString() === 'live-4');
  assert.deepEqual(payloads(inbox), ['queued-1', 'queued-2', 'queued-3', 'live-4']);
});

test('retained messages are seen from every broker, and an empty retained message on one clears them on all', async (t) => {
  const redis = await redisFor(t);
  const [a, b] = await cluster(t, redis);
  const publisher = await connectClient(t, mqttUrl(a!), alert);
  // QoS 2: done once stored (see the caps test).
  await publisher.publishAsync('sightline/lanes/1/basket', '{"n":1}', { qos: 2, retain: true });
  await publisher.publishAsync('sightline/lanes/2/basket', '{"n":2}', { qos: 2, retain: true });
  for (const app of [a!, b!]) {
    assert.deepEqual([...(await retainedOn(t, app, 'sightline/lanes/#'))].sort(), [
      ['sightline/lanes/1/basket', '{"n":1}'],
      ['sightline/lanes/2/basket', '{"n":2}'],
    ]);
  }
  const other = await connectClient(t, mqttUrl(b!), mallory);
  await other.publishAsync('sightline/lanes/1/basket', '', { qos: 2, retain: true });
  for (const app of [a!, b!]) assert.deepEqual([...(await retainedOn(t, app, 'sightline/lanes/#'))], [['sightline/lanes/2/basket', '{"n":2}']]);
});

test('the users file and its ACLs hold on each broker: a denied publish goes nowhere, a denied subscription gets 0x80', async (t) => {
  const redis = await redisFor(t);
  const brokers = await cluster(t, redis);
  const [a, b] = brokers;
  const watchers = await Promise.all(
    [a!, b!].map(async (app) => {
      const watcher = await connectClient(t, mqttUrl(app), alert);
      await watcher.subscribeAsync('sightline/#', { qos: 1 });
      return collect(watcher);
    }),
  );
  for (const app of brokers) {
    assert.deepEqual(await tryConnect(t, mqttUrl(app), { ...viewer, password: 'wrong' }), { refused: 4 });
    const client = await connectClient(t, mqttUrl(app), viewer);
    // Reading is allowed, subscribing to a topic outside the prefix is not.
    assert.deepEqual(await subscribeGranted(client, ['sightline/lanes/#', 'other/#']), [1, 128]);
    await client.publishAsync('sightline/lanes/1/scan', `denied-via-${app.ports().mqtt}`, { qos: 1 });
    await client.publishAsync('sightline/viewer/note', `allowed-via-${app.ports().mqtt}`, { qos: 1 });
    assert.equal(await metric(app, 'sightline_broker_denied_publishes_total'), 1);
    assert.equal(await metric(app, 'sightline_broker_denied_subscriptions_total'), 1);
  }
  for (const inbox of watchers) {
    await inbox.next((m) => m.payload.toString() === `allowed-via-${b!.ports().mqtt}`);
    await inbox.next((m) => m.payload.toString() === `allowed-via-${a!.ports().mqtt}`);
    assert.deepEqual(
      payloads(inbox).filter((p) => p.startsWith('denied')),
      [],
    );
  }
});

test("a second user cannot take over the first user's persistent session through another broker; its owner can", async (t) => {
  const redis = await redisFor(t);
  const [a, b] = await cluster(t, redis);
  const owner = await connectClient(t, mqttUrl(a!), { ...alert, clientId: 'sightline-alert', clean: false });
  await owner.subscribeAsync('sightline/alerts/#', { qos: 1 });
  await owner.endAsync();
  const publisher = await connectClient(t, mqttUrl(a!), alert);
  await publisher.publishAsync('sightline/alerts/1', 'for-the-owner', { qos: 1 });

  for (const clean of [false, true]) {
    assert.deepEqual(await tryConnect(t, mqttUrl(b!), { ...mallory, clientId: 'sightline-alert', clean }), { refused: 2 });
    assert.deepEqual(await tryConnect(t, mqttUrl(b!), { clientId: 'sightline-alert', clean }), { refused: 2 });
  }
  assert.equal(await metric(b!, 'sightline_broker_auth_failures_total', 'reason="client_id"'), 4);
  const back = await connectClient(t, mqttUrl(b!), { ...alert, clientId: 'sightline-alert', clean: false });
  assert.equal((await collect(back).next()).payload.toString(), 'for-the-owner');
  // Sessions are counted for the cluster: both brokers see the one bound id.
  await tryConnect(t, mqttUrl(a!), { ...alert, clientId: 'probe', clean: true });
  assert.equal(await metric(a!, 'sightline_broker_sessions'), 1);
});

test('a broker leaving a running cluster leaves the broker service online; the last one to stop marks it offline', async (t) => {
  const redis = await redisFor(t);
  const [a, b] = await cluster(t, redis);
  const availability = 'sightline/services/broker/availability';
  const watcher = await connectClient(t, mqttUrl(b!), alert);
  const inbox = collect(watcher);
  await watcher.subscribeAsync(availability, { qos: 1 });
  await a!.stop();
  await sleep(300);
  assert.deepEqual(payloads(inbox), ['online']);
  assert.equal((await retainedOn(t, b!, availability)).get(availability), 'online');
  // The last broker's own clients are gone before its offline comes back through Redis: read what is kept there.
  const admin = new Redis(redis.url());
  t.after(() => admin.disconnect());
  const kept = async () => ((await admin.hgetBuffer('retained', availability)) ?? Buffer.alloc(0)).toString('latin1');
  assert.match(await kept(), /online/);
  await b!.stop();
  assert.match(await kept(), /offline/);
});

test('the caps hold for the cluster: retained messages and a session queue filled through two brokers', async (t) => {
  const redis = await redisFor(t);
  // Every broker's availability shares one retained topic: one of the three.
  const [a, b] = await cluster(t, redis, 2, { maxRetainedMessages: 3, maxQueuedMessages: 3 });
  // QoS 2: aedes answers PUBREC once the message is stored (it sends a PUBACK before), so each step is done when the next starts.
  const onA = await connectClient(t, mqttUrl(a!), alert);
  const onB = await connectClient(t, mqttUrl(b!), mallory);
  await onA.publishAsync('sightline/lanes/1/basket', 'a', { qos: 2, retain: true });
  await onB.publishAsync('sightline/lanes/2/basket', 'b', { qos: 2, retain: true });
  await onA.publishAsync('sightline/lanes/3/basket', 'refused', { qos: 2, retain: true });
  assert.equal(await metric(a!, 'sightline_broker_retained_refused_total', 'reason="count"'), 1);
  assert.deepEqual([...(await retainedOn(t, b!, 'sightline/lanes/#'))].sort(), [
    ['sightline/lanes/1/basket', 'a'],
    ['sightline/lanes/2/basket', 'b'],
  ]);
  // Cleared on B, the room is there for A.
  await onB.publishAsync('sightline/lanes/1/basket', '', { qos: 2, retain: true });
  await onA.publishAsync('sightline/lanes/3/basket', 'kept', { qos: 2, retain: true });
  assert.equal((await retainedOn(t, b!, 'sightline/lanes/#')).get('sightline/lanes/3/basket'), 'kept');

  const durable = await connectClient(t, mqttUrl(a!), { ...alert, clientId: 'durable-cap', clean: false });
  await durable.subscribeAsync('sightline/queue/#', { qos: 1 });
  await durable.endAsync();
  for (const [n, via] of [
    [1, onA],
    [2, onB],
    [3, onA],
    [4, onB],
    [5, onA],
  ] as const)
    await via.publishAsync('sightline/queue/x', `m${n}`, { qos: 2 });
  const back = await connectClient(t, mqttUrl(b!), { ...alert, clientId: 'durable-cap', clean: false });
  const inbox = collect(back);
  await inbox.next((m) => m.payload.toString() === 'm5');
  await sleep(200);
  assert.deepEqual(payloads(inbox), ['m3', 'm4', 'm5']);
  const drops =
    (await metric(a!, 'sightline_broker_queue_drops_total', 'reason="count"')) + (await metric(b!, 'sightline_broker_queue_drops_total', 'reason="count"'));
  assert.equal(drops, 2);
});

test('stop closes every Redis connection at once; a password in the Redis URL never reaches a log line or an error', async (t) => {
  const password = 's3cret-redis-pw';
  const redis = await redisFor(t, { password });
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const config = brokerConfig({ persistence: 'redis', redisUrl: redis.url(), usersFile: await usersFile(t), anonymous: 'loopback', logLevel: 'debug' });
  const app = redis.own(createBrokerApp(config, createLogger('broker', 'debug', sink)));
  await app.start();
  const listening = lines.map((line) => JSON.parse(line) as { msg: string; redis?: string }).find((entry) => entry.msg === 'broker listening');
  assert.equal(listening?.redis, `redis://***@127.0.0.1:${redis.port}/0`);

  const admin = new Redis(redis.url());
  t.after(() => admin.disconnect());
  const brokerConnections = async () => ((await admin.call('CLIENT', 'LIST')) as string).split('\n').filter((line) => line.includes('name=sightline-broker-'));
  assert.equal((await brokerConnections()).length, 3);
  const started = performance.now();
  await app.stop();
  const stopMs = performance.now() - started;
  assert.ok(stopMs < 1000, `stop took ${stopMs.toFixed(0)} ms`);
  await sleep(100);
  assert.deepEqual(await brokerConnections(), []);

  const wrong = redis.own(createBrokerApp({ ...config, redisUrl: redis.url().replace(password, 'wrong-pw') }, createLogger('broker', 'debug', sink)));
  await assert.rejects(wrong.start(), (err: Error) => {
    assert.match(err.message, new RegExp(`^cannot reach Redis at redis://\\*\\*\\*@127\\.0\\.0\\.1:${redis.port}/0: `));
    assert.doesNotMatch(err.message, /wrong-pw/);
    return true;
  });
  assert.deepEqual(
    lines.filter((line) => line.includes(password) || line.includes('wrong-pw')),
    [],
  );
});

test('a Redis that cannot be reached fails the start, naming it', async (t) => {
  const redis = await startRedisServer();
  await redis.stop();
  const app = createBrokerApp(brokerConfig({ persistence: 'redis', redisUrl: redis.url(3), anonymous: 'loopback' }), createLogger('broker', 'silent'));
  t.after(() => app.stop());
  const started = performance.now();
  await assert.rejects(app.start(), new RegExp(`^Error: cannot reach Redis at redis://127\\.0\\.0\\.1:${redis.port}/3: .*ECONNREFUSED`));
  assert.ok(performance.now() - started < 6000);
});

test('a broker whose Redis went away stops without an unhandled rejection', async (t) => {
  // The client's session must be saved as the broker closes it, which outlasts the stop's step
  // while Redis is away: the stop then ends the connections, and aedes closes its emitter late.
  const redis = await startRedisServer();
  const app = createBrokerApp(brokerConfig({ persistence: 'redis', redisUrl: redis.url(), anonymous: 'loopback' }), createLogger('broker', 'silent'));
  const unhandled: unknown[] = [];
  const remember = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', remember);
  t.after(() => process.off('unhandledRejection', remember));
  await app.start();
  const client = await connectClient(t, mqttUrl(app), { clientId: 'went-away', clean: false, reconnectPeriod: 0 });
  await subscribeGranted(client, ['sightline/#']);
  await redis.stop();
  await app.stop();
  await sleep(3000);
  assert.deepEqual(
    unhandled.map((reason) => String(reason)),
    [],
  );
});

test("a broker whose Redis stays away runs on: aedes' will scan failing is logged, not an unhandled error", { timeout: 60_000 }, async (t) => {
  // aedes looks for dead brokers' wills every four heartbeats (20 s) and reports a failed look as
  // its 'error' event, which with no listener ended the process.
  const redis = await startRedisServer();
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const app = createBrokerApp(brokerConfig({ persistence: 'redis', redisUrl: redis.url(), anonymous: 'loopback' }), createLogger('broker', 'warn', sink));
  const unhandled: unknown[] = [];
  const remember = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', remember);
  t.after(() => process.off('unhandledRejection', remember));
  await app.start();
  t.after(() => app.stop());
  await redis.stop();
  const by = Date.now() + 45_000;
  while (Date.now() < by && !lines.some((line) => line.includes('broker housekeeping failed'))) await sleep(250);
  assert.deepEqual(
    unhandled.map((reason) => String(reason)),
    [],
  );
  assert.ok(
    lines.some((line) => line.includes('broker housekeeping failed')),
    'the failed will scan is logged',
  );
});

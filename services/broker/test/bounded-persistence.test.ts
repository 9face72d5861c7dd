import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import MemoryPersistence from 'aedes-persistence/asyncPersistence.js';
import AsyncLevelPersistence from 'aedes-persistence-level/asyncPersistence.js';
import { Level } from 'level';
import { BoundedPersistence, type AsyncPersistence, type StoredPacket } from '../src/bounded-persistence.ts';
import { createBrokerMetrics } from '../src/metrics.ts';
import { quietLogger, tempDir } from './helpers.ts';

async function stores(t: TestContext): Promise<[string, AsyncPersistence][]> {
  const dir = await tempDir(t);
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
  await db.open();
  t.after(() => db.close());
  return [
    ['memory', new MemoryPersistence() as unknown as AsyncPersistence],
    ['level', new AsyncLevelPersistence(db) as unknown as AsyncPersistence],
  ];
}

function packet(n: number): StoredPacket {
  return { cmd: 'publish', topic: `t/${n}`, payload: Buffer.from(`m${n}`), qos: 1, retain: false, brokerId: 'broker-a', brokerCounter: n };
}

async function queuedTopics(persistence: AsyncPersistence, clientId: string): Promise<string[]> {
  const topics: string[] = [];
  for await (const p of persistence.outgoingStream({ id: clientId }) as AsyncIterable<StoredPacket>) topics.push(p.topic);
  return topics;
}

test('a message dropped at the cap while aedes sends it does not fail the send (which would disconnect the client)', async (t) => {
  for (const [name, inner] of await stores(t)) {
    const bounded = new BoundedPersistence(inner, {
      caps: { maxRetained: 10, maxRetainedBytes: 1 << 20, maxQueued: 3, maxQueuedBytes: 1 << 20 },
      metrics: createBrokerMetrics(),
      logger: quietLogger(),
    });
    await bounded.setup({ id: 'broker-a' });
    const sub = { clientId: `c-${name}` };
    const client = { id: sub.clientId };
    for (const n of [1, 2, 3]) await bounded.outgoingEnqueueCombi([sub], packet(n));
    // Dropped first, then given its identifier by aedes as it is sent.
    await bounded.outgoingEnqueueCombi([sub], packet(4));
    await bounded.outgoingUpdate(client, { ...packet(1), messageId: 7 });
    assert.deepEqual(await queuedTopics(inner, sub.clientId), ['t/2', 't/3', 't/4'], name);
    // Sent first (identifier 8), then dropped: cleared by that identifier.
    await bounded.outgoingUpdate(client, { ...packet(2), messageId: 8 });
    await bounded.outgoingEnqueueCombi([sub], packet(5));
    assert.deepEqual(await queuedTopics(inner, sub.clientId), ['t/3', 't/4', 't/5'], name);
    assert.equal(await bounded.outgoingClearMessageId(client, { messageId: 8 }), undefined, name);
    assert.deepEqual(bounded.queued(sub.clientId), { count: 3, bytes: 3 * (3 + 2) }, name);
  }
});

test('acknowledgements of a client with nothing queued (a clean session) do not read the store; a session with queued messages still clears them', async (t) => {
  for (const [name, store] of await stores(t)) {
    let clears = 0;
    const inner = new Proxy(store, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver) as unknown;
        if (key === 'outgoingClearMessageId') {
          return (...args: unknown[]) => {
            clears += 1;
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const bounded = new BoundedPersistence(inner, {
      caps: { maxRetained: 10, maxRetainedBytes: 1 << 20, maxQueued: 10, maxQueuedBytes: 1 << 20 },
      metrics: createBrokerMetrics(),
      logger: quietLogger(),
      queuedClientIds: async function* () {},
    });
    await bounded.setup({ id: 'broker-a' });
    for (let messageId = 1; messageId <= 100; messageId++) {
      assert.equal(await bounded.outgoingClearMessageId({ id: `clean-${name}` }, { messageId }), undefined, name);
    }
    assert.equal(clears, 0, name);
    const sub = { clientId: `session-${name}` };
    await bounded.outgoingEnqueueCombi([sub], packet(1));
    await bounded.outgoingUpdate({ id: sub.clientId }, { ...packet(1), messageId: 5 });
    assert.equal((await bounded.outgoingClearMessageId({ id: sub.clientId }, { messageId: 5 }))?.topic, 't/1', name);
    assert.equal(clears, 1, name);
    assert.deepEqual(await queuedTopics(inner, sub.clientId), [], name);
    // Once its queue is empty, the session's acknowledgements skip the store too.
    assert.equal(await bounded.outgoingClearMessageId({ id: sub.clientId }, { messageId: 6 }), undefined, name);
    assert.equal(clears, 1, name);
  }
});

test('messages queued before a restart are cleared from the store when acknowledged (read back by setup)', async (t) => {
  const dir = await tempDir(t);
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
  await db.open();
  t.after(() => db.close());
  const caps = { maxRetained: 10, maxRetainedBytes: 1 << 20, maxQueued: 10, maxQueuedBytes: 1 << 20 };
  const before = new BoundedPersistence(new AsyncLevelPersistence(db) as unknown as AsyncPersistence, {
    caps,
    metrics: createBrokerMetrics(),
    logger: quietLogger(),
  });
  await before.setup({ id: 'broker-a' });
  await before.outgoingEnqueueCombi([{ clientId: 'kept' }], packet(1));
  await before.outgoingUpdate({ id: 'kept' }, { ...packet(1), messageId: 9 });
  const inner = new AsyncLevelPersistence(db) as unknown as AsyncPersistence;
  const after = new BoundedPersistence(inner, {
    caps,
    metrics: createBrokerMetrics(),
    logger: quietLogger(),
    queuedClientIds: async function* () {
      yield 'kept';
    },
  });
  await after.setup({ id: 'broker-a' });
  assert.equal((await after.outgoingClearMessageId({ id: 'kept' }, { messageId: 9 }))?.topic, 't/1');
  assert.deepEqual(await queuedTopics(inner, 'kept'), []);
});

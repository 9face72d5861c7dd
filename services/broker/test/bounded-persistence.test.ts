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

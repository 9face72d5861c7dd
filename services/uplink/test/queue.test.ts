import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import { createLogger } from '@sightline/kit';
import { DiskQueue, encodeRecord, type QueueOptions } from '../src/queue.ts';
import { defer, tempDir } from './helpers.ts';

const logger = createLogger('uplink', process.env.TEST_LOG_LEVEL ?? 'silent');

function open(t: TestContext, dir: string, options: Partial<QueueOptions> = {}) {
  const drops: Array<{ reason: string; messages: number; bytes: number }> = [];
  const queue = new DiskQueue({
    dir,
    maxMessages: 1000,
    maxBytes: 1024 * 1024,
    logger,
    onDrop: (reason, messages, bytes) => drops.push({ reason, messages, bytes }),
    ...options,
  });
  queue.open();
  defer(t, () => queue.close());
  return { queue, drops };
}

const message = (n: number, size = 100) => ({
  topic: `sites/a/lanes/l/scan`,
  payload: Buffer.alloc(size, n % 256),
  retain: n % 2 === 0,
  at: 1795000000000 + n,
});

function drain(queue: DiskQueue): number[] {
  const got: number[] = [];
  for (let m = queue.next(); m !== null; m = queue.next()) {
    got.push(m.at - 1795000000000);
    queue.ack(m.id);
  }
  return got;
}

test('over the byte limit the oldest go, counted with their bytes; a message larger than the queue is refused', (t) => {
  const recordBytes = encodeRecord(message(0, 1000)).length;
  const { queue, drops } = open(t, tempDir(t), { maxBytes: 64 * 1024 });
  for (let n = 0; n < 100; n++) queue.append(message(n, 1000));
  const kept = Math.floor((64 * 1024) / recordBytes);
  assert.equal(queue.messages, kept);
  assert.equal(queue.bytes, kept * recordBytes);
  assert.deepEqual(
    drops.reduce((sum, d) => ({ messages: sum.messages + d.messages, bytes: sum.bytes + d.bytes }), { messages: 0, bytes: 0 }),
    { messages: 100 - kept, bytes: (100 - kept) * recordBytes },
  );
  assert.equal(queue.append(message(100, 70 * 1024)), false);
  assert.deepEqual(drops.at(-1), { reason: 'too-large', messages: 1, bytes: encodeRecord(message(100, 70 * 1024)).length });
  assert.deepEqual(
    drain(queue),
    Array.from({ length: kept }, (_, i) => 100 - kept + i),
  );
});

test('what was acknowledged stays gone after a reopen; segments wholly delivered are deleted; retain and arrival time survive', (t) => {
  const dir = tempDir(t);
  const first = new DiskQueue({ dir, maxMessages: 1000, maxBytes: 1024 * 1024, logger, segmentBytes: 2048 });
  first.open();
  defer(t, () => first.close());
  for (let n = 0; n < 60; n++) first.append(message(n));
  assert.ok(readdirSync(dir).filter((f) => f.endsWith('.seg')).length >= 3, 'small segments roll over');
  for (let n = 0; n < 40; n++) first.ack(first.next()!.id);
  // Sent but not acknowledged: it must come again.
  first.next();
  first.close();

  const { queue } = open(t, dir, { segmentBytes: 2048 });
  assert.equal(queue.messages, 20);
  const next = queue.next()!;
  assert.equal(next.at, 1795000000040);
  assert.equal(next.retain, true);
  assert.ok(next.payload.equals(Buffer.alloc(100, 40)));
  queue.ack(next.id);
  assert.deepEqual(
    drain(queue),
    Array.from({ length: 19 }, (_, i) => 41 + i),
  );
  queue.flushHead();
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.endsWith('.seg')),
    [
      readdirSync(dir)
        .filter((f) => f.endsWith('.seg'))
        .at(-1),
    ],
    'only the segment being written is left',
  );
});

test('rewind sends the unacknowledged again, in order; a message dropped while in flight is not counted twice', (t) => {
  const { queue } = open(t, tempDir(t), { maxMessages: 3 });
  for (let n = 0; n < 3; n++) queue.append(message(n));
  const a = queue.next()!;
  const b = queue.next()!;
  queue.ack(b.id);
  queue.rewind();
  // a is not acknowledged, b is (out of order): a comes again, b does not.
  assert.equal(queue.next()!.id, a.id);
  assert.equal(queue.next()!.at, 1795000000002);
  queue.append(message(3)); // over the limit: a, in flight, goes
  assert.equal(queue.ack(a.id), false);
  assert.equal(queue.messages, 2);
});

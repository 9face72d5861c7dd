import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Outbox, type EvictReason, type OutboxItem } from '../src/outbox.ts';
import { frameJpeg, tempDir, testLogger } from './helpers.ts';

function item(seq: number, size = 0): OutboxItem {
  const jpeg = size > 0 ? Buffer.concat([frameJpeg('cam', seq, 1000 + seq), Buffer.alloc(size)]) : frameJpeg('cam', seq, 1000 + seq);
  return {
    blobName: `cam/1970/01/01/${1000 + seq}-${seq}.jpg`,
    camera: 'cam',
    seq,
    capturedAt: 1000 + seq,
    reason: 'uncertain',
    metadata: { camera: 'cam' },
    tags: { camera: 'cam' },
    jpeg,
  };
}

function outbox(dir: string, options: { maxBytes?: number; ttlMs?: number; now?: () => number; evicted?: EvictReason[] } = {}) {
  return new Outbox({
    dir,
    fsync: true,
    maxBytes: options.maxBytes ?? 1 << 30,
    ttlMs: options.ttlMs ?? 3600_000,
    now: options.now ?? Date.now,
    logger: testLogger(),
    onEvict: (_entry, reason) => options.evicted?.push(reason),
  });
}

test('an accepted image is a complete file on disk; a reopened outbox resumes oldest first and drops crash leftovers', async (t) => {
  const dir = tempDir(t);
  const first = outbox(dir);
  await first.open();
  for (let seq = 0; seq < 5; seq++) assert.equal(await first.add(item(seq)), 'accepted');
  assert.equal(await first.add(item(2)), 'duplicate');
  assert.equal(readdirSync(dir).length, 5);
  // A crash while writing leaves a temporary file, and a torn entry.
  writeFileSync(path.join(dir, '.tmp-000000000099-5.img'), 'half');
  writeFileSync(path.join(dir, '000000000098-5.img'), Buffer.from('SLOB1\n\x00\x00\x00\x05{"a"', 'latin1'));
  const evicted: EvictReason[] = [];
  const second = outbox(dir, { evicted });
  await second.open();
  assert.deepEqual(evicted, ['corrupt']);
  assert.ok(!existsSync(path.join(dir, '.tmp-000000000099-5.img')));
  const order = second.oldest(10, new Set());
  assert.deepEqual(
    order.map((e) => e.blobName),
    [0, 1, 2, 3, 4].map((s) => item(s).blobName),
  );
  const { header, jpeg } = await second.read(order[0]!);
  assert.deepEqual(jpeg, item(0).jpeg);
  assert.equal(header.reason, 'uncertain');
  await second.remove(order[0]!);
  // New images continue after the old ones.
  assert.equal(await second.add(item(7)), 'accepted');
  assert.deepEqual(
    second.oldest(10, new Set()).map((e) => e.capturedAt),
    [1001, 1002, 1003, 1004, 1007],
  );
  assert.equal(second.stats().images, 5);
});

test('disk cap evicts the oldest, counted; TTL evicts the expired; an image larger than the cap is refused', async (t) => {
  const dir = tempDir(t);
  const evicted: EvictReason[] = [];
  let clock = 1_000_000;
  const box = outbox(dir, { maxBytes: 100_000, ttlMs: 60_000, now: () => clock, evicted });
  await box.open();
  for (let seq = 0; seq < 6; seq++) {
    assert.equal(await box.add(item(seq, 30_000)), 'accepted');
    clock += 1000;
  }
  assert.deepEqual(evicted, ['disk', 'disk', 'disk']);
  assert.deepEqual(
    box.oldest(10, new Set()).map((e) => e.capturedAt - 1000),
    [3, 4, 5],
  );
  assert.ok(box.stats().bytes <= 100_000);
  assert.equal(readdirSync(dir).length, 3);
  assert.equal(await box.add(item(9, 200_000)), 'too-large');
  clock += 57_500; // the oldest left (accepted at 1_003_000) is now past the 60 s TTL, the next is not
  await box.expire();
  assert.deepEqual(evicted, ['disk', 'disk', 'disk', 'ttl']);
  assert.equal(box.stats().images, 2);
});

test('images still being written are never handed out for upload', async (t) => {
  const dir = tempDir(t);
  const evicted: EvictReason[] = [];
  const box = outbox(dir, { evicted });
  await box.open();
  const adds = Array.from({ length: 20 }, (_, seq) => box.add(item(seq, 50_000)));
  const seen = new Set<string>();
  let reads = 0;
  while (seen.size < 20) {
    for (const entry of box.oldest(20, new Set())) {
      if (seen.has(entry.blobName)) continue;
      const { jpeg } = await box.read(entry);
      assert.equal(jpeg.length, item(entry.capturedAt - 1000, 50_000).jpeg.length);
      seen.add(entry.blobName);
      reads += 1;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.deepEqual(await Promise.all(adds), Array(20).fill('accepted'));
  assert.equal(reads, 20);
  assert.deepEqual(evicted, []);
});

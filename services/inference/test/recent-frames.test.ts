import assert from 'node:assert/strict';
import { test } from 'node:test';
import { likelyObject } from '../src/products/from-lane.ts';
import { RecentFrames, type RecentFrame, type RecentObject } from '../src/products/recent-frames.ts';

const KiB = 1024;

function frame(camera: string, seq: number, bytes = 10 * KiB, objects: RecentObject[] = []): RecentFrame {
  return { camera, seq, capturedAt: 1_795_000_000_000 + seq, jpeg: Buffer.alloc(bytes, seq % 256), objects };
}

test('the ring keeps the last N frames of each camera, found by seq', () => {
  const ring = new RecentFrames({ framesPerCamera: 5, maxBytes: 64 * 1024 * KiB });
  for (let seq = 0; seq < 12; seq++) assert.equal(ring.add(frame('lane1', seq)), true);
  for (let seq = 100; seq < 103; seq++) ring.add(frame('lane2', seq));
  assert.equal(ring.count, 8);
  assert.deepEqual(ring.range('lane1'), { first: 7, last: 11, frames: 5 });
  assert.deepEqual(ring.range('lane2'), { first: 100, last: 102, frames: 3 });
  assert.equal(ring.get('lane1', 6), undefined, 'past the count bound');
  assert.equal(ring.get('lane1', 9)!.jpeg[0], 9);
  assert.equal(ring.get('lane2', 9), undefined, 'seq belongs to its camera');
  assert.equal(ring.get('nobody', 9), undefined);
  // Skipped seqs (frames the scheduler replaced) are simply absent.
  ring.add(frame('lane2', 110));
  assert.equal(ring.get('lane2', 105), undefined);
  assert.equal(ring.get('lane2', 110)!.seq, 110);
});

test('the byte bound holds across cameras: the oldest frame of any camera goes first', () => {
  const ring = new RecentFrames({ framesPerCamera: 1000, maxBytes: 100 * KiB });
  for (let seq = 0; seq < 30; seq++) {
    ring.add(frame('a', seq, 7 * KiB));
    ring.add(frame('b', seq, 3 * KiB));
    assert.ok(ring.bytes <= 100 * KiB, `${ring.bytes} bytes after seq ${seq}`);
  }
  const a = ring.range('a')!;
  const b = ring.range('b')!;
  assert.equal(a.last, 29);
  assert.equal(b.last, 29);
  // Both cameras keep the same stretch of time, whatever their frame sizes.
  assert.ok(Math.abs(a.first - b.first) <= 1, `${JSON.stringify({ a, b })}`);
  assert.ok(ring.bytes > 80 * KiB, 'the bound is used, not far undershot');
  // A frame alone over the bound is not kept, and pushes nothing out.
  const before = ring.count;
  assert.equal(ring.add(frame('a', 30, 101 * KiB)), false);
  assert.equal(ring.count, before);
});

test('a camera that restarts its seq starts a new stream; forget drops a camera; 0 frames turns it off', () => {
  const ring = new RecentFrames({ framesPerCamera: 10, maxBytes: 1024 * KiB });
  for (let seq = 50; seq < 55; seq++) ring.add(frame('lane1', seq));
  ring.add(frame('lane1', 3));
  assert.deepEqual(ring.range('lane1'), { first: 3, last: 3, frames: 1 });
  assert.equal(ring.get('lane1', 52), undefined);
  ring.add(frame('lane2', 1));
  ring.forget('lane1');
  assert.deepEqual(ring.cameras(), ['lane2']);
  assert.equal(ring.count, 1);
  assert.equal(ring.bytes, ring.get('lane2', 1)!.jpeg.length + 256);

  const off = new RecentFrames({ framesPerCamera: 0, maxBytes: 1024 * KiB });
  assert.equal(off.add(frame('lane1', 1)), false);
  assert.equal(off.count, 0);
});

test('a JPEG that is a view into a larger buffer is copied, so the bytes counted are the bytes held', () => {
  const ring = new RecentFrames({ framesPerCamera: 10, maxBytes: 1024 * KiB });
  const packet = Buffer.alloc(256 * KiB, 7);
  const view = packet.subarray(1000, 1000 + 10 * KiB);
  ring.add({ camera: 'lane1', seq: 1, capturedAt: 0, jpeg: view, objects: [] });
  const held = ring.get('lane1', 1)!.jpeg;
  assert.equal(held.buffer.byteLength, 10 * KiB);
  assert.ok(held.equals(view));
  const own = Buffer.alloc(20 * KiB, 1);
  ring.add({ camera: 'lane1', seq: 2, capturedAt: 0, jpeg: own, objects: [] });
  assert.equal(ring.get('lane1', 2)!.jpeg, own, 'a buffer of its own is kept as it is');
});

test('the object the lane most likely meant: best score with a box, people and box-less objects aside', () => {
  const ignore = new Set(['person']);
  const box = { x: 0.1, y: 0.1, width: 0.2, height: 0.2 };
  const objects: RecentObject[] = [
    { label: 'person', score: 0.95, box },
    { label: 'unknown-product', score: 0.6, box, recognition: { product: null, similarity: 0.3, detectorLabel: 'orange' } },
    { label: 'clementine', score: 0.8, box, recognition: { product: 'clementine', similarity: 0.9, detectorLabel: 'orange' } },
    { label: 'scene', score: 0.99, box: null },
  ];
  assert.equal(likelyObject(objects, ignore), 2);
  assert.equal(likelyObject([objects[0]!, objects[3]!], ignore), null);
  assert.equal(likelyObject([], ignore), null);
  // A recognised person-shaped product is still judged by its detector label.
  assert.equal(
    likelyObject([{ label: 'my-product', score: 0.9, box, recognition: { product: 'my-product', similarity: 1, detectorLabel: 'person' } }], ignore),
    null,
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameRing, SelectionPolicy } from '../src/selection.ts';
import { blobName, metadataValue, tagValue } from '../src/blob.ts';
import { detectionsFor } from './helpers.ts';

const HOUR = 3600_000;

test('the ring keeps the last frames per camera within both its count and byte bounds', () => {
  const ring = new FrameRing({ frames: 3, bytes: 1000 });
  for (let seq = 0; seq < 5; seq++) ring.add({ camera: 'a', seq, capturedAt: seq, jpeg: Buffer.alloc(100) });
  assert.deepEqual(ring.size('a'), { frames: 3, bytes: 300 });
  assert.equal(ring.find('a', 1), undefined);
  assert.ok(ring.find('a', 4));
  ring.add({ camera: 'b', seq: 0, capturedAt: 0, jpeg: Buffer.alloc(600) });
  ring.add({ camera: 'b', seq: 1, capturedAt: 1, jpeg: Buffer.alloc(600) });
  assert.deepEqual(ring.size('b'), { frames: 1, bytes: 600 });
  assert.deepEqual(ring.size('a'), { frames: 3, bytes: 300 }, 'cameras are bounded separately');
  // A camera restarting at seq 0 starts a new stream instead of pairing with old frames.
  ring.add({ camera: 'a', seq: 0, capturedAt: 99, jpeg: Buffer.alloc(10) });
  assert.equal(ring.find('a', 4), undefined);
  assert.equal(ring.find('a', 0)?.capturedAt, 99);
});

test('uncertainty band is inclusive and uses the best score; no objects is not uncertain', () => {
  const policy = new SelectionPolicy({ uncertainMin: 0.3, uncertainMax: 0.8, samplesPerHour: 2, maxUploadsPerHour: 10 });
  const d = (scores: number[]) =>
    detectionsFor(
      'c',
      0,
      0,
      scores.map((s) => ['x', s] as [string, number]),
    );
  assert.equal(policy.isUncertain(d([0.3])), true);
  assert.equal(policy.isUncertain(d([0.8])), true);
  assert.equal(policy.isUncertain(d([0.29])), false);
  assert.equal(policy.isUncertain(d([0.5, 0.9])), false, 'a confident best object makes the frame confident');
  assert.equal(policy.isUncertain(d([])), false);
});

test('samples: N per camera per hour, one in each of N equal slots, never two in a row to catch up; the cap resets each hour and never refuses alerts', () => {
  const policy = new SelectionPolicy({ uncertainMin: 0.3, uncertainMax: 0.8, samplesPerHour: 2, maxUploadsPerHour: 3 });
  const h = 100 * HOUR;
  const taken: number[] = [];
  for (let t = h; t < h + HOUR; t += 60_000) {
    if (policy.sampleDue('cam', t)) {
      policy.takeSample('cam', t);
      taken.push((t - h) / 60_000);
    }
  }
  assert.deepEqual(taken, [0, 30]);
  assert.equal(policy.sampleDue('other', h + 5), true, 'each camera has its own samples');
  assert.equal(policy.sampleDue('cam', h + HOUR), true, 'a new hour, new samples');
  // Starting late in a slot: one sample now, the next in the next slot, not one per frame until caught up.
  const late = new SelectionPolicy({ uncertainMin: 0.3, uncertainMax: 0.8, samplesPerHour: 2, maxUploadsPerHour: 3 });
  const lateTaken: number[] = [];
  for (let t = h + 50 * 60_000; t < h + 80 * 60_000; t += 60_000) {
    if (late.sampleDue('cam', t)) {
      late.takeSample('cam', t);
      lateTaken.push((t - h) / 60_000);
    }
  }
  assert.deepEqual(lateTaken, [50, 60]);

  assert.deepEqual(
    [1, 2, 3, 4].map(() => policy.admit('uncertain', h)),
    [true, true, true, false],
  );
  assert.equal(policy.admit('alert', h), true);
  assert.equal(policy.admit('sample', h + HOUR), true);
});

test('blob names are deterministic UTC paths; tag and metadata values are made safe', () => {
  assert.equal(blobName('cam-1', Date.UTC(2025, 11, 31, 23, 59, 59, 999), 12), 'cam-1/2025/12/31/1767225599999-12.jpg');
  assert.equal(blobName('cam-1', Date.UTC(2025, 11, 31, 23, 59, 59, 999), 12), blobName('cam-1', Date.UTC(2025, 11, 31, 23, 59, 59, 999), 12));
  assert.equal(tagValue('sports ball,cup;<x>'), 'sports ball_cup__x_');
  assert.equal(tagValue('a'.repeat(300)).length, 256);
  assert.equal(metadataValue('crème'), 'cr%C3%A8me');
  assert.equal(metadataValue('plain text'), 'plain text');
});

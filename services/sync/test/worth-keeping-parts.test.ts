/**
 * The parts that decide what is worth sending, alone: how alike two pictures are, the events an
 * object's frames make, and each camera's daily budget.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { TIERS } from '../src/blob.ts';
import { DailyBudget } from '../src/budget.ts';
import { syncEnvSchema } from '../src/config.ts';
import { EventTracker, type ClosedEvent, type EventSettings } from '../src/events.ts';
import { DEFAULT_DUPLICATE_DIFFERENCE, difference, fingerprint, RecentPictures } from '../src/fingerprint.ts';
import type { RingFrame } from '../src/selection.ts';
import { SYNC_DIR, sceneJpeg, tempDir } from './helpers.ts';

const square = { left: 120, top: 80, size: 80 };

test('two shots of one scene are near-duplicates; the object gone, moved or smaller is not', async () => {
  const shot = await fingerprint(await sceneJpeg(1, square));
  const again = await fingerprint(await sceneJpeg(2, square));
  const emptyA = await fingerprint(await sceneJpeg(3));
  const emptyB = await fingerprint(await sceneJpeg(4));
  const moved = await fingerprint(await sceneJpeg(5, { ...square, left: 180 }));
  const smaller = await fingerprint(await sceneJpeg(6, { ...square, size: 40 }));
  assert.ok(difference(shot, again) <= DEFAULT_DUPLICATE_DIFFERENCE, `same scene: ${difference(shot, again)}`);
  assert.ok(difference(emptyA, emptyB) <= DEFAULT_DUPLICATE_DIFFERENCE, `bare counter, noise only: ${difference(emptyA, emptyB)}`);
  for (const [what, other] of [
    ['gone', emptyA],
    ['moved', moved],
    ['smaller', smaller],
  ] as const) {
    assert.ok(difference(shot, other) > DEFAULT_DUPLICATE_DIFFERENCE, `${what}: ${difference(shot, other)}`);
  }
  assert.equal(difference(shot, shot), 0);
});

test('a picture that cannot be decoded has no fingerprint: empty, truncated, or claiming a huge size', async () => {
  const good = await sceneJpeg(1, square);
  await assert.rejects(fingerprint(Buffer.alloc(0)));
  await assert.rejects(fingerprint(good.subarray(0, 20)));
  // The frame header (SOF0) claims 65,000 x 65,000 pixels: refused before any pixel is allocated.
  const huge = Buffer.from(good);
  const sof = huge.indexOf(Buffer.from([0xff, 0xc0]));
  huge.writeUInt16BE(65_000, sof + 5);
  huge.writeUInt16BE(65_000, sof + 7);
  await assert.rejects(fingerprint(huge));
});

test('recent pictures: a duplicate needs the same camera, the same labels and the window; the list per camera is bounded', async () => {
  const print = await fingerprint(await sceneJpeg(1, square));
  const same = await fingerprint(await sceneJpeg(2, square));
  const pictures = new RecentPictures({ windowMs: 60_000, maxDifference: DEFAULT_DUPLICATE_DIFFERENCE }, { cameras: 4, perCamera: 2 });
  pictures.remember('cam', ['orange', 'apple'], print, 1000);
  assert.notEqual(pictures.match('cam', ['apple', 'orange'], same, 2000), null, 'labels in any order');
  assert.equal(pictures.match('cam', ['orange'], same, 2000), null, 'other labels: not a duplicate');
  assert.equal(pictures.match('other', ['orange', 'apple'], same, 2000), null, 'another camera');
  assert.equal(pictures.match('cam', ['orange', 'apple'], same, 61_001), null, 'past the window');
  const elsewhere = await fingerprint(await sceneJpeg(3, { ...square, left: 10 }));
  pictures.remember('cam', ['x'], elsewhere, 3000);
  pictures.remember('cam', ['y'], elsewhere, 4000);
  assert.equal(pictures.match('cam', ['orange', 'apple'], same, 5000), null, 'only the last 2 per camera are kept');
  assert.equal(new RecentPictures({ windowMs: 0, maxDifference: 45 }, { cameras: 1 }).enabled, false, 'a window of 0 turns comparison off');
});

function frame(seq: number, capturedAt = 1000 + seq): RingFrame {
  return { camera: 'cam', seq, capturedAt, jpeg: Buffer.alloc(100) };
}

/** A tracker on a clock the test moves, with what it closed. */
function trackerFor(settings: EventSettings, options: { isUncertain?: (score: number) => boolean; events?: number } = {}) {
  const clock = { now: 0 };
  const closed: ClosedEvent[] = [];
  const tracker = new EventTracker(settings, options.isUncertain ?? (() => true), (event) => closed.push(event), {
    events: options.events ?? 16,
    bytes: 1 << 20,
    now: () => clock.now,
  });
  return { tracker, closed, clock };
}

test('events: an object seen across frames is one event; its image is the frame scored nearest 0.5; it ends after the gap', () => {
  const { tracker, closed, clock } = trackerFor({ gapMs: 2000, maxMs: 60_000 }, { isUncertain: (score) => score >= 0.3 && score <= 0.8 });
  const scores = [0.9, 0.7, 0.45, 0.53, 0.6, 0.2];
  scores.forEach((score, seq) => {
    clock.now += 200;
    tracker.see(frame(seq), ['orange'], [score]);
  });
  assert.equal(tracker.scan('cam', 'orange', 'scan-1'), true);
  assert.equal(tracker.scan('cam', 'banana', 'scan-2'), false, 'no banana in view');
  clock.now += 1999;
  tracker.sweep();
  assert.equal(closed.length, 0, 'within the gap the event is still open');
  clock.now += 2;
  tracker.sweep();
  assert.equal(closed.length, 1);
  const [event] = closed;
  assert.equal(event!.id, 'cam/orange/1000');
  assert.equal(event!.frames, 6);
  assert.equal(event!.uncertainFrames, 4);
  assert.equal(event!.best!.score, 0.53);
  assert.equal(event!.best!.frame.seq, 3);
  assert.deepEqual(event!.scans, ['scan-1']);
  assert.equal(event!.cause, 'gap');

  // Seen again after the gap: another event.
  clock.now += 5000;
  tracker.see(frame(10), ['orange'], [0.95]);
  tracker.closeAll();
  assert.equal(closed.length, 2);
  assert.equal(closed[1]!.best, null, 'a certain event has no image');
  assert.equal(closed[1]!.cause, 'stop');
});

test('events: one longer than its maximum is closed and the next sighting opens another; 0 makes every frame an event', () => {
  const { tracker, closed, clock } = trackerFor({ gapMs: 2000, maxMs: 1000 });
  for (let seq = 0; seq < 25; seq++) {
    clock.now += 100;
    tracker.see(frame(seq), ['orange'], [0.5]);
  }
  assert.equal(closed.length, 2, 'two full seconds: two events closed, the third open');
  assert.ok(closed.every((event) => event.cause === 'length'));
  const each = trackerFor({ gapMs: 2000, maxMs: 0 });
  each.tracker.see(frame(1), ['orange'], [0.5]);
  each.tracker.see(frame(2), ['orange'], [0.5]);
  assert.equal(each.closed.length, 2);
});

test('events: past the bound on open events the oldest is closed with its image, not lost', () => {
  const { tracker, closed, clock } = trackerFor({ gapMs: 60_000, maxMs: 600_000 }, { events: 4 });
  for (let i = 0; i < 10; i++) {
    clock.now += 1;
    tracker.see(frame(i), [`label-${i}`], [0.5]);
  }
  assert.equal(tracker.size, 4);
  assert.equal(closed.length, 6);
  assert.ok(closed.every((event) => event.cause === 'evicted' && event.best !== null));
});

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const midday = Date.UTC(2026, 5, 1, 11, 30);

test('budget: images and bytes per camera per day, spent evenly over the hours; alert snapshots always pass', () => {
  const budget = new DailyBudget({ imagesPerDay: 48, bytesPerDay: 48_000, labelShare: 1 }, { cameras: 8 });
  // At 11:30, 12 of 24 hours have started: half the day, 24 images.
  for (let i = 0; i < 24; i++) {
    assert.equal(budget.check('cam', 'uncertain', 100, ['a'], midday), null, `image ${i}`);
    budget.spend('cam', 100, ['a'], midday);
  }
  assert.equal(budget.check('cam', 'uncertain', 100, ['a'], midday), 'pace');
  assert.equal(budget.check('cam', 'sample', 100, [], midday), 'pace');
  assert.equal(budget.check('cam', 'alert', 100, [], midday), null, 'alert snapshots are never refused');
  assert.equal(budget.check('other', 'uncertain', 100, ['a'], midday), null, 'each camera has its own budget');
  assert.equal(budget.check('cam', 'uncertain', 100, ['a'], midday + HOUR), null, 'the next hour brings more');
  // Bytes: 24 x 100 spent; a 30,000-byte image crosses the day's 48,000.
  assert.equal(budget.check('cam', 'uncertain', 46_000, ['a'], midday + 12 * HOUR - 1), 'bytes');
  for (let i = 0; i < 24; i++) budget.spend('cam', 1, ['a'], midday + 12 * HOUR - 1);
  assert.equal(budget.check('cam', 'uncertain', 1, ['a'], midday + 12 * HOUR - 1), 'images');
  assert.equal(budget.check('cam', 'uncertain', 1, ['a'], midday + DAY), null, 'a new day, a new budget');
  assert.deepEqual(budget.snapshot(midday), { cam: { images: 48, bytes: 2424 } });
});

test("budget: one label takes at most its share of the day's uncertain images; an image showing another label still goes", () => {
  const budget = new DailyBudget({ imagesPerDay: 24, bytesPerDay: 1e9, labelShare: 0.25 }, { cameras: 8 });
  const evening = midday + 12 * HOUR;
  for (let i = 0; i < 6; i++) budget.spend('cam', 1, ['orange'], evening);
  assert.equal(budget.check('cam', 'uncertain', 1, ['orange'], evening), 'label-share');
  assert.equal(budget.check('cam', 'uncertain', 1, ['orange', 'apple'], evening), null);
  assert.equal(budget.check('cam', 'sample', 1, ['orange'], evening), null, 'samples show the scene, whatever is in it');
  budget.spend('cam', 1, ['__proto__'], evening);
  assert.equal(budget.check('cam', 'uncertain', 1, ['constructor'], evening), null, 'labels are data, not object keys');
});

test("budget: the day's counts survive a restart; an unreadable file starts them again", (t) => {
  const file = path.join(tempDir(t), 'budget.json');
  const first = new DailyBudget({ imagesPerDay: 2, bytesPerDay: 1e9, labelShare: 1 }, { cameras: 8, file });
  const evening = midday + 12 * HOUR;
  first.spend('cam', 10, ['a'], evening);
  first.spend('cam', 10, ['a'], evening);
  first.save();
  const second = new DailyBudget({ imagesPerDay: 2, bytesPerDay: 1e9, labelShare: 1 }, { cameras: 8, file });
  second.load(evening);
  assert.equal(second.check('cam', 'uncertain', 10, ['a'], evening), 'images');
  const tomorrow = new DailyBudget({ imagesPerDay: 2, bytesPerDay: 1e9, labelShare: 1 }, { cameras: 8, file });
  tomorrow.load(evening + DAY);
  assert.equal(tomorrow.check('cam', 'uncertain', 10, ['a'], evening + DAY), null, "yesterday's counts are not today's");
  for (const garbage of ['', '{', JSON.stringify({ version: 1, cameras: { 'bad id!': { day: 1, images: 1, bytes: 1, labels: {} } } }), 'x'.repeat(5_000_000)]) {
    writeFileSync(file, garbage);
    const after = new DailyBudget({ imagesPerDay: 2, bytesPerDay: 1e9, labelShare: 1 }, { cameras: 8, file });
    after.load(evening);
    assert.equal(after.check('cam', 'uncertain', 10, ['a'], evening), null, `unreadable (${garbage.length} bytes): counts start again`);
  }
});

test("the README's lifecycle policy sorts by the tier tags the service writes, in the default container, one rule per tier", () => {
  const readme = readFileSync(path.join(SYNC_DIR, 'README.md'), 'utf8');
  const block = /```json\n([\s\S]*?)\n```/.exec(readme.slice(readme.indexOf('## What goes to the cloud')));
  assert.ok(block, 'a JSON block under "What goes to the cloud"');
  const policy = JSON.parse(block[1]!) as {
    rules: Array<{
      type: string;
      definition: { filters: { blobTypes: string[]; prefixMatch: string[]; blobIndexMatch: Array<{ name: string; op: string; value: string }> } };
    }>;
  };
  const container = syncEnvSchema.shape.SIGHTLINE_SYNC_CONTAINER.parse(undefined);
  const tiers = policy.rules.map((rule) => {
    assert.equal(rule.type, 'Lifecycle');
    assert.deepEqual(rule.definition.filters.blobTypes, ['blockBlob']);
    assert.deepEqual(rule.definition.filters.prefixMatch, [`${container}/`]);
    const [match] = rule.definition.filters.blobIndexMatch;
    assert.deepEqual([match!.name, match!.op], ['tier', '==']);
    return match!.value;
  });
  assert.deepEqual(tiers.sort(), Object.values(TIERS).sort());
});

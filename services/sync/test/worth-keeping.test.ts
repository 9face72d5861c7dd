/**
 * Only what is worth keeping reaches the cloud, through the real broker into a real Azurite:
 * near-duplicates suppressed, one image per event, a daily budget per camera, and every reason
 * counted in /stats, the metrics and the blob's tags. Alert snapshots always go.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { SyncApp } from '../src/app.ts';
import {
  detectionsFor,
  listBlobs,
  metric,
  publisher,
  sceneJpeg,
  sleep,
  startApp,
  startAzurite,
  startTestBroker,
  tempDir,
  testConfig,
  waitUntil,
} from './helpers.ts';

const square = { left: 120, top: 80, size: 80 };

/** A wall clock that runs at real speed from a chosen moment, and can jump ahead. */
function clockAt(start: number): { now: () => number; jump(ms: number): void } {
  let offset = start - Date.now();
  return { now: () => Date.now() + offset, jump: (ms) => (offset += ms) };
}

async function ready(app: SyncApp): Promise<void> {
  await waitUntil('ready', async () => (await app.runtime.http.inject({ url: '/readyz' })).statusCode === 200, 5000);
}

async function settled(t: TestContext, app: SyncApp, what: string, done: () => boolean): Promise<void> {
  await waitUntil(what, done, 10_000).catch((err: Error) => {
    throw new Error(`${err.message}: ${JSON.stringify(app.stats())}`);
  });
  void t;
}

test('a near-duplicate of a picture selected lately is suppressed and counted; a changed scene goes, and the same scene again after the window', async (t) => {
  const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
  const clock = clockAt(Date.now());
  const app = await startApp(t, testConfig(broker.url, tempDir(t), azurite.connectionString, { SIGHTLINE_SYNC_DUPLICATE_WINDOW_SECONDS: '600' }), {
    now: clock.now,
  });
  const pub = await publisher(t, broker.url);
  await ready(app);
  const send = async (seq: number, jpeg: Buffer, score = 0.5) => {
    const at = clock.now();
    await pub.picture('cam', seq, at, jpeg);
    await pub.detections(detectionsFor('cam', seq, at, [['orange', score]]));
  };
  // Five shots of one scene (fresh noise each), then the orange moved.
  for (let seq = 0; seq < 5; seq++) await send(seq, await sceneJpeg(seq, square));
  await send(5, await sceneJpeg(5, { ...square, left: 200 }));
  await settled(t, app, 'two uploaded, four suppressed', () => app.stats().uploaded === 2 && app.stats().suppressed.duplicate === 4);
  const names = (await listBlobs(azurite.service().getContainerClient('frames'))).map((b) => b.name.replace(/^.*-/, ''));
  assert.deepEqual(names.sort(), ['0.jpg', '5.jpg']);
  assert.equal(await metric(app, 'sightline_sync_images_suppressed_total', { cause: 'duplicate' }), 4);
  assert.equal((await app.runtime.http.inject({ url: '/stats' })).json().suppressed.duplicate, 4);

  // Other labels on the same picture are something new.
  await send(6, await sceneJpeg(6, square));
  const at7 = clock.now();
  await pub.picture('cam', 7, at7, await sceneJpeg(7, square));
  await pub.detections(detectionsFor('cam', 7, at7, [['apple', 0.5]]));
  // An alert snapshot of the same scene always goes.
  await pub.alert('cam', 6, clock.now());
  await settled(t, app, 'the apple and the alert uploaded', () => app.stats().uploaded === 4);
  assert.equal(app.stats().suppressed.duplicate, 5, 'seq 6 as an uncertain orange was a duplicate');
  assert.equal(app.stats().selected.alert, 1);

  clock.jump(601_000);
  await send(8, await sceneJpeg(8, square));
  await settled(t, app, 'after the window the scene goes again', () => app.stats().uploaded === 5);
});

test("one image per event: an object's most uncertain frame, with the event and its scan in the metadata; the event's other frames are counted", async (t) => {
  const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
  const app = await startApp(
    t,
    testConfig(broker.url, tempDir(t), azurite.connectionString, { SIGHTLINE_SYNC_EVENT_MAX_SECONDS: '60', SIGHTLINE_SYNC_EVENT_GAP_SECONDS: '0.5' }),
  );
  const pub = await publisher(t, broker.url);
  await ready(app);
  const scores = [0.9, 0.75, 0.62, 0.48, 0.55, 0.7, 0.4, 0.85, 0.66, 0.58];
  const t0 = Date.now();
  for (const [seq, score] of scores.entries()) {
    await pub.frame('lane-cam', seq, t0 + seq * 200);
    await pub.detections(detectionsFor('lane-cam', seq, t0 + seq * 200, [['orange', score]]));
    if (seq === 5) await pub.scan('lane-cam', seq, 'orange', 'scan-77');
  }
  await settled(t, app, 'the event closed and its image uploaded', () => app.stats().uploaded === 1);
  const [blob] = await listBlobs(azurite.service().getContainerClient('frames'));
  assert.match(blob!.name, /-3\.jpg$/, 'the frame scored 0.48, nearest 0.5');
  assert.equal(blob!.metadata.event, `lane-cam/orange/${t0}`);
  assert.equal(blob!.metadata.eventframes, '10');
  assert.equal(blob!.metadata.eventuncertain, '8');
  assert.equal(blob!.metadata.scans, 'scan-77');
  assert.equal(blob!.tags.event, `lane-cam/orange/${t0}`);
  assert.equal(blob!.tags.tier, 'cool');
  const stats = app.stats();
  assert.deepEqual(stats.events, { open: 0, closed: 1, withImage: 1 });
  assert.equal(stats.suppressed.sameEvent, 7);
  assert.equal(stats.selected.uncertain, 1);
  assert.equal(await metric(app, 'sightline_sync_images_suppressed_total', { cause: 'same-event' }), 7);
  assert.equal(await metric(app, 'sightline_sync_events_total', { outcome: 'uncertain' }), 1);
});

test('an event still open when the service stops is not lost: its image waits in the outbox and goes at the next start', async (t) => {
  const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
  const dir = tempDir(t);
  const config = testConfig(broker.url, dir, azurite.connectionString, { SIGHTLINE_SYNC_EVENT_MAX_SECONDS: '600', SIGHTLINE_SYNC_EVENT_GAP_SECONDS: '600' });
  // The store is down while the first run sees the object: nothing can be uploaded yet.
  await azurite.stop();
  const first = await startApp(t, config);
  const pub = await publisher(t, broker.url);
  // Until sync has subscribed, frames go nowhere: a camera keeps sending, so does the test.
  for (let seq = 0; first.stats().events.open === 0; seq++) {
    assert.ok(seq < 100, 'sync never saw the object');
    const at = Date.now();
    await pub.frame('cam', seq, at);
    await pub.detections(detectionsFor('cam', seq, at, [['orange', 0.5]]));
    await sleep(50);
  }
  await first.stop();
  assert.equal(first.outbox.stats().images, 1, "the open event's image went to the outbox at stop");
  await azurite.restart();
  const second = await startApp(t, config);
  await settled(t, second, 'uploaded at the next start', () => second.stats().uploaded === 1);
});

test('daily budget: past it, uncertain images and samples are suppressed and counted; alert snapshots go, tagged over budget; the counts survive a restart', async (t) => {
  const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
  const dir = tempDir(t);
  // Late in the UTC day: the pace allows the whole day's budget.
  const today = new Date();
  const clock = clockAt(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate(), 23, 30));
  const config = testConfig(broker.url, dir, azurite.connectionString, {
    SIGHTLINE_SYNC_DAILY_IMAGES: '2',
    SIGHTLINE_SYNC_DAILY_BYTES: String(1024 * 1024),
    SIGHTLINE_SYNC_LABEL_SHARE: '1',
    SIGHTLINE_SYNC_SAMPLES_PER_HOUR: '3600',
  });
  const app = await startApp(t, config, { now: clock.now });
  const pub = await publisher(t, broker.url);
  await ready(app);
  for (let seq = 0; seq < 4; seq++) {
    const at = clock.now();
    await pub.frame('cam', seq, at);
    await pub.detections(detectionsFor('cam', seq, at, [['orange', 0.5]]));
  }
  await settled(t, app, 'two taken, the rest over budget', () => app.stats().uploaded === 2 && app.stats().suppressed.overBudget >= 2);
  await pub.alert('cam', 3, clock.now());
  await settled(t, app, 'the alert snapshot uploaded', () => app.stats().uploaded === 3);
  const blobs = await listBlobs(azurite.service().getContainerClient('frames'));
  const alert = blobs.find((b) => b.metadata.reason === 'alert')!;
  assert.equal(alert.tags.budget, 'over');
  assert.equal(alert.tags.tier, 'hot');
  assert.ok(blobs.filter((b) => b.metadata.reason !== 'alert').every((b) => b.tags.budget === 'within'));
  const stats = app.stats();
  assert.equal(stats.budget.imagesPerDay, 2);
  assert.equal(stats.budget.cameras.cam!.images, 3, 'the alert snapshot counts too');
  const overImages = await metric(app, 'sightline_sync_images_suppressed_total', { cause: 'images' });
  assert.equal(overImages, stats.suppressed.overBudget);
  assert.ok(overImages >= 2, `${overImages}: the uncertain frames past the budget, and the samples`);
  await app.stop();

  const again = await startApp(t, config, { now: clock.now });
  await ready(again);
  const at = clock.now();
  await pub.frame('cam', 10, at);
  await pub.detections(detectionsFor('cam', 10, at, [['orange', 0.5]]));
  await settled(t, again, 'over budget after the restart too', () => again.stats().suppressed.overBudget >= 1);
  assert.equal(again.stats().selected.uncertain + again.stats().selected.sample, 0);
});

test('a picture that cannot be compared (a header claiming 65,000 x 65,000 pixels) is still selected, and counted', async (t) => {
  const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
  const app = await startApp(t, testConfig(broker.url, tempDir(t), azurite.connectionString, { SIGHTLINE_SYNC_DUPLICATE_WINDOW_SECONDS: '600' }));
  const pub = await publisher(t, broker.url);
  await ready(app);
  const huge = Buffer.from(await sceneJpeg(1, square));
  const sof = huge.indexOf(Buffer.from([0xff, 0xc0]));
  huge.writeUInt16BE(65_000, sof + 5);
  huge.writeUInt16BE(65_000, sof + 7);
  const at = Date.now();
  await pub.picture('cam', 1, at, huge);
  await pub.detections(detectionsFor('cam', 1, at, [['orange', 0.5]]));
  await settled(t, app, 'selected and uploaded', () => app.stats().uploaded === 1);
  assert.equal(app.stats().fingerprintFailures, 1);
  assert.equal(await metric(app, 'sightline_sync_fingerprint_failures_total'), 1);
});

test('an alert seen again with a new frame sends that frame too (the console shows it); the same snapshot again sends nothing', async (t) => {
  const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
  const app = await startApp(t, testConfig(broker.url, tempDir(t), azurite.connectionString, { SIGHTLINE_SYNC_DUPLICATE_WINDOW_SECONDS: '600' }));
  const pub = await publisher(t, broker.url);
  await ready(app);
  const t0 = Date.now();
  for (let seq = 0; seq < 3; seq++) await pub.picture('cam', seq, t0 + seq, await sceneJpeg(seq, square));
  await pub.alert('cam', 0, t0, 'al-1');
  await settled(t, app, 'the first snapshot uploaded', () => app.stats().uploaded === 1);
  // Acknowledged: the same snapshot. Seen again: a new one, even of the same scene.
  await pub.alert('cam', 0, t0, 'al-1', 'update');
  await pub.alert('cam', 2, t0 + 2, 'al-1', 'update');
  await settled(t, app, 'the new snapshot uploaded', () => app.stats().uploaded === 2);
  await pub.alert('cam', 2, t0 + 2, 'al-1', 'end');
  await sleep(300);
  assert.equal(app.stats().selected.alert, 2);
  assert.equal(app.stats().notSelected.missingFrame, 0);
  const names = (await listBlobs(azurite.service().getContainerClient('frames'))).map((b) => b.name.replace(/^.*-/, ''));
  assert.deepEqual(names.sort(), ['0.jpg', '2.jpg']);
});

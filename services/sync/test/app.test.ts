import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { blobName } from '../src/blob.ts';
import {
  detectionsFor,
  listBlobs,
  metric,
  publisher,
  sha256,
  sleep,
  startApp,
  startAzurite,
  startTestBroker,
  tempDir,
  testConfig,
  waitUntil,
} from './helpers.ts';

test('uncertain frames and alert snapshots reach Blob with deterministic names, metadata and index tags; certain ones stay home', async (t) => {
  const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
  const dir = tempDir(t);
  const app = await startApp(t, testConfig(broker.url, dir, azurite.connectionString));
  const pub = await publisher(t, broker.url);
  await waitUntil('sync subscribed', async () => (await app.runtime.http.inject({ url: '/readyz' })).statusCode === 200, 5000);

  const t0 = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
  const sent = new Map<string, Buffer>();
  // seq 0: uncertain (0.55) -> uploaded; seq 1: confident (0.95) -> not; seq 2: nothing seen -> not;
  // seq 3: confident but an alert snapshot -> uploaded with reason alert.
  const plan: Array<[number, Array<[string, number]>]> = [
    [
      0,
      [
        ['person', 0.55],
        ['dog', 0.2],
      ],
    ],
    [1, [['person', 0.95]]],
    [2, []],
    [3, [['person', 0.97]]],
  ];
  for (const [seq, objects] of plan) {
    sent.set(blobName('cam-1', t0 + seq * 100, seq), await pub.frame('cam-1', seq, t0 + seq * 100));
    await pub.detections(detectionsFor('cam-1', seq, t0 + seq * 100, objects));
  }
  await pub.alert('cam-1', 3, t0 + 300);
  // Detections arriving before their frame still pair up.
  await pub.detections(detectionsFor('cam-1', 4, t0 + 400, [['cat', 0.4]]));
  sent.set(blobName('cam-1', t0 + 400, 4), await pub.frame('cam-1', 4, t0 + 400));

  const container = azurite.service().getContainerClient('frames');
  await waitUntil('three blobs uploaded', () => app.stats().uploaded === 3, 10_000);
  const blobs = await listBlobs(container);
  assert.deepEqual(blobs.map((b) => b.name).sort(), [
    'cam-1/2026/01/02/1767323045678-0.jpg',
    'cam-1/2026/01/02/1767323045978-3.jpg',
    'cam-1/2026/01/02/1767323046078-4.jpg',
  ]);
  for (const blob of blobs) assert.equal(blob.sha256, sha256(sent.get(blob.name)!), `${blob.name} content`);

  const first = blobs.find((b) => b.name.endsWith('-0.jpg'))!;
  assert.deepEqual(first.metadata, {
    camera: 'cam-1',
    seq: '0',
    capturedat: '2026-01-02T03:04:05.678Z',
    reason: 'uncertain',
    labels: 'person,dog',
    bestscore: '0.550',
    modelid: 'test-model',
    modelversion: '7',
    tier: 'cool',
    event: 'cam-1/person/1767323045678',
    budget: 'within',
    eventframes: '1',
    eventuncertain: '1',
    eventlabel: 'person',
    scans: '',
  });
  assert.equal(Object.keys(first.tags).length, 10, 'Blob Storage takes at most 10 index tags');
  assert.equal(first.tags.tier, 'cool');
  assert.equal(first.tags.event, 'cam-1/person/1767323045678');
  assert.equal(first.tags.camera, 'cam-1');
  assert.equal(first.tags.reason, 'uncertain');
  assert.equal(first.tags.labels, 'person dog');
  assert.equal(first.tags.bestscore, '0.550');
  assert.equal(first.tags.modelid, 'test-model');
  const alertBlob = blobs.find((b) => b.name.endsWith('-3.jpg'))!;
  assert.equal(alertBlob.metadata.reason, 'alert');
  assert.equal(alertBlob.tags.reason, 'alert');
  assert.equal(alertBlob.tags.tier, 'hot');
  assert.equal(alertBlob.tags.event, '', 'an alert snapshot is not an event image');

  const found: string[] = [];
  for await (const hit of azurite.service().findBlobsByTags(`@container='frames' AND reason='alert'`)) found.push(hit.name);
  assert.deepEqual(found, ['cam-1/2026/01/02/1767323045978-3.jpg']);

  const stats = app.stats();
  assert.equal(stats.framesSeen, 5);
  assert.deepEqual(stats.selected, { alert: 1, uncertain: 2, sample: 0 });
  assert.equal(stats.outbox.images, 0);
  assert.ok(stats.bytes.captured > stats.bytes.uploaded && stats.bytes.uploaded > 0, JSON.stringify(stats.bytes));
  const http = await app.runtime.http.inject({ url: '/stats' });
  assert.equal(http.statusCode, 200);
  assert.equal(http.json().uploaded, 3);
  assert.equal(await metric(app, 'sightline_sync_images_uploaded_total'), 3);
  assert.equal(await metric(app, 'sightline_sync_bytes_captured_total'), stats.bytes.captured);
  // Nothing left behind locally once confirmed.
  assert.deepEqual(readdirSync(path.join(dir, 'sync', 'outbox')), []);
});

test('frames that are not JPEGs, and hostile detections and alerts, are counted and never stored; a good frame after them is sampled', async (t) => {
  const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
  const dir = tempDir(t);
  const app = await startApp(t, testConfig(broker.url, dir, azurite.connectionString, { SIGHTLINE_SYNC_SAMPLES_PER_HOUR: '3600' }));
  const pub = await publisher(t, broker.url);
  await waitUntil('ready', async () => (await app.runtime.http.inject({ url: '/readyz' })).statusCode === 200, 5000);
  await pub.raw('cam', Buffer.from('GIF89a not a jpeg'));
  await pub.raw('cam', Buffer.alloc(0));
  await pub.raw('cam', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00]));
  await waitUntil('bad frames counted', async () => (await metric(app, 'sightline_bus_messages_dropped_total', { channel: 'frame' })) === 3, 5000);
  // Hostile detections and alerts are counted and dropped too; the service carries on.
  await pub.client.publishAsync('sightline/cameras/cam/detections', Buffer.from('{"camera":"cam","seq":-1}'), { qos: 1 });
  await pub.client.publishAsync('sightline/cameras/cam/detections', Buffer.alloc(300 * 1024, 0x7b), { qos: 1 });
  await pub.client.publishAsync('sightline/alerts', Buffer.from('not json'), { qos: 1 });
  await waitUntil(
    'bad detections and alerts counted',
    async () =>
      (await metric(app, 'sightline_bus_messages_dropped_total', { channel: 'detections' })) === 2 &&
      (await metric(app, 'sightline_bus_messages_dropped_total', { channel: 'alerts' })) === 1,
    5000,
  );
  await pub.frame('cam', 0, Date.now());
  await waitUntil('a good frame after the bad ones is still sampled and uploaded', () => app.stats().uploaded === 1, 5000);
  assert.equal(app.stats().selected.sample, 1);
  assert.equal(app.stats().framesSeen, 1);
  assert.equal((await listBlobs(azurite.service().getContainerClient('frames'))).length, 1);
});

test('hourly cap: over it, uncertain frames are refused and counted, alert snapshots still go', async (t) => {
  const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
  const dir = tempDir(t);
  const app = await startApp(t, testConfig(broker.url, dir, azurite.connectionString, { SIGHTLINE_SYNC_MAX_UPLOADS_PER_HOUR: '2' }));
  const pub = await publisher(t, broker.url);
  await waitUntil('ready', async () => (await app.runtime.http.inject({ url: '/readyz' })).statusCode === 200, 5000);
  const t0 = Date.now();
  for (let seq = 0; seq < 4; seq++) {
    await pub.frame('cam', seq, t0 + seq);
    await pub.detections(detectionsFor('cam', seq, t0 + seq, [['box', 0.5]]));
  }
  await pub.alert('cam', 3, t0 + 3);
  await waitUntil('3 uploaded', () => app.stats().uploaded >= 3, 10_000).catch((err: Error) => {
    throw new Error(`${err.message}: ${JSON.stringify(app.stats())}`);
  });
  assert.equal(app.stats().uploaded, 3);
  assert.deepEqual(app.stats().selected, { alert: 1, uncertain: 2, sample: 0 });
  assert.equal(app.stats().notSelected.cap, 2);
  assert.equal(await metric(app, 'sightline_sync_images_not_selected_total', { cause: 'cap' }), 2);
});

test('an alert that names a frame not yet received is kept waiting and stored when the frame comes, with its labels', async (t) => {
  const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
  const app = await startApp(t, testConfig(broker.url, tempDir(t), azurite.connectionString));
  const pub = await publisher(t, broker.url);
  await waitUntil('ready', async () => (await app.runtime.http.inject({ url: '/readyz' })).statusCode === 200, 5000);
  const at = Date.UTC(2026, 5, 1, 12, 0, 0, 5);
  await pub.alert('door', 9, at);
  await pub.detections(detectionsFor('door', 9, at, [['person', 0.91]]));
  await sleep(100);
  assert.equal(app.stats().outbox.images + app.stats().uploaded, 0);
  const jpeg = await pub.frame('door', 9, at);
  await waitUntil('uploaded', () => app.stats().uploaded === 1, 5000);
  const [blob] = await listBlobs(azurite.service().getContainerClient('frames'));
  assert.equal(blob!.name, 'door/2026/06/01/1780315200005-9.jpg');
  assert.equal(blob!.sha256, sha256(jpeg));
  assert.equal(blob!.metadata.reason, 'alert');
  assert.equal(blob!.metadata.labels, 'person');
  assert.equal(blob!.tags.bestscore, '0.910');
});

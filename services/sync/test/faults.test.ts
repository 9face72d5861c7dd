import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { connectAsync } from 'mqtt';
import { channels, createTopics, type Eviction } from '@sightline/schemas';
import { blobName } from '../src/blob.ts';
import type { SyncStats } from '../src/app.ts';
import {
  detectionsFor,
  freePort,
  listBlobs,
  metric,
  publisher,
  sha256,
  sleep,
  startApp,
  startAzurite,
  startTestBroker,
  SYNC_DIR,
  tempDir,
  testConfig,
  testEnv,
  waitUntil,
} from './helpers.ts';

function spawnSync(t: TestContext, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [path.join(SYNC_DIR, 'src/main.ts')], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

async function stats(port: number): Promise<SyncStats | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/stats`, { signal: AbortSignal.timeout(2000) });
    return (await response.json()) as SyncStats;
  } catch {
    return null;
  }
}

async function subscribed(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
    const body = (await response.json()) as { status: string; reason?: string };
    return body.status === 'ready' || (body.reason !== undefined && !/MQTT/.test(body.reason));
  } catch {
    return false;
  }
}

test('Azurite stopped mid-stream and the service SIGKILLed mid-upload: after both restart, every selected image is in Blob exactly once with its metadata and tags', async (t) => {
  const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
  const dir = tempDir(t);
  const port = await freePort();
  const env = testEnv(broker.url, dir, azurite.connectionString, {
    SIGHTLINE_SYNC_HTTP_PORT: String(port),
    SIGHTLINE_SYNC_UPLOAD_CONCURRENCY: '1',
    SIGHTLINE_LOG_LEVEL: 'warn',
  });
  let child = spawnSync(t, env);
  await waitUntil('child subscribed', () => subscribed(port), 15_000);
  const pub = await publisher(t, broker.url);
  const sent = new Map<string, Buffer>();
  const t0 = Date.now();
  const send = async (seq: number) => {
    const capturedAt = t0 + seq * 10;
    sent.set(blobName('cam', capturedAt, seq), await pub.frame('cam', seq, capturedAt, 256 * 1024));
    await pub.detections(detectionsFor('cam', seq, capturedAt, [['person', 0.42]]));
  };

  for (let seq = 0; seq < 10; seq++) await send(seq);
  await waitUntil('first images uploaded', async () => ((await stats(port))?.uploaded ?? 0) >= 5, 10_000);
  await azurite.stop();
  for (let seq = 10; seq < 40; seq++) await send(seq);
  await waitUntil('all 40 accepted', async () => (await stats(port))?.selected.uncertain === 40, 10_000);
  const offline = (await stats(port))!;
  assert.ok(offline.outbox.images >= 30, `outbox holds the images sent while Azurite was down: ${JSON.stringify(offline.outbox)}`);
  assert.equal(offline.store.reachable, false);

  await azurite.restart();
  const before = offline.uploaded;
  await waitUntil('uploads resumed', async () => ((await stats(port))?.uploaded ?? 0) > before + 2, 15_000);
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  const left = readdirSync(path.join(dir, 'sync', 'outbox')).filter((f) => f.endsWith('.img')).length;
  assert.ok(left > 0, 'killed while images were still waiting');

  child = spawnSync(t, env);
  await waitUntil(
    'outbox drained after restart',
    async () => {
      const s = await stats(port);
      return s !== null && s.outbox.images === 0;
    },
    20_000,
  );
  assert.deepEqual(readdirSync(path.join(dir, 'sync', 'outbox')), []);

  const blobs = await listBlobs(azurite.service().getContainerClient('frames'));
  assert.equal(blobs.length, 40);
  assert.deepEqual(blobs.map((b) => b.name).sort(), [...sent.keys()].sort());
  for (const blob of blobs) {
    assert.equal(blob.sha256, sha256(sent.get(blob.name)!), `${blob.name}: content`);
    assert.equal(blob.metadata.reason, 'uncertain');
    assert.equal(blob.metadata.labels, 'person');
    assert.equal(blob.metadata.bestscore, '0.420');
    assert.equal(blob.tags.camera, 'cam');
    assert.equal(blob.tags.reason, 'uncertain');
    assert.equal(blob.tags.modelversion, '7');
  }
  child.kill('SIGTERM');
  assert.equal(await new Promise((resolve) => child.once('exit', (code) => resolve(code))), 0);
});

test('disk cap reached while Azurite is down: the oldest are evicted and counted, the rest all arrive', async (t) => {
  const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
  const dir = tempDir(t);
  const app = await startApp(t, testConfig(broker.url, dir, azurite.connectionString, { SIGHTLINE_SYNC_OUTBOX_MAX_BYTES: String(100 * 1024) }));
  const pub = await publisher(t, broker.url);
  await waitUntil('ready', async () => (await app.runtime.http.inject({ url: '/readyz' })).statusCode === 200, 5000);
  // Every eviction is announced, for the alert service.
  const announced: Eviction[] = [];
  const watcher = await connectAsync(broker.url, { protocolVersion: 4 });
  t.after(() => watcher.endAsync(true));
  watcher.on('message', (_topic, payload) => announced.push(channels.syncEviction.codec.decode(payload)));
  await watcher.subscribeAsync(createTopics().topic(channels.syncEviction, {}), { qos: 1 });
  await azurite.stop();
  const t0 = Date.now();
  const names: string[] = [];
  for (let seq = 0; seq < 10; seq++) {
    names.push(blobName('cam', t0 + seq, seq));
    await pub.frame('cam', seq, t0 + seq, 20 * 1024);
    await pub.detections(detectionsFor('cam', seq, t0 + seq, [['box', 0.5]]));
    await waitUntil(`image ${seq} accepted`, () => app.stats().selected.uncertain === seq + 1, 5000);
  }
  const s = app.stats();
  assert.ok(s.outbox.bytes <= 100 * 1024, JSON.stringify(s.outbox));
  assert.equal(s.outbox.images + s.evicted.disk, 10);
  assert.ok(s.evicted.disk >= 5, JSON.stringify(s.evicted));
  assert.equal(await metric(app, 'sightline_sync_images_evicted_total', { reason: 'disk' }), s.evicted.disk);
  await waitUntil('evictions announced', () => announced.length === s.evicted.disk, 5000);
  assert.deepEqual(
    announced.map((e) => [e.reason, e.camera, e.blob]),
    names.slice(0, s.evicted.disk).map((name) => ['disk', 'cam', name]),
  );
  await azurite.restart();
  await waitUntil('the kept images uploaded', () => app.stats().outbox.images === 0, 10_000);
  await sleep(100);
  const blobs = await listBlobs(azurite.service().getContainerClient('frames'));
  assert.deepEqual(blobs.map((b) => b.name).sort(), names.slice(s.evicted.disk).sort());
  assert.equal(app.stats().uploaded, 10 - s.evicted.disk);
});

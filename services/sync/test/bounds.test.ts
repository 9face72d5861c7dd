import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detectionsFor, metric, publisher, startApp, startAzurite, startTestBroker, tempDir, testConfig, waitUntil } from './helpers.ts';

const KiB = 1024;

test(
  '200 camera ids with 256 KiB frames: the rings hold at most MAX_CAMERAS cameras within RINGS_MAX_BYTES, the rest refused and counted; idle cameras make room',
  { timeout: 60_000 },
  async (t) => {
    const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
    let clock = Date.now();
    const app = await startApp(
      t,
      testConfig(broker.url, tempDir(t), azurite.connectionString, {
        SIGHTLINE_SYNC_MAX_CAMERAS: '16',
        SIGHTLINE_SYNC_RING_BYTES: String(1024 * KiB),
        SIGHTLINE_SYNC_RINGS_MAX_BYTES: String(8192 * KiB),
        SIGHTLINE_SYNC_CAMERA_IDLE_SECONDS: '60',
      }),
      // The service's clock, so the idle time passes when the test says and not when the machine is slow.
      { now: () => clock },
    );
    const pub = await publisher(t, broker.url);
    await waitUntil('ready', async () => (await app.runtime.http.inject({ url: '/readyz' })).statusCode === 200, 5000);

    const t0 = Date.now();
    let peakBytes = 0;
    for (let id = 0; id < 200; id++) {
      await pub.frame(`ghost-${id}`, 1, t0 + id, 256 * KiB);
      peakBytes = Math.max(peakBytes, app.stats().rings.bytes);
    }
    await waitUntil('every frame handled', () => app.stats().framesSeen + app.stats().framesRefused === 200, 10_000);
    let stats = app.stats();
    assert.equal(stats.rings.cameras, 16);
    assert.equal(stats.framesSeen, 16, 'the first 16 cameras are admitted');
    assert.equal(stats.framesRefused, 184);
    assert.equal(await metric(app, 'sightline_sync_frames_refused_total', { cause: 'camera-cap' }), 184);
    assert.equal(await metric(app, 'sightline_bounded_map_evictions_total', { map: 'sync-frame-rings', reason: 'refused' }), 184);
    const series = (await app.runtime.registry.getSingleMetric('sightline_sync_frames_seen_total')!.get()).values.length;
    assert.equal(series, 16, 'one metric series per admitted camera, none for the refused');

    // The admitted cameras fill their rings: all of them together stay within the byte bound.
    for (let seq = 2; seq < 6; seq++) {
      for (let id = 0; id < 16; id++) {
        await pub.frame(`ghost-${id}`, seq, t0 + seq * 1000 + id, 256 * KiB);
        peakBytes = Math.max(peakBytes, app.stats().rings.bytes);
      }
    }
    await waitUntil('every frame handled', () => app.stats().framesSeen === 16 * 5, 10_000);
    stats = app.stats();
    assert.ok(peakBytes <= 8192 * KiB && stats.rings.bytes <= 8192 * KiB, `ring bytes ${stats.rings.bytes}, peak ${peakBytes}`);
    assert.ok(stats.rings.bytes >= 4096 * KiB, `the rings are used: ${stats.rings.bytes}`);
    assert.ok(
      (await metric(app, 'sightline_bounded_map_evictions_total', { map: 'sync-frame-rings', reason: 'bytes' })) > 0,
      'rings past the byte bound are dropped, counted',
    );

    // The camera that sent last keeps working: its detections pair with its frame.
    await pub.detections(detectionsFor('ghost-15', 5, t0 + 5000 + 15, [['person', 0.5]]));
    await waitUntil('the uncertain frame of an admitted camera is selected', () => app.stats().selected.uncertain === 1, 5000);

    // Quiet for longer than the idle time: forgotten, and a camera never seen before gets in.
    clock += 61_000;
    await pub.frame('late-camera', 1, t0 + 2000, 1 * KiB);
    await waitUntil('the late camera is admitted', () => app.stats().framesSeen === 16 * 5 + 1, 5000);
    assert.equal(app.stats().rings.cameras, 1);
    assert.ok(app.stats().rings.bytes < 2 * KiB);
    const left = (await app.runtime.registry.getSingleMetric('sightline_sync_frames_seen_total')!.get()).values.map((v) => v.labels['camera']);
    assert.deepEqual(left, ['late-camera'], 'forgotten cameras take their metric series with them');
  },
);

test('SIGHTLINE_SYNC_CAMERAS: frames of other cameras are refused and counted, whatever the cap', async (t) => {
  const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
  const app = await startApp(t, testConfig(broker.url, tempDir(t), azurite.connectionString, { SIGHTLINE_SYNC_CAMERAS: 'front, back' }));
  const pub = await publisher(t, broker.url);
  await waitUntil('ready', async () => (await app.runtime.http.inject({ url: '/readyz' })).statusCode === 200, 5000);
  for (const camera of ['front', 'side', 'back', 'roof']) await pub.frame(camera, 1, Date.now(), 1 * KiB);
  await waitUntil('four frames handled', () => app.stats().framesSeen + app.stats().framesRefused === 4, 5000);
  assert.equal(app.stats().rings.cameras, 2);
  assert.equal(await metric(app, 'sightline_sync_frames_refused_total', { cause: 'not-configured' }), 2);
});

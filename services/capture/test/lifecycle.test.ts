import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import type { FrameMeta } from '@sightline/schemas';
import { Camera, DEFAULT_BACKOFF } from '../src/camera.ts';
import { createCaptureMetrics } from '../src/metrics.ts';
import { ffmpegInput, ffmpegOutput } from '../src/sources.ts';
import { camera, testLogger, sleep, startApp, startBroker, subscribeFrames, SYSTEM_FFMPEG, tempDir, testConfig, waitUntil } from './helpers.ts';
import type { CaptureApp } from '../src/app.ts';

const system = { ffmpeg: { path: SYSTEM_FFMPEG, origin: 'system' as const } };

async function metric(app: CaptureApp, name: string, labels: Record<string, string>): Promise<number> {
  const values = (await app.runtime.registry.getSingleMetric(name)?.get())?.values ?? [];
  const found = values.find((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want));
  return found?.value ?? 0;
}

function assertSeqContinuous(seqs: number[]): void {
  seqs.forEach((seq, i) => assert.equal(seq, i, `seq ${seqs.join(',')} must grow by exactly 1`));
}

test('ffmpeg killed (SIGKILL): camera goes offline, restarts with growing backoff, frames resume with seq continuing', async (t) => {
  const broker = await startBroker(t);
  const subscriber = await subscribeFrames(t, broker.url);
  const dir = tempDir(t);
  const app = await startApp(t, testConfig(broker.url, dir, [camera('cam', { kind: 'testsrc' }, { fps: 10 })]), {
    ...system,
    backoff: { initialMs: 400, maxMs: 5000, resetAfterMs: 60_000 },
  });
  const cam = app.cameras[0]!;
  await subscriber.waitFor('cam', 5, 8000);

  const ready = await app.runtime.http.inject({ method: 'GET', url: '/readyz' });
  assert.equal(ready.statusCode, 200, ready.body);

  const delays: number[] = [];
  for (let round = 0; round < 2; round++) {
    const pid = cam.status().pid;
    assert.ok(pid !== null && pid > 0);
    const before = subscriber.of('cam').length;
    process.kill(pid, 'SIGKILL');
    await waitUntil('camera offline', () => !cam.online, 3000);
    const offline = cam.status();
    assert.equal(offline.state, 'offline');
    assert.match(offline.reason ?? '', /SIGKILL/);
    delays.push(offline.retryInMs!);
    assert.equal(await metric(app, 'sightline_capture_camera_online', { camera: 'cam' }), 0);
    const notReady = await app.runtime.http.inject({ method: 'GET', url: '/readyz' });
    assert.equal(notReady.statusCode, 503);
    assert.match(notReady.json().reason, /cam \(offline: .*SIGKILL/);

    await waitUntil('camera back online', () => cam.online, 5000);
    assert.notEqual(cam.status().pid, pid, 'a new ffmpeg');
    await subscriber.waitFor('cam', before + 3, 5000);
  }
  assert.deepEqual(delays, [400, 800], 'backoff doubles while the camera keeps failing');
  assert.equal(await metric(app, 'sightline_capture_ffmpeg_restarts_total', { camera: 'cam' }), 2);
  assert.equal(await metric(app, 'sightline_capture_camera_online', { camera: 'cam' }), 1);
  assertSeqContinuous(subscriber.of('cam').map((f) => f.frame.meta.seq));
});

test('a stalled ffmpeg (SIGSTOP: alive but silent) is detected by the watchdog, killed and restarted', async (t) => {
  const broker = await startBroker(t);
  const subscriber = await subscribeFrames(t, broker.url);
  const app = await startApp(t, testConfig(broker.url, tempDir(t), [camera('cam', { kind: 'testsrc' }, { fps: 10 })]), {
    ...system,
    stallMs: 1000,
    backoff: { initialMs: 200 },
  });
  const cam = app.cameras[0]!;
  await subscriber.waitFor('cam', 3, 8000);
  const pid = cam.status().pid!;
  process.kill(pid, 'SIGSTOP');
  await waitUntil('camera offline', () => !cam.online, 4000);
  assert.match(cam.status().reason ?? '', /stalled: no frame for 1 s/);
  await waitUntil('camera back online', () => cam.online, 5000);
  assert.notEqual(cam.status().pid, pid);
  const before = subscriber.of('cam').length;
  await subscriber.waitFor('cam', before + 2, 5000);
  assertSeqContinuous(subscriber.of('cam').map((f) => f.frame.meta.seq));
});

test('broker down then up: no crash, frames dropped and counted while down, then resume', async (t) => {
  const broker = await startBroker(t);
  const subscriber = await subscribeFrames(t, broker.url);
  const app = await startApp(t, testConfig(broker.url, tempDir(t), [camera('cam', { kind: 'testsrc' }, { fps: 10 })]), system);
  await subscriber.waitFor('cam', 3, 8000);

  await broker.down();
  await waitUntil('capture sees the broker gone', () => !app.runtime.client.connected, 3000);
  const seenBefore = subscriber.of('cam').length;
  await sleep(1500);
  const dropped = await metric(app, 'sightline_capture_frames_dropped_total', { camera: 'cam', reason: 'disconnected' });
  assert.ok(dropped >= 8, `frames dropped while disconnected: ${dropped}`);
  assert.ok(app.cameras[0]!.online, 'the camera itself keeps running');
  const notReady = await app.runtime.http.inject({ method: 'GET', url: '/readyz' });
  assert.equal(notReady.statusCode, 503);
  assert.match(notReady.json().reason, /not connected to the MQTT broker/);

  await broker.up();
  await subscriber.waitFor('cam', seenBefore + 5, 6000);
  const seqs = subscriber.of('cam').map((f) => f.frame.meta.seq);
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, 'seq keeps increasing');
  // seq counts published frames only: the frames dropped while down used no seq numbers.
  const published = await metric(app, 'sightline_capture_frames_published_total', { camera: 'cam' });
  assert.equal(app.cameras[0]!.status().nextSeq, published);
  const ready = await app.runtime.http.inject({ method: 'GET', url: '/readyz' });
  assert.equal(ready.statusCode, 200);
});

test('/readyz, /cameras and /metrics describe the cameras', async (t) => {
  const broker = await startBroker(t);
  const subscriber = await subscribeFrames(t, broker.url);
  const app = await startApp(
    t,
    testConfig(broker.url, tempDir(t), [camera('cam', { kind: 'testsrc' }, { fps: 10 }), camera('usb', { kind: 'v4l2', device: '/dev/video9' })]),
    system,
  );
  await subscriber.waitFor('cam', 5, 8000);
  await waitUntil('usb retried', () => app.cameras[1]!.status().restarts >= 1, 5000);

  const notReady = await fetch(`http://127.0.0.1:${app.runtime.httpPort()}/readyz`);
  assert.equal(notReady.status, 503, 'one camera is offline');
  const reason = ((await notReady.json()) as { reason: string }).reason;
  assert.match(reason, /^camera not delivering frames: usb \((offline|starting)/);
  assert.doesNotMatch(reason, /cam \(/);

  const cameras = (await app.runtime.http.inject({ method: 'GET', url: '/cameras' })).json();
  assert.deepEqual(
    cameras.cameras.map((c: { camera: string; online: boolean; source: string }) => [c.camera, c.online, c.source]),
    [
      ['cam', true, 'testsrc'],
      ['usb', false, '/dev/video9'],
    ],
  );

  const text = (await app.runtime.http.inject({ method: 'GET', url: '/metrics' })).body;
  const value = (re: RegExp) => Number(re.exec(text)?.[1]);
  const published = value(/^sightline_capture_frames_published_total\{[^}]*camera="cam"[^}]*\} (\d+)/m);
  assert.ok(published >= 5, text);
  assert.ok(value(/^sightline_capture_bytes_published_total\{[^}]*camera="cam"[^}]*\} (\d+)/m) > published * 1000);
  assert.equal(value(/^sightline_capture_camera_online\{[^}]*camera="cam"[^}]*\} (\d+)/m), 1);
  assert.equal(value(/^sightline_capture_camera_online\{[^}]*camera="usb"[^}]*\} (\d+)/m), 0);
  assert.ok(value(/^sightline_capture_ffmpeg_restarts_total\{[^}]*camera="usb"[^}]*\} (\d+)/m) >= 1);
  const age = value(/^sightline_capture_last_frame_age_seconds\{[^}]*camera="cam"[^}]*\} ([\d.e-]+)/m);
  assert.ok(age >= 0 && age < 1, `last frame age ${age}`);
  assert.doesNotMatch(text, /sightline_capture_last_frame_age_seconds\{[^}]*camera="usb"/, 'no age before a first frame');
  assert.match(text, /^# TYPE sightline_capture_frames_dropped_total counter/m);
  assert.match(text, /^sightline_bus_messages_published_total\{[^}]*channel="frame"/m);
});

test('a slow publisher never holds ffmpeg back: one frame in flight, the latest waiting, older ones dropped as busy', async (t) => {
  const registry = new Registry();
  const metrics = createCaptureMetrics(registry, () => [], Date.now);
  const sent: Array<{ seq: number; capturedAt: number; at: number }> = [];
  const publisher = {
    connected: () => true,
    publish: async (_camera: string, _jpeg: Buffer, meta: FrameMeta) => {
      await sleep(400);
      sent.push({ seq: meta.seq, capturedAt: meta.capturedAt, at: Date.now() });
      return 1;
    },
  };
  const config = camera('slow', { kind: 'testsrc' }, { fps: 20 });
  const cam = new Camera({
    config,
    ffmpegPath: SYSTEM_FFMPEG,
    input: async () => ffmpegInput(config.source, { fps: 20, width: 320, height: 240, samplePath: '', ioTimeoutUs: 0 }),
    output: ffmpegOutput(config),
    publisher,
    metrics,
    logger: testLogger(),
    now: Date.now,
    backoff: DEFAULT_BACKOFF,
    stallMs: 5000,
  });
  t.after(() => cam.stop());
  cam.start();
  await waitUntil('6 frames published', () => sent.length >= 6, 8000);
  await cam.stop();
  const busy = (await registry.getSingleMetric('sightline_capture_frames_dropped_total')!.get()).values.find((v) => v.labels['reason'] === 'busy')?.value ?? 0;
  assert.ok(busy >= 20, `frames dropped as busy: ${busy}`);
  assert.deepEqual(
    sent.map((s) => s.seq),
    [...sent.keys()],
  );
  // Each frame sent after the first was the newest one when the publisher freed up: at most one
  // frame interval (50 ms at 20 fps) old, not a backlog.
  for (const s of sent.slice(1)) assert.ok(s.at - 400 - s.capturedAt <= 120, `frame waited ${s.at - 400 - s.capturedAt} ms`);
});

import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { connect } from 'mqtt';
import { channels, createTopics, type CameraStatus } from '@sightline/schemas';
import { FrameRate } from '../src/status.ts';
import { camera, sleep, startApp, startBroker, SYSTEM_FFMPEG, tempDir, testConfig, waitUntil } from './helpers.ts';

const system = { ffmpeg: { path: SYSTEM_FFMPEG, origin: 'system' as const } };

interface Seen {
  status: CameraStatus;
  retained: boolean;
  receivedAt: number;
}

/** Every `cameras/+/status` message, decoded with the channel's own codec. */
async function watchStatuses(t: TestContext, url: string) {
  const topics = createTopics('sightline');
  const client = connect(url, { protocolVersion: 4, reconnectPeriod: 200, clientId: `status-${Math.random().toString(16).slice(2)}` });
  t.after(() => client.endAsync(true));
  const seen: Seen[] = [];
  client.on('message', (topic, payload, packet) => {
    if (topics.match(channels.cameraStatus, topic) === null) return;
    seen.push({ status: channels.cameraStatus.codec.decode(payload), retained: packet.retain, receivedAt: Date.now() });
  });
  const filter = topics.filter(channels.cameraStatus, {});
  client.on('connect', () => client.subscribe(filter, { qos: 1 }));
  await new Promise<void>((resolve, reject) => client.once('connect', () => client.subscribe(filter, { qos: 1 }, (err) => (err ? reject(err) : resolve()))));
  return { seen, of: (id: string) => seen.filter((s) => s.status.camera === id).map((s) => s.status) };
}

test('the frame rate is measured between the first and last frame of a 10 s window', () => {
  const rate = new FrameRate(5);
  assert.equal(rate.perSecond(0), 0, 'no frame: no rate');
  rate.record(1000);
  assert.equal(rate.perSecond(1000), 0, 'one frame: no rate yet');
  rate.record(1200);
  assert.equal(rate.perSecond(1200), 5, 'two frames 200 ms apart, just online: 5 fps, not read low');
  for (let t = 1400; t <= 20_000; t += 200) rate.record(t);
  assert.equal(rate.perSecond(20_000), 5);
  assert.equal(rate.perSecond(30_001), 0, 'nothing in the last 10 s');
  const slow = new FrameRate(0.1);
  for (const t of [0, 10_000, 20_000]) slow.record(t);
  assert.equal(slow.perSecond(20_000), 0.1, 'at 0.1 fps the window holds three frames (30 s)');
});

test('camera status: retained, offline while starting or failing (with the reason), online with the measured rate and size, a heartbeat, offline on stop', async (t) => {
  const broker = await startBroker(t);
  const watch = await watchStatuses(t, broker.url);
  const app = await startApp(
    t,
    testConfig(broker.url, tempDir(t), [camera('cam', { kind: 'testsrc' }, { fps: 10 }), camera('usb', { kind: 'v4l2', device: '/dev/video9' })], {
      statusHeartbeatSeconds: 1,
    }),
    system,
  );
  await waitUntil('cam online at about 10 fps', () => watch.of('cam').some((s) => s.state === 'online' && Math.abs(s.fps - 10) <= 2), 8000);
  const cam = watch.of('cam');
  const firstOnline = cam.findIndex((s) => s.state === 'online');
  assert.ok(
    cam.slice(0, firstOnline).every((s) => s.state === 'offline' && s.reason === 'starting'),
    JSON.stringify(cam.slice(0, firstOnline)),
  );
  const online = cam.filter((s) => s.state === 'online');
  assert.ok(
    online.every((s) => s.width === 320 && s.height === 240 && s.reason === undefined && s.since === online[0]!.since),
    JSON.stringify(online),
  );
  assert.ok(online.length <= 6, `an online camera is not republished per frame: ${online.length} statuses`);

  await waitUntil('usb offline with the reason', () => watch.of('usb').some((s) => s.state === 'offline' && /video9|No such file/.test(s.reason ?? '')), 5000);
  // The heartbeat (1 s here) republishes an unchanged status with a fresh time.
  const before = watch.of('usb').length;
  await sleep(2500);
  const beats = watch.of('usb').slice(before);
  assert.ok(beats.length >= 2 && beats.length <= 4, `heartbeats in 2.5 s: ${beats.length}`);
  assert.ok(beats.every((s) => s.state === 'offline' && s.since === beats[0]!.since) && beats.at(-1)!.at > beats[0]!.at);

  // ffmpeg killed: offline at once with why, then online again with a new `since`.
  const pid = app.cameras[0]!.status().pid!;
  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  await waitUntil('cam offline', () => watch.of('cam').some((s) => s.state === 'offline' && /SIGKILL/.test(s.reason ?? '')), 3000);
  const offline = watch.of('cam').find((s) => s.state === 'offline' && /SIGKILL/.test(s.reason ?? ''))!;
  assert.equal(offline.fps, 0);
  assert.ok(offline.since >= killedAt - 50, 'since: when it went offline');
  await waitUntil('cam online again', () => watch.of('cam').at(-1)!.state === 'online', 5000);
  assert.ok(watch.of('cam').at(-1)!.since > offline.since);

  await app.stop();
  const retained = (id: string) => channels.cameraStatus.codec.decode(Buffer.from(broker.retained.get(`sightline/cameras/${id}/status`)!));
  assert.equal(retained('cam').state, 'offline');
  assert.equal(retained('cam').reason, 'stopped');
  assert.equal(retained('usb').reason, 'stopped');
});

test('camera status is published again after a reconnect, long before the heartbeat', async (t) => {
  const broker = await startBroker(t);
  const watch = await watchStatuses(t, broker.url);
  const app = await startApp(t, testConfig(broker.url, tempDir(t), [camera('usb', { kind: 'v4l2', device: '/dev/video9' })]), system);
  await waitUntil('usb offline with the reason', () => watch.of('usb').some((s) => /video9|No such file/.test(s.reason ?? '')), 5000);
  await broker.down();
  await waitUntil('capture sees the broker gone', () => !app.runtime.client.connected, 3000);
  await sleep(300);
  const upAt = Date.now();
  await broker.up();
  // A consumer forgets the statuses of a capture that went offline: capture says them again.
  await waitUntil('a fresh usb status', () => watch.seen.some((s) => s.status.camera === 'usb' && !s.retained && s.status.at >= upAt), 4000);
});

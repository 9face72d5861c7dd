import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { isCompleteJpeg } from '@sightline/schemas';
import { parseSource } from '../src/sources.ts';
import { camera, ffmpegRun, SYSTEM_FFMPEG, sleep, startApp, startBroker, subscribeFrames, tempDir, testConfig, waitUntil } from './helpers.ts';

/** An HTTP server that streams live MPEG-TS made by a real-time ffmpeg, one per request. */
async function startHttpStream(t: import('node:test').TestContext): Promise<string> {
  const server = http.createServer((req, res) => {
    const ff = spawn(SYSTEM_FFMPEG, [
      '-nostdin',
      '-v',
      'error',
      '-re',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=320x240:rate=10',
      '-c:v',
      'mpeg2video',
      '-q:v',
      '5',
      '-flush_packets',
      '1',
      '-f',
      'mpegts',
      'pipe:1',
    ]);
    res.writeHead(200, { 'content-type': 'video/mp2t' });
    ff.stdout.pipe(res);
    const end = () => ff.kill('SIGKILL');
    req.on('close', end);
    res.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/live.ts`;
}

test('every source kind that can exist here publishes valid, stamped frames at the configured rate', async (t) => {
  const dir = tempDir(t, 'sources');
  const broker = await startBroker(t);
  const subscriber = await subscribeFrames(t, broker.url);

  // A looped video file and a folder of images, made here with ffmpeg.
  const video = path.join(dir, 'clip.mp4');
  assert.equal(
    (await ffmpegRun(SYSTEM_FFMPEG, ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=10:duration=1', '-c:v', 'mpeg4', video])).code,
    0,
  );
  const images = path.join(dir, 'images');
  assert.equal(
    (await ffmpegRun(SYSTEM_FFMPEG, ['-v', 'error', '-f', 'lavfi', '-i', 'mandelbrot=size=400x300:rate=1', '-frames:v', '3', '-y', `${dir}/m%02d.jpg`])).code,
    0,
  );
  const { mkdirSync, renameSync } = await import('node:fs');
  mkdirSync(images);
  for (const n of ['01', '02', '03']) renameSync(`${dir}/m${n}.jpg`, `${images}/img [${n}].jpg`);
  writeFileSync(path.join(images, 'notes.txt'), 'not an image');
  const url = await startHttpStream(t);

  const app = await startApp(
    t,
    testConfig(broker.url, path.join(dir, 'data'), [
      camera('pattern', { kind: 'testsrc' }),
      camera('clip', { kind: 'file', path: video }, { fps: 4 }),
      camera('album', parseSource(`dir:${images}`), { fps: 3, width: 256, height: 256 }),
      camera('web', { kind: 'http', url }),
      camera('usb', { kind: 'v4l2', device: '/dev/video9' }),
    ]),
    { ffmpeg: { path: SYSTEM_FFMPEG, origin: 'system' } },
  );

  for (const id of ['pattern', 'clip', 'album', 'web']) await subscriber.waitFor(id, 1, 8000);
  // A live stream starts with a short burst: the frames ffmpeg buffered while probing it.
  await sleep(1000);
  const windowStart = Date.now();
  await sleep(4000);
  const windowEnd = Date.now();
  const seconds = (windowEnd - windowStart) / 1000;

  for (const [id, fps, width, height] of [
    ['pattern', 5, 320, 240],
    ['clip', 4, 320, 240],
    ['album', 3, 256, 256],
    ['web', 5, 320, 240],
  ] as const) {
    const frames = subscriber.of(id);
    assert.ok(frames.length > 0, `${id} published frames`);
    const inWindow = frames.filter((f) => f.receivedAt >= windowStart && f.receivedAt < windowEnd).length;
    const rate = inWindow / seconds;
    assert.ok(rate >= fps * 0.8 && rate <= fps * 1.2, `${id}: ${rate.toFixed(2)} fps, configured ${fps}`);
    frames.forEach((f, i) => {
      const meta = f.frame.meta;
      assert.equal(f.topic, `sightline/cameras/${id}/frame`);
      assert.equal(meta.camera, id);
      assert.equal(meta.seq, i, `${id}: seq increases by 1`);
      assert.equal(meta.width, width);
      assert.equal(meta.height, height);
      assert.ok(meta.capturedAt <= f.receivedAt && meta.capturedAt > f.receivedAt - 2000, `${id}: capturedAt is the read time`);
      assert.ok(isCompleteJpeg(f.frame.jpeg));
    });
  }

  // A published frame is a JPEG ffmpeg decodes, at the configured size.
  const last = subscriber.of('album').at(-1)!;
  const jpegFile = path.join(dir, 'frame.jpg');
  writeFileSync(jpegFile, last.frame.jpeg);
  const probe = await ffmpegRun(SYSTEM_FFMPEG, ['-v', 'info', '-i', jpegFile, '-f', 'null', '-']);
  assert.equal(probe.code, 0, probe.stderr);
  assert.match(probe.stderr, /256x256/);

  // No V4L2 device here: the camera is offline, retried with growing pauses, and nothing crashed.
  const usb = app.cameras.find((c) => c.id === 'usb')!;
  await waitUntil('the usb camera was retried twice', () => usb.status().restarts >= 2, 5000);
  const status = usb.status();
  assert.equal(status.online, false);
  assert.match(status.reason ?? '', /video9|No such file|exited/i);
  assert.equal(subscriber.of('usb').length, 0);

  const ready = await app.runtime.http.inject({ method: 'GET', url: '/readyz' });
  assert.equal(ready.statusCode, 503);
  assert.match(ready.json().reason, /usb \(offline: .*\)/);
  assert.doesNotMatch(ready.json().reason, /pattern|clip|album|web/);
});

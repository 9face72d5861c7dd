import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { bundledFfmpeg, selectFfmpeg, systemFfmpeg } from '../src/ffmpeg.ts';
import { ensureSampleVideo, isPlayableVideo, SAMPLE_FILE } from '../src/sample-video.ts';
import { ffmpegInput, ffmpegOutput, parseSource, videoFilters } from '../src/sources.ts';
import { BUNDLED_FFMPEG, camera, ffmpegRun, sleep, startApp, startBroker, subscribeFrames, SYSTEM_FFMPEG, tempDir, testConfig } from './helpers.ts';

test('ffmpeg choice: FFMPEG_PATH, else ffmpeg on the PATH, else the bundled binary', (t) => {
  const dir = tempDir(t, 'which');
  assert.deepEqual(selectFfmpeg(BUNDLED_FFMPEG, ''), { path: BUNDLED_FFMPEG, origin: 'FFMPEG_PATH' });
  assert.throws(() => selectFfmpeg(path.join(dir, 'nope')), /FFMPEG_PATH .*nope is not an executable file/);
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(SYSTEM_FFMPEG, path.join(bin, 'ffmpeg'));
  assert.deepEqual(selectFfmpeg(undefined, `${path.join(dir, 'empty')}:${bin}`), { path: path.join(bin, 'ffmpeg'), origin: 'system' });
  assert.equal(systemFfmpeg(path.join(dir, 'empty')), null);
  assert.deepEqual(selectFfmpeg(undefined, path.join(dir, 'empty')), { path: bundledFfmpeg(), origin: 'bundled' });
  assert.match(BUNDLED_FFMPEG, /@ffmpeg-installer/);
});

test('both the system ffmpeg and the bundled ffmpeg 4.1 make the sample video and publish its frames', async (t) => {
  const broker = await startBroker(t);
  const subscriber = await subscribeFrames(t, broker.url);
  const dir = tempDir(t, 'binaries');
  const apps = await Promise.all(
    [
      ['sys', SYSTEM_FFMPEG, 'system'],
      ['bundled', BUNDLED_FFMPEG, 'bundled'],
    ].map(([id, file, origin]) =>
      startApp(
        t,
        testConfig(broker.url, path.join(dir, id!), [camera(id!, { kind: 'sample' }, { fps: 5, motion: { threshold: 0.01, keepaliveSeconds: 2 } })]),
        {
          ffmpeg: { path: file!, origin: origin as 'system' | 'bundled' },
        },
      ),
    ),
  );
  await Promise.all(['sys', 'bundled'].map((id) => subscriber.waitFor(id, 6, 15_000)));
  for (const [id, file] of [
    ['sys', SYSTEM_FFMPEG],
    ['bundled', BUNDLED_FFMPEG],
  ] as const) {
    const sample = path.join(dir, id, SAMPLE_FILE);
    assert.ok(statSync(sample).size > 10_000, `${id} made ${sample}`);
    assert.equal(await isPlayableVideo(file, sample), true);
    const frame = subscriber.of(id).at(-1)!.frame;
    const jpeg = path.join(dir, `${id}.jpg`);
    writeFileSync(jpeg, frame.jpeg);
    const decoded = await ffmpegRun(file, ['-v', 'info', '-i', jpeg, '-f', 'null', '-']);
    assert.equal(decoded.code, 0, decoded.stderr);
    assert.match(decoded.stderr, /320x240/);
  }
  assert.equal(apps.length, 2);
});

test('the sample video is cached, and made again when it is missing or corrupt', async (t) => {
  const dir = tempDir(t, 'sample');
  const file = path.join(dir, SAMPLE_FILE);
  writeFileSync(file, 'this is not a video');
  const made = await ensureSampleVideo(BUNDLED_FFMPEG, dir);
  assert.equal(made, file);
  assert.equal(await isPlayableVideo(BUNDLED_FFMPEG, file), true, 'the corrupt file was replaced');
  const bytes = readFileSync(file);
  const mtime = statSync(file).mtimeMs;
  await sleep(20);
  assert.equal(await ensureSampleVideo(BUNDLED_FFMPEG, dir), file);
  assert.equal(statSync(file).mtimeMs, mtime, 'a good file is kept');
  // A six-second loop of moving content: the first and a later frame differ.
  const probe = await ffmpegRun(SYSTEM_FFMPEG, ['-v', 'info', '-i', file, '-f', 'null', '-']);
  assert.match(probe.stderr, /Duration: 00:00:06/);
  assert.ok(bytes.length > 100_000);
});

test('the motion gate: a static scene sends only keepalive frames, a moving one every frame', async (t) => {
  const broker = await startBroker(t);
  const subscriber = await subscribeFrames(t, broker.url);
  const gate = { threshold: 0.01, keepaliveSeconds: 1 };
  await startApp(
    t,
    testConfig(broker.url, tempDir(t), [
      camera('still', { kind: 'lavfi', graph: 'color=c=gray:size=320x240:rate=10' }, { fps: 10, motion: gate }),
      camera('moving', { kind: 'testsrc' }, { fps: 10, motion: gate }),
      camera('ungated', { kind: 'lavfi', graph: 'color=c=gray:size=320x240:rate=10' }, { fps: 10 }),
    ]),
    { ffmpeg: { path: SYSTEM_FFMPEG, origin: 'system' } },
  );
  await Promise.all(['still', 'moving', 'ungated'].map((id) => subscriber.waitFor(id, 1, 8000)));
  await sleep(3000);
  const counts = Object.fromEntries(['still', 'moving', 'ungated'].map((id) => [id, subscriber.of(id).length]));
  assert.ok(counts['moving']! >= 24, `moving scene: ${JSON.stringify(counts)}`);
  assert.ok(counts['ungated']! >= 24, `static scene without the gate: ${JSON.stringify(counts)}`);
  assert.ok(counts['still']! >= 2 && counts['still']! <= 5, `static scene with the gate, keepalive 1 s: ${JSON.stringify(counts)}`);
  assert.deepEqual(
    subscriber.of('still').map((f) => f.frame.meta.seq),
    [...Array(counts['still']).keys()],
  );
});

test('source inputs: V4L2, RTSP over TCP, HTTP with an I/O timeout, looped files, image folders; filters and output options apart', (t) => {
  const opts = { fps: 5, width: 640, height: 480, samplePath: '/data/sample.mp4', ioTimeoutUs: 10_000_000 };
  assert.deepEqual(ffmpegInput({ kind: 'v4l2', device: '/dev/video0' }, opts), { options: ['-f', 'v4l2'], input: '/dev/video0' });
  assert.deepEqual(ffmpegInput({ kind: 'rtsp', url: 'rtsp://cam/stream' }, opts), {
    options: ['-rtsp_transport', 'tcp', '-analyzeduration', '2000000'],
    input: 'rtsp://cam/stream',
  });
  assert.deepEqual(ffmpegInput({ kind: 'http', url: 'http://cam/video' }, opts), {
    options: ['-rw_timeout', '10000000', '-analyzeduration', '2000000'],
    input: 'http://cam/video',
  });
  assert.deepEqual(ffmpegInput({ kind: 'file', path: '/v.mp4' }, opts), { options: ['-re', '-stream_loop', '-1'], input: '/v.mp4' });
  assert.deepEqual(ffmpegInput({ kind: 'sample' }, opts), { options: ['-re', '-stream_loop', '-1'], input: '/data/sample.mp4' });
  assert.deepEqual(ffmpegInput({ kind: 'testsrc' }, opts), { options: ['-re', '-f', 'lavfi'], input: 'testsrc2=size=640x480:rate=5' });
  const dir = tempDir(t, 'args');
  const odd = path.join(dir, 'a [b] {c}*');
  mkdirSync(odd);
  writeFileSync(path.join(odd, 'x.png'), '');
  const folder = ffmpegInput(parseSource(`dir:${odd}`), opts);
  assert.deepEqual(folder.options.slice(-2), ['-c:v', 'png']);
  assert.equal(folder.input, `${dir}/a \\[b\\] \\{c\\}\\*/*.{png,PNG,Png}`);
  assert.deepEqual(videoFilters({ fps: 5, width: 640, height: 480, qscale: 5, motion: null }), [
    'fps=5',
    'scale=640:480:force_original_aspect_ratio=decrease',
    'pad=640:480:(ow-iw)/2:(oh-ih)/2',
    'setsar=1',
  ]);
  const gated = ffmpegOutput({ fps: 5, width: 640, height: 480, qscale: 7, motion: { threshold: 0.02, keepaliveSeconds: 10 } });
  assert.equal(gated.filters.at(-1), 'mpdecimate=hi=768:lo=320:frac=0.02:max=49');
  assert.deepEqual(gated.options, ['-an', '-vsync', 'passthrough', '-c:v', 'mjpeg', '-q:v', '7', '-f', 'image2pipe']);
});

test('an image folder is listed once, when its source is parsed: the input uses that listing', (t) => {
  const dir = tempDir(t, 'listing');
  writeFileSync(path.join(dir, 'a.jpg'), '');
  const source = parseSource(`dir:${dir}`);
  assert.deepEqual(source.kind === 'dir' && source.images, { codec: 'mjpeg', files: ['a.jpg'], ignored: [] });
  // The folder changes afterwards: the input is made from the listing the source carries.
  rmSync(path.join(dir, 'a.jpg'));
  writeFileSync(path.join(dir, 'b.png'), '');
  const input = ffmpegInput(source, { fps: 5, width: 640, height: 480, samplePath: '', ioTimeoutUs: 0 });
  assert.deepEqual(input.options.slice(-2), ['-c:v', 'mjpeg']);
});

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '@sightline/kit';
import { loadCaptureConfig, MAX_CAMERAS_FILE_BYTES } from '../src/config.ts';
import { parseSource, qscaleFromQuality } from '../src/sources.ts';
import { BUNDLED_FFMPEG, tempDir } from './helpers.ts';

function problems(env: NodeJS.ProcessEnv, cwd?: string): string[] {
  try {
    loadCaptureConfig(env, cwd);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

test('defaults: one camera "demo" showing the sample video, 5 fps, 640x480, quality 75, no motion gate', (t) => {
  const dir = tempDir(t, 'cfg');
  const config = loadCaptureConfig({}, dir);
  assert.deepEqual(config.http, { host: '127.0.0.1', port: 8082, allowedHosts: [], token: null });
  assert.equal(config.dataDir, path.join(dir, '.data', 'capture'));
  assert.equal(config.ffmpegPath, undefined);
  assert.equal(config.stallSeconds, 10);
  assert.equal(config.statusHeartbeatSeconds, 30);
  assert.deepEqual(config.cameras, [{ id: 'demo', source: { kind: 'sample' }, fps: 5, width: 640, height: 480, quality: 75, qscale: 9, motion: null }]);
  assert.equal(config.mqtt.url, 'mqtt://127.0.0.1:1883');

  const custom = loadCaptureConfig(
    {
      SIGHTLINE_DATA_DIR: '/var/lib/sightline',
      SIGHTLINE_CAPTURE_CAMERA: 'door',
      SIGHTLINE_CAPTURE_SOURCE: 'rtsp://user:pw@10.0.0.5/stream1',
      SIGHTLINE_CAPTURE_FPS: '2.5',
      SIGHTLINE_CAPTURE_QUALITY: '100',
      SIGHTLINE_CAPTURE_MOTION: 'true',
      SIGHTLINE_CAPTURE_MOTION_THRESHOLD: '0.05',
      SIGHTLINE_CAPTURE_KEEPALIVE_SECONDS: '30',
      SIGHTLINE_CAPTURE_FFMPEG_PATH: BUNDLED_FFMPEG,
      SIGHTLINE_INFERENCE_MODEL: 'belongs to another service',
    },
    dir,
  );
  assert.equal(custom.dataDir, '/var/lib/sightline/capture');
  assert.equal(custom.ffmpegPath, BUNDLED_FFMPEG);
  assert.deepEqual(custom.cameras[0], {
    id: 'door',
    source: { kind: 'rtsp', url: 'rtsp://user:pw@10.0.0.5/stream1' },
    fps: 2.5,
    width: 640,
    height: 480,
    quality: 100,
    qscale: 2,
    motion: { threshold: 0.05, keepaliveSeconds: 30 },
  });
});

test('quality 1-100 maps onto ffmpeg -q:v 31-2', () => {
  assert.equal(qscaleFromQuality(1), 31);
  assert.equal(qscaleFromQuality(100), 2);
  assert.equal(qscaleFromQuality(75), 9);
});

test('env problems are all reported, each naming its setting', () => {
  const found = problems({
    SIGHTLINE_CAPTURE_FPZ: '5',
    SIGHTLINE_CAPTURE_FPS: '0',
    SIGHTLINE_CAPTURE_WIDTH: 'wide',
    SIGHTLINE_CAPTURE_QUALITY: '101',
    SIGHTLINE_CAPTURE_MOTION: 'maybe',
    SIGHTLINE_CAPTURE_CAMERA: 'front door',
  });
  const text = found.join('\n');
  assert.match(text, /SIGHTLINE_CAPTURE_FPZ: unknown setting for capture/);
  assert.match(text, /SIGHTLINE_CAPTURE_FPS: must be at least 0.1/);
  assert.match(text, /SIGHTLINE_CAPTURE_WIDTH: must be a number/);
  assert.match(text, /SIGHTLINE_CAPTURE_QUALITY: must be at most 100/);
  assert.match(text, /SIGHTLINE_CAPTURE_MOTION: must be true or false/);
  assert.match(text, /SIGHTLINE_CAPTURE_CAMERA: must be 1-64 characters/);
  assert.equal(found.length, 6);
  assert.match(problems({ SIGHTLINE_CAPTURE_FPS: '120' }).join(), /SIGHTLINE_CAPTURE_FPS: must be at most 60/);
  assert.match(
    problems({ SIGHTLINE_CAPTURE_FFMPEG_PATH: '/nowhere/ffmpeg' }).join(),
    /SIGHTLINE_CAPTURE_FFMPEG_PATH: \/nowhere\/ffmpeg is not an executable file/,
  );
});

test('bad sources are refused with a clear reason', (t) => {
  const dir = tempDir(t, 'src');
  const bad: Array<[string, RegExp]> = [
    ['ftp://cam/x', /unknown source scheme "ftp:\/\/"/],
    ['webcam:0', /unknown source scheme "webcam:"/],
    ['camera1', /unknown source "camera1"/],
    ['/no/such/video.mp4', /video file \/no\/such\/video.mp4 does not exist/],
    ['dir:/no/such/folder', /folder \/no\/such\/folder does not exist/],
    [`dir:${dir}`, /holds no .jpg, .jpeg or .png images/],
    [dir, /is a folder: use dir:/],
    ['rtsp://', /not a valid URL|has no host/],
    ['lavfi:', /lavfi: needs a filtergraph/],
    ['', /must not be empty/],
    ['  ', /source is empty/],
  ];
  for (const [spec, why] of bad) {
    assert.match(problems({ SIGHTLINE_CAPTURE_SOURCE: spec }, dir).join('\n'), new RegExp(`SIGHTLINE_CAPTURE_SOURCE: .*${why.source}`), spec);
  }
  // A V4L2 camera may be plugged in later: only its syntax is checked.
  assert.deepEqual(parseSource('/dev/video9'), { kind: 'v4l2', device: '/dev/video9' });
  assert.deepEqual(parseSource('v4l2:/dev/v4l/by-id/usb-cam'), { kind: 'v4l2', device: '/dev/v4l/by-id/usb-cam' });
  assert.deepEqual(parseSource('https://cam.local/mjpeg'), { kind: 'http', url: 'https://cam.local/mjpeg' });
  assert.deepEqual(parseSource('testsrc'), { kind: 'testsrc' });
  // Credentials in a URL never reach an error message.
  assert.doesNotMatch(problems({ SIGHTLINE_CAPTURE_SOURCE: 'gopher://user:secret@cam/x' }).join(), /secret/);
});

test('a cameras file lists several cameras; entries inherit the env settings', (t) => {
  const dir = tempDir(t, 'cams');
  mkdirSync(path.join(dir, 'pics'));
  writeFileSync(path.join(dir, 'pics', 'a.jpg'), 'x');
  const file = path.join(dir, 'cameras.json');
  writeFileSync(
    file,
    JSON.stringify({
      cameras: [
        { id: 'front', source: 'rtsp://10.0.0.5/live', fps: 2, motion: { threshold: 0.05 } },
        { id: 'album', source: 'dir:pics', width: 320, height: 320, quality: 50 },
        { id: 'pattern', source: 'testsrc', motion: true },
      ],
    }),
  );
  const config = loadCaptureConfig({ SIGHTLINE_CAPTURE_CAMERAS_FILE: file, SIGHTLINE_CAPTURE_FPS: '4', SIGHTLINE_CAPTURE_KEEPALIVE_SECONDS: '20' });
  assert.deepEqual(
    config.cameras.map((c) => [c.id, c.source, c.fps, c.width, c.height, c.quality, c.motion]),
    [
      ['front', { kind: 'rtsp', url: 'rtsp://10.0.0.5/live' }, 2, 640, 480, 75, { threshold: 0.05, keepaliveSeconds: 20 }],
      ['album', { kind: 'dir', path: path.join(dir, 'pics'), images: { codec: 'mjpeg', files: ['a.jpg'], ignored: [] } }, 4, 320, 320, 50, null],
      ['pattern', { kind: 'testsrc' }, 4, 640, 480, 75, { threshold: 0.01, keepaliveSeconds: 20 }],
    ],
  );
});

test('corrupt, empty, hostile cameras files are refused, naming the problem', (t) => {
  const dir = tempDir(t, 'hostile');
  const write = (name: string, content: string | Buffer) => {
    const file = path.join(dir, name);
    writeFileSync(file, content);
    return file;
  };
  const check = (file: string, why: RegExp, extra: NodeJS.ProcessEnv = {}) => {
    const text = problems({ SIGHTLINE_CAPTURE_CAMERAS_FILE: file, ...extra }).join('\n');
    assert.match(text, why, text);
    return text;
  };
  check(path.join(dir, 'missing.json'), /SIGHTLINE_CAPTURE_CAMERAS_FILE: .*missing.json does not exist/);
  check(dir, /SIGHTLINE_CAPTURE_CAMERAS_FILE: .* is a folder/);
  check(write('empty.json', ''), /empty.json is empty/);
  check(write('blank.json', '  \n '), /blank.json is empty/);
  check(write('notjson.json', 'cameras: [front]'), /notjson.json is not valid JSON/);
  check(write('binary.json', Buffer.from([0xff, 0xfe, 0x00, 0x01])), /is not valid JSON/);
  check(write('array.json', '[{"id":"a","source":"testsrc"}]'), /array.json: \(top level\): .*expected object/i);
  check(write('none.json', '{"cameras":[]}'), /cameras: must list at least one camera/);
  check(write('typo.json', '{"cameras":[{"id":"a","source":"testsrc","fsp":5}]}'), /cameras\.0: Unrecognized key.*"fsp"/);
  check(write('proto.json', '{"cameras":[{"id":"a","source":"testsrc","__proto__":{"admin":true}}]}'), /cameras\.0: Unrecognized key.*"__proto__"/);
  check(write('fps.json', '{"cameras":[{"id":"a","source":"testsrc","fps":"fast"}]}'), /cameras\.0\.fps: .*expected number/i);
  check(write('badid.json', '{"cameras":[{"id":"a/#","source":"testsrc"}]}'), /cameras\.0\.id: must be 1-64 characters/);
  check(
    write('dupe.json', '{"cameras":[{"id":"a","source":"testsrc"},{"id":"b","source":"testsrc"},{"id":"a","source":"sample"}]}'),
    /cameras\.2\.id: duplicate camera id "a" \(also cameras\.0\.id\)/,
  );
  const both = check(
    write('srcs.json', '{"cameras":[{"id":"a","source":"ftp://x/y"},{"id":"b","source":"/no/file.mp4"}]}'),
    /cameras\.0\.source: unknown source scheme "ftp:\/\/"/,
  );
  assert.match(both, /cameras\.1\.source: video file \/no\/file.mp4 does not exist/, 'every bad camera is reported');
  const many = { cameras: Array.from({ length: 33 }, (_, i) => ({ id: `c${i}`, source: 'testsrc' })) };
  check(write('many.json', JSON.stringify(many)), /cameras: must list at most 32 cameras/);
  // A huge file is refused without being read whole.
  const huge = write('huge.json', Buffer.alloc(MAX_CAMERAS_FILE_BYTES * 40, 0x20));
  check(huge, /huge.json is larger than 262144 bytes/);
  const deep = write('deep.json', `${'['.repeat(100_000)}${']'.repeat(100_000)}`);
  check(deep, /deep.json(: \(top level\): .*expected object| is not valid JSON)/);
  check(write('ok.json', '{"cameras":[{"id":"a","source":"testsrc"}]}'), /SIGHTLINE_CAPTURE_SOURCE: cannot be used with SIGHTLINE_CAPTURE_CAMERAS_FILE/, {
    SIGHTLINE_CAPTURE_SOURCE: 'testsrc',
  });
});

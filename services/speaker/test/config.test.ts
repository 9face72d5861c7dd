import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '@sightline/kit';
import { createHeadsetSink, createSink, FileSink, loadSpeakerConfig, NoneSink, ProcessSink, PulseStreamSink } from '../src/index.ts';

test('defaults: auto output (pulse stream when a server answers), every lane, 10 s max age, interruption and earcons on, port 8086', () => {
  const config = { ...loadSpeakerConfig({}, '/srv'), output: 'pulse' as const };
  assert.equal(loadSpeakerConfig({}, '/srv').output, 'auto');
  assert.equal(config.pulse.mode, 'stream');
  assert.equal(config.pulse.latencyMs, 60);
  assert.equal(config.pulse.device, undefined);
  assert.equal(config.lanes, null);
  assert.equal(config.maxAgeMs, 10_000);
  assert.equal(config.interruptOnScan, true);
  assert.equal(config.earcon, true);
  assert.equal(config.defaultLocale, 'en-US');
  assert.deepEqual(config.http, { host: '127.0.0.1', port: 8086, allowedHosts: [], token: null });
  assert.equal(config.file.dir, path.join('/srv', '.data', 'speaker', 'played'));
  assert.ok(createSink(config) instanceof PulseStreamSink);
});

test('every output can be chosen', () => {
  const sink = (settings: Record<string, string>) => createSink(loadSpeakerConfig(settings, '/srv'));
  assert.ok(sink({ SIGHTLINE_SPEAKER_OUTPUT: 'file', SIGHTLINE_SPEAKER_FILE_DIR: 'out' }) instanceof FileSink);
  assert.ok(sink({ SIGHTLINE_SPEAKER_OUTPUT: 'none' }) instanceof NoneSink);
  assert.equal(sink({ SIGHTLINE_SPEAKER_OUTPUT: 'alsa' }).name, 'alsa');
  assert.ok(sink({ SIGHTLINE_SPEAKER_OUTPUT: 'alsa' }) instanceof ProcessSink);
  assert.equal(sink({ SIGHTLINE_SPEAKER_OUTPUT: 'pulse', SIGHTLINE_SPEAKER_PULSE_MODE: 'paplay' }).name, 'pulse-paplay');
  assert.throws(() => sink({}), /output auto must be resolved/);
  const config = loadSpeakerConfig(
    { SIGHTLINE_SPEAKER_FILE_DIR: 'out', SIGHTLINE_SPEAKER_FILE_MAX_MB: '1.5', SIGHTLINE_SPEAKER_LANES: 'lane-1, lane-2,lane-1' },
    '/srv',
  );
  assert.equal(config.file.dir, '/srv/out');
  assert.equal(config.file.maxBytes, 1.5 * 1024 * 1024);
  assert.deepEqual(config.lanes, ['lane-1', 'lane-2']);
});

test('every problem is reported at once, unknown speaker settings included', () => {
  assert.throws(
    () =>
      loadSpeakerConfig({
        SIGHTLINE_SPEAKER_OUTPUT: 'bluetooth',
        SIGHTLINE_SPEAKER_MAX_AGE_SECONDS: 'soon',
        SIGHTLINE_SPEAKER_LANES: 'lane-1,lane/2,#',
        SIGHTLINE_SPEAKER_LATENCY_MS: '1',
        SIGHTLINE_SPEAKER_LOCALE: 'english',
        SIGHTLINE_SPEAKER_VOLUME: '11',
        SIGHTLINE_TTS_VOICE: 'belongs to tts: not our business',
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const text = err.problems.join('\n');
      for (const key of [
        'SIGHTLINE_SPEAKER_OUTPUT',
        'SIGHTLINE_SPEAKER_MAX_AGE_SECONDS',
        'SIGHTLINE_SPEAKER_LATENCY_MS',
        'SIGHTLINE_SPEAKER_LOCALE',
        'SIGHTLINE_SPEAKER_VOLUME: unknown setting',
      ]) {
        assert.ok(text.includes(key), `${key} in\n${text}`);
      }
      assert.ok(!text.includes('SIGHTLINE_TTS_VOICE'));
      return true;
    },
  );
  assert.throws(() => loadSpeakerConfig({ SIGHTLINE_SPEAKER_LANES: 'lane-1,lane/2' }), /SIGHTLINE_SPEAKER_LANES: "lane\/2" is not a lane id/);
  assert.throws(() => loadSpeakerConfig({ SIGHTLINE_SPEAKER_LANES: ' , ' }), /lists no lane/);
});

test('queue and lane bounds: defaults, configured lanes are never forgotten, and the total must hold one lane', () => {
  const config = loadSpeakerConfig({}, '/srv');
  assert.deepEqual(
    {
      items: config.maxQueuePerLane,
      ms: config.maxQueueMsPerLane,
      clip: config.maxClipMs,
      lanes: config.maxLanes,
      bytes: config.maxQueuedBytes,
      idle: config.laneIdleMs,
    },
    { items: 40, ms: 120_000, clip: 15_000, lanes: 64, bytes: 64 * 1024 * 1024, idle: 3_600_000 },
  );
  const fixed = loadSpeakerConfig({ SIGHTLINE_SPEAKER_LANES: 'lane-1,lane-2' }, '/srv');
  assert.equal(fixed.maxLanes, 2);
  assert.equal(fixed.laneIdleMs, null);
  assert.throws(
    () => loadSpeakerConfig({ SIGHTLINE_SPEAKER_MAX_QUEUE_SECONDS: '600', SIGHTLINE_SPEAKER_MAX_QUEUED_MB: '64' }),
    /SIGHTLINE_SPEAKER_MAX_QUEUED_MB: must hold one lane's SIGHTLINE_SPEAKER_MAX_QUEUE_SECONDS .* twice, waiting and kept for repeat \(at least 220\)/,
  );
});

test('controls: repeat window, volume levels, headsets per lane; impossible combinations refused', () => {
  const config = loadSpeakerConfig({}, '/srv');
  assert.equal(config.repeatAgainMs, 4000);
  assert.deepEqual(config.volume, { steps: 8, defaultLevel: 6, headsetDefaultLevel: 6, stepDb: 3 });
  assert.equal(config.headsets.size, 0);
  const headsets = loadSpeakerConfig(
    {
      SIGHTLINE_SPEAKER_HEADSETS: 'lane-1=alsa_output.usb-Jabra.analog-stereo, lane-2 = headset-2',
      SIGHTLINE_SPEAKER_HEADSET_VOLUME_DEFAULT: '4',
      SIGHTLINE_SPEAKER_VOLUME_STEPS: '10',
      SIGHTLINE_SPEAKER_VOLUME_DEFAULT: '8',
      SIGHTLINE_SPEAKER_VOLUME_STEP_DB: '2',
      SIGHTLINE_SPEAKER_REPEAT_AGAIN_SECONDS: '0',
      SIGHTLINE_SPEAKER_OUTPUT: 'file',
      SIGHTLINE_SPEAKER_FILE_DIR: 'out',
    },
    '/srv',
  );
  assert.deepEqual(
    [...headsets.headsets],
    [
      ['lane-1', 'alsa_output.usb-Jabra.analog-stereo'],
      ['lane-2', 'headset-2'],
    ],
  );
  assert.deepEqual(headsets.volume, { steps: 10, defaultLevel: 8, headsetDefaultLevel: 4, stepDb: 2 });
  assert.equal(headsets.repeatAgainMs, 0);
  const headsetSink = createHeadsetSink(headsets, 'headset-2');
  assert.ok(headsetSink instanceof FileSink);
  assert.equal((createHeadsetSink({ ...headsets, output: 'pulse' }, 'sink_x') as PulseStreamSink).name, 'pulse');

  assert.throws(
    () =>
      loadSpeakerConfig({
        SIGHTLINE_SPEAKER_LANES: 'lane-1',
        SIGHTLINE_SPEAKER_HEADSETS: 'lane-1=ok,lane-2=ok,lane-1=again,lane-3=../up,lane-4,lane/5=x',
        SIGHTLINE_SPEAKER_VOLUME_STEPS: '4',
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const text = err.problems.join('\n');
      for (const problem of [
        'lane lane-1 is listed twice',
        '"../up": must be',
        '"lane-4" is not lane=device',
        '"lane/5" is not a lane id',
        'SIGHTLINE_SPEAKER_VOLUME_STEPS: must be at least 8',
      ])
        assert.ok(text.includes(problem), `${problem} in\n${text}`);
      return true;
    },
  );
  assert.throws(
    () => loadSpeakerConfig({ SIGHTLINE_SPEAKER_LANES: 'lane-1', SIGHTLINE_SPEAKER_HEADSETS: 'lane-2=x' }),
    /lane lane-2 is not among SIGHTLINE_SPEAKER_LANES/,
  );
  assert.throws(() => loadSpeakerConfig({ SIGHTLINE_SPEAKER_VOLUME_DEFAULT: '9' }), /VOLUME_DEFAULT: must be at most SIGHTLINE_SPEAKER_VOLUME_STEPS \(8\)/);
  assert.throws(() => loadSpeakerConfig({ SIGHTLINE_SPEAKER_HEADSET_VOLUME_DEFAULT: '9' }), /HEADSET_VOLUME_DEFAULT: must be at most/);
  assert.throws(
    () => loadSpeakerConfig({ SIGHTLINE_SPEAKER_VOLUME_DEFAULT: '1', SIGHTLINE_SPEAKER_VOLUME_STEP_DB: '3' }),
    /the top level would play at \+21 dB/,
  );
});

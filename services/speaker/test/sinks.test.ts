import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { parseWav, pcmDurationMs } from '@sightline/schemas';
import { sleep } from '@sightline/kit/testing';
import { aplayArgs, createAlsaSink, createPaplaySink, FileSink, NoneSink, PulseStreamSink, SinkError, type AudioSink, type Clip } from '../src/index.ts';
import { startPulseServer, type CleanupScope, type PulseServer, type Recording } from './pulse-server.ts';
import { tone } from './tones.ts';

function clip(frequency: number, ms: number, sampleRate = 22050, channels = 1): Clip {
  let samples = tone(frequency, ms, sampleRate);
  if (channels === 2) {
    const stereo = Buffer.alloc(samples.length * 2);
    for (let i = 0; i < samples.length / 2; i++) {
      stereo.writeInt16LE(samples.readInt16LE(i * 2), i * 4);
      stereo.writeInt16LE(samples.readInt16LE(i * 2), i * 4 + 2);
    }
    samples = stereo;
  }
  return { samples, format: { sampleRate, channels }, durationMs: ms, label: { lane: 'lane-1', kind: 'scan', id: `tone-${frequency}` } };
}

function tempDir(t: CleanupScope): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'speaker-sink-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface SinkUnderTest {
  sink: AudioSink;
  /** Present for real outputs: what came out of the speaker. */
  recording?: Recording;
}

/** Every output must pass these, whatever it plays to (the aedes habit: one suite, many backends). */
function sinkSuite(name: string, setUp: (scope: CleanupScope) => Promise<SinkUnderTest>): void {
  describe(`${name} output`, () => {
    let made: SinkUnderTest;
    let mark = 0;
    const cleanups: Array<() => unknown> = [];
    before(async () => {
      made = await setUp({ after: (fn) => cleanups.push(fn) });
    });
    after(async () => {
      await made.sink.close();
      for (const cleanup of cleanups.reverse()) await cleanup();
    });
    /** The shared sink, and the recording only from this test on. */
    const make = async (_t: TestContext) => {
      mark = made.recording?.mark() ?? 0;
      return made;
    };
    const heardSince = (recording: Recording, freqs: number[]) => recording.tones(freqs, mark);

    test('plays a clip in real time and reports when it started and ended', async (t) => {
      const { sink, recording } = await make(t);
      await sink.open();
      let startedCalls = 0;
      let startedAt = 0;
      const before = Date.now();
      const played = await sink.play(clip(2000, 400), {
        onStarted: (at) => {
          startedCalls++;
          startedAt = at;
        },
      });
      assert.equal(startedCalls, 1);
      assert.equal(played.startedAt, startedAt);
      assert.equal(played.interrupted, false);
      assert.ok(played.startedAt >= before && played.startedAt - before < 1000, `started ${played.startedAt - before} ms after the request`);
      const length = played.endedAt - played.startedAt;
      assert.ok(length >= 360 && length < 1000, `a 400 ms clip lasted ${length} ms`);
      if (recording) {
        await sleep(100);
        const heard = heardSince(recording, [2000]);
        assert.equal(heard.length, 1, JSON.stringify(heard));
        const [segment] = heard;
        assert.ok(Math.abs(segment!.durationMs - 400) <= 40, `heard ${segment!.durationMs} ms of a 400 ms tone`);
        assert.ok(Math.abs(segment!.at - played.startedAt) <= 150, `heard at ${segment!.at - played.startedAt} ms from the reported start`);
        assert.ok(Math.abs(segment!.endAt - played.endedAt) <= 150, `ended ${segment!.endAt - played.endedAt} ms from the reported end`);
      }
    });

    test('clips played back to back come out in order, whole, without overlap', async (t) => {
      const { sink, recording } = await make(t);
      const freqs = [2000, 2600, 3200];
      const results = [];
      for (const f of freqs) results.push(await sink.play(clip(f, 200)));
      for (let i = 1; i < results.length; i++)
        assert.ok(results[i]!.startedAt >= results[i - 1]!.endedAt - 5, 'the next clip starts after the previous one ended');
      if (recording) {
        await sleep(100);
        const heard = heardSince(recording, freqs);
        assert.deepEqual(
          heard.map((s) => s.frequency),
          freqs,
          JSON.stringify(heard),
        );
        for (const s of heard) assert.ok(Math.abs(s.durationMs - 200) <= 30, `heard ${s.durationMs} ms of a 200 ms tone`);
        for (let i = 1; i < heard.length; i++) assert.ok(heard[i]!.start >= heard[i - 1]!.end, 'no overlap');
      }
    });

    test('an abort cuts the clip short, and the next clip plays normally', async (t) => {
      const { sink, recording } = await make(t);
      const controller = new AbortController();
      const cutting = sink.play(clip(2600, 2000), { signal: controller.signal, onStarted: () => setTimeout(() => controller.abort(), 300) });
      const cut = await cutting;
      assert.equal(cut.interrupted, true);
      const length = cut.endedAt - cut.startedAt;
      assert.ok(length >= 250 && length < 800, `cut after ${length} ms`);
      const next = await sink.play(clip(3200, 200));
      assert.equal(next.interrupted, false);
      if (recording) {
        await sleep(100);
        const heard = heardSince(recording, [2600, 3200]);
        assert.deepEqual(
          heard.map((s) => s.frequency),
          [2600, 3200],
          JSON.stringify(heard),
        );
        assert.ok(heard[0]!.durationMs < 700, `the cut clip still sounded for ${heard[0]!.durationMs} ms of 2000`);
        assert.ok(Math.abs(heard[1]!.durationMs - 200) <= 30);
      }
    });

    test('an already aborted signal plays nothing', async (t) => {
      const { sink, recording } = await make(t);
      const controller = new AbortController();
      controller.abort();
      const played = await sink.play(clip(2000, 300), { signal: controller.signal });
      assert.equal(played.interrupted, true);
      assert.ok(played.endedAt - played.startedAt < 50);
      if (recording) {
        await sleep(200);
        assert.deepEqual(heardSince(recording, [2000]), []);
      }
    });

    test('plays other formats (16 kHz stereo) at the right speed', async (t) => {
      const { sink, recording } = await make(t);
      const played = await sink.play(clip(2000, 300, 16000, 2));
      const length = played.endedAt - played.startedAt;
      assert.ok(length >= 270 && length < 900, `a 300 ms clip lasted ${length} ms`);
      if (recording) {
        await sleep(100);
        const heard = heardSince(recording, [2000]);
        assert.equal(heard.length, 1, JSON.stringify(heard));
        assert.ok(Math.abs(heard[0]!.durationMs - 300) <= 30, `heard ${heard[0]!.durationMs} ms`);
      }
    });
  });
}

/** One PulseAudio and one monitor recording for both pulse suites: a fresh recording takes up to 2 s to start. */
let sharedPulse: Promise<{ pulse: PulseServer; recording: Recording }> | null = null;
const sharedCleanups: Array<() => unknown> = [];
after(async () => {
  for (const cleanup of sharedCleanups.reverse()) await cleanup();
});
function pulseOnce(): Promise<{ pulse: PulseServer; recording: Recording }> {
  sharedPulse ??= (async () => {
    const pulse = await startPulseServer({ after: (fn) => sharedCleanups.push(fn) });
    return { pulse, recording: await pulse.record() };
  })();
  return sharedPulse;
}

sinkSuite('pulse stream (pacat)', async () => {
  const { pulse, recording } = await pulseOnce();
  return { sink: new PulseStreamSink({ server: pulse.server, device: pulse.sink, latencyMs: 30 }), recording };
});

sinkSuite('pulse per clip (paplay)', async () => {
  const { pulse, recording } = await pulseOnce();
  return { sink: createPaplaySink({ server: pulse.server, device: pulse.sink, latencyMs: 30 }), recording };
});

sinkSuite('file', async (scope) => ({ sink: new FileSink({ dir: tempDir(scope), maxFiles: 100, maxBytes: 10_000_000 }) }));

sinkSuite('none', async () => ({ sink: new NoneSink() }));

describe('pulse failures', () => {
  test('pacat missing: a clear SinkError, and the next clip tries again', async () => {
    const sink = new PulseStreamSink({ command: '/nonexistent/pacat', latencyMs: 30 });
    await assert.rejects(sink.open(), (err: Error) => err instanceof SinkError && /\/nonexistent\/pacat not found: install pulseaudio-utils/.test(err.message));
    await assert.rejects(sink.play(clip(2000, 100)), /not found/);
    await sink.close();
  });

  test("no such pulse device: the server's refusal is the error", async (t) => {
    const pulse = await startPulseServer(t);
    const sink = new PulseStreamSink({ server: pulse.server, device: 'no_such_sink', latencyMs: 30 });
    t.after(() => sink.close());
    await assert.rejects(sink.play(clip(2000, 100)), (err: Error) => err instanceof SinkError && /No such entity/i.test(err.message));
    const paplay = createPaplaySink({ server: pulse.server, device: 'no_such_sink', latencyMs: 30 });
    await assert.rejects(paplay.open(), (err: Error) => err instanceof SinkError && /No such entity/i.test(err.message), 'open checks the device too');
    await createPaplaySink({ server: pulse.server, device: pulse.sink, latencyMs: 30 }).open();
    await assert.rejects(paplay.play(clip(2000, 100)), (err: Error) => err instanceof SinkError && /No such entity/i.test(err.message));
  });

  test('the pulse server goes away mid-clip: the clip fails with the reason, the next one fails fast', async (t) => {
    const first = await startPulseServer(t, { sink: 'first' });
    const sink = new PulseStreamSink({ server: first.server, latencyMs: 30 });
    t.after(() => sink.close());
    await sink.open();
    const playing = sink.play(clip(2000, 3000)).then(
      () => null,
      (err: unknown) => err,
    );
    await sleep(300);
    await first.kill();
    const failure = await playing;
    assert.ok(failure instanceof SinkError && /pacat exited .*Connection terminated/.test(failure.message), String(failure));
    await assert.rejects(sink.play(clip(2000, 100)), SinkError, 'no server: fails, does not hang');
  });
});

describe('pulse stream hiccups', () => {
  test('pacat stalls near the end of a clip: the tail that is shorter than the pre-buffer still plays, and the clip ends then', async () => {
    const { pulse, recording } = await pulseOnce();
    // A long buffer makes the window wide: the server holds about 3/4 of it (300 ms) and restarts
    // after an underrun only on 1/2 of it (200 ms).
    const sink = new PulseStreamSink({ server: pulse.server, device: pulse.sink, latencyMs: 400 });
    try {
      await sink.open();
      const pacat = execFileSync('pgrep', ['-n', '-f', 'pacat.*--latency-msec=400'], { encoding: 'utf8' }).trim();
      const mark = recording.mark();
      let startedAt = 0;
      let started!: () => void;
      const playing = new Promise<void>((resolve) => (started = resolve));
      const played = sink.play(clip(2000, 1000), {
        onStarted: (at) => {
          startedAt = at;
          started();
        },
      });
      await playing;
      // 600 ms in, the server holds about 300 ms and pacat the last 100 ms: stalled, the server
      // runs dry (a hiccup), and those 100 ms alone would not restart it.
      await sleep(600 - (Date.now() - startedAt));
      process.kill(Number(pacat), 'SIGSTOP');
      await sleep(450);
      process.kill(Number(pacat), 'SIGCONT');
      const continuedAt = Date.now();
      const result = await played;
      assert.equal(result.interrupted, false);
      assert.ok(
        result.endedAt - continuedAt < 1500,
        `the clip ended ${result.endedAt - continuedAt} ms after pacat went on (waits for the next clip without the silence)`,
      );
      await sleep(200);
      const heard = recording.tones([2000], mark);
      const total = heard.reduce((sum, s) => sum + s.durationMs, 0);
      assert.ok(heard.length >= 2, `a gap where pacat stalled: ${JSON.stringify(heard.map((s) => [Math.round(s.at - startedAt), Math.round(s.durationMs)]))}`);
      assert.ok(Math.abs(total - 1000) <= 50, `heard ${Math.round(total)} ms of the 1000 ms tone`);
    } finally {
      await sink.close();
    }
  });
});

describe('alsa output', () => {
  test('aplay gets the device, raw format and buffer time', () => {
    assert.deepEqual(aplayArgs({ device: 'plughw:1,0', bufferMs: 40 }, { sampleRate: 22050, channels: 1 }), [
      '-q',
      '-D',
      'plughw:1,0',
      '-t',
      'raw',
      '-f',
      'S16_LE',
      '-r',
      '22050',
      '-c',
      '1',
      '--buffer-time=40000',
    ]);
  });

  test('aplay missing: open and play say so', async (t) => {
    const sink = createAlsaSink({ device: 'default', bufferMs: 40, env: { PATH: tempDir(t) } });
    await assert.rejects(sink.open(), /aplay not found: install alsa-utils/);
    await assert.rejects(sink.play(clip(2000, 100)), /aplay not found: install alsa-utils/);
  });
});

describe('file output', () => {
  test('one WAV per clip, named by time, lane, kind and id, sorted in playing order', async (t) => {
    const dir = tempDir(t);
    let clock = Date.parse('2025-11-22T05:04:12.345Z');
    const sink = new FileSink({ dir, maxFiles: 100, maxBytes: 10_000_000, realtime: false, now: () => clock });
    await sink.play({ ...clip(2000, 100), label: { lane: 'lane-1', kind: 'earcon-scan', id: 'scan-1' } });
    clock += 1000;
    await sink.play({ ...clip(2600, 100), label: { lane: 'lane-1', kind: 'scan', id: 'scan/../1' } });
    const names = readdirSync(dir).sort();
    assert.deepEqual(names, ['2025-11-22T05-04-12.345Z_lane-1_earcon-scan_scan-1.wav', '2025-11-22T05-04-13.345Z_lane-1_scan_scan-..-1.wav']);
    const { pcm } = parseWav(readFileSync(path.join(dir, names[0]!)));
    assert.equal(pcm.format.sampleRate, 22050);
    assert.ok(Math.abs(pcmDurationMs(pcm) - 100) < 1);
  });

  test('a cut clip keeps only what was played', async (t) => {
    const dir = tempDir(t);
    const sink = new FileSink({ dir, maxFiles: 100, maxBytes: 10_000_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const played = await sink.play(clip(2000, 2000), { signal: controller.signal });
    assert.equal(played.interrupted, true);
    const [name] = readdirSync(dir);
    const kept = pcmDurationMs(parseWav(readFileSync(path.join(dir, name!))).pcm);
    assert.ok(kept >= 150 && kept < 700, `kept ${kept} ms`);
  });

  test('count and size caps delete the oldest clips', async (t) => {
    const dir = tempDir(t);
    let clock = Date.parse('2025-11-22T05:00:00.000Z');
    writeFileSync(path.join(dir, 'notes.txt'), 'not a clip: left alone');
    const byCount = new FileSink({ dir, maxFiles: 3, maxBytes: 10_000_000, realtime: false, now: () => (clock += 1000) });
    for (let i = 0; i < 5; i++) await byCount.play({ ...clip(2000, 50), label: { lane: 'lane-1', kind: 'scan', id: `s${i}` } });
    assert.deepEqual(
      readdirSync(dir)
        .filter((n) => n.endsWith('.wav'))
        .map((n) => n.split('_')[3]),
      ['s2.wav', 's3.wav', 's4.wav'],
    );
    assert.ok(readdirSync(dir).includes('notes.txt'));
    const oneClip = 44 + Math.round(0.05 * 22050) * 2;
    const bySize = new FileSink({ dir, maxFiles: 100, maxBytes: oneClip * 2, realtime: false, now: () => (clock += 1000) });
    await bySize.play({ ...clip(2000, 50), label: { lane: 'lane-1', kind: 'scan', id: 's5' } });
    assert.deepEqual(
      readdirSync(dir)
        .filter((n) => n.endsWith('.wav'))
        .map((n) => n.split('_')[3]),
      ['s4.wav', 's5.wav'],
    );
  });

  test('an unwritable folder is a SinkError', async (t) => {
    const file = path.join(tempDir(t), 'a-file');
    writeFileSync(file, '');
    const sink = new FileSink({ dir: path.join(file, 'sub'), maxFiles: 10, maxBytes: 1000, realtime: false });
    await assert.rejects(sink.open(), SinkError);
    await assert.rejects(sink.play(clip(2000, 50)), (err: Error) => err instanceof SinkError && /cannot/.test(err.message));
  });
});

describe('none output', () => {
  test('counts what it discards', async () => {
    const sink = new NoneSink({ realtime: false });
    await sink.play(clip(2000, 100));
    await sink.play(clip(2000, 250));
    assert.equal(sink.clips, 2);
    assert.equal(sink.playedMs, 350);
  });
});

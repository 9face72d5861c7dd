/**
 * The speaker end to end on a real PulseAudio null sink: MQTT in, sound out, checked by
 * listening to the sink's monitor (tones told apart by Goertzel, timed against the wall clock).
 */
import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import { sleep, startTestBroker, waitUntil } from '@sightline/kit/testing';
import type { SpeakerApp } from '../src/index.ts';
import { notesDurationMs, SCAN_CHIME } from '../src/earcons.ts';
import { connectPeer, histogram, metricValue, startApp, testConfig } from './helpers.ts';
import { startPulseServer, type PulseServer, type Recording } from './pulse-server.ts';

const EARCON = [880, 1318.5];
const TONES = [...EARCON, 2000, 2600, 3200, 3800];

let pulse: PulseServer;
let recording: Recording;
const cleanups: Array<() => unknown> = [];
before(async () => {
  pulse = await startPulseServer({ after: (fn) => cleanups.push(fn) });
  recording = await pulse.record();
});
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function speaker(t: TestContext, settings: Record<string, string> = {}): Promise<{ app: SpeakerApp; peer: Awaited<ReturnType<typeof connectPeer>> }> {
  const broker = await startTestBroker(t);
  const app = await startApp(
    t,
    testConfig(broker.url, {
      SIGHTLINE_SPEAKER_OUTPUT: 'pulse',
      SIGHTLINE_SPEAKER_PULSE_SERVER: pulse.server,
      SIGHTLINE_SPEAKER_PULSE_DEVICE: pulse.sink,
      ...settings,
    }),
  );
  await waitUntil('the speaker is ready', async () => (await app.runtime.http.inject({ url: '/readyz' })).statusCode === 200, 5000);
  const peer = await connectPeer(t, broker.url);
  return { app, peer };
}

async function playedAll(app: SpeakerApp, clips: number): Promise<void> {
  await waitUntil(`${clips} clips played`, async () => (await metricValue(app, 'sightline_speaker_played_total')) >= clips, 10_000);
  await app.player.idle();
  await sleep(150);
}

const summary = (heard: Array<{ frequency: number; durationMs: number }>) => JSON.stringify(heard.map((s) => [s.frequency, Math.round(s.durationMs)]));

test('a scan is acknowledged by its earcon at once; its speech follows, whole, after the earcon', async (t) => {
  const { app, peer } = await speaker(t);
  const mark = recording.mark();
  const scanAt = Date.now();
  await peer.scan('lane-1', 'scan-1', scanAt);
  await sleep(400); // the voice takes a while
  await peer.say('lane-1', { frequency: 2000, ms: 500, sourceId: 'scan-1', sourceAt: scanAt });
  await playedAll(app, 2);

  const heard = recording.tones(TONES, mark);
  assert.deepEqual(
    heard.map((s) => s.frequency),
    [880, 1318.5, 2000],
    summary(heard),
  );
  const [low, high, speech] = heard as [(typeof heard)[0], (typeof heard)[0], (typeof heard)[0]];
  assert.ok(low.at - scanAt < 250, `the earcon sounded ${Math.round(low.at - scanAt)} ms after the scan was published`);
  assert.ok(Math.abs(high.endAt - low.at - notesDurationMs(SCAN_CHIME)) <= 30, `the earcon lasted ${Math.round(high.endAt - low.at)} ms`);
  assert.ok(speech.at >= high.endAt, 'speech after the earcon');
  assert.ok(Math.abs(speech.durationMs - 500) <= 40, `heard ${speech.durationMs} ms of 500 ms of speech`);

  assert.equal(await metricValue(app, 'sightline_speaker_played_total', { lane: 'lane-1', kind: 'earcon' }), 1);
  assert.equal(await metricValue(app, 'sightline_speaker_played_total', { lane: 'lane-1', kind: 'speech' }), 1);
  const gap = await histogram(app, 'sightline_speaker_earcon_to_speech_gap_seconds');
  assert.equal(gap.count, 1);
  assert.ok(gap.sum > 0.1 && gap.sum < 1, `gap ${gap.sum} s: the speech was published 400 ms after the scan`);
  const latency = await histogram(app, 'sightline_speaker_start_latency_seconds');
  assert.equal(latency.count, 2);
  assert.ok(latency.sum / latency.count < 0.2, `mean start latency ${latency.sum / latency.count} s`);

  const lanes = (await app.runtime.http.inject({ url: '/lanes' })).json();
  assert.equal(lanes.output, 'pulse');
  assert.equal(lanes.lanes.length, 1);
  assert.deepEqual(
    { ...lanes.lanes[0], lastPlayed: { ...lanes.lanes[0].lastPlayed, startedAt: 0, endedAt: 0 } },
    {
      lane: 'lane-1',
      locale: 'en-US',
      playing: null,
      queued: 0,
      queuedMs: 0,
      queuedBytes: 0,
      played: 2,
      interrupted: 0,
      dropped: 0,
      lastPlayed: { kind: 'speech', sourceKind: 'scan', sourceId: 'scan-1', text: 'tone 2000', startedAt: 0, endedAt: 0, interrupted: false },
      paused: false,
      volume: { output: 'speaker', level: 6, steps: 8 },
      lastAnnouncement: 'scan-1',
    },
  );
});

test('a sentence that is ready during its earcon follows it without a pause', async (t) => {
  const { app, peer } = await speaker(t);
  const mark = recording.mark();
  const scanAt = Date.now();
  await peer.scan('lane-1', 'scan-1', scanAt);
  // A cached sentence: published while the earcon plays.
  await peer.say('lane-1', { frequency: 2000, ms: 400, sourceId: 'scan-1', sourceAt: scanAt });
  await playedAll(app, 2);

  const heard = recording.tones(TONES, mark);
  assert.deepEqual(
    heard.map((s) => s.frequency),
    [880, 1318.5, 2000],
    summary(heard),
  );
  const [, high, speech] = heard as [(typeof heard)[0], (typeof heard)[0], (typeof heard)[0]];
  // With a buffer (60 ms) of silence after every clip, the sentence started 60-70 ms after the chime.
  const pause = speech.at - high.endAt;
  assert.ok(pause < 40, `the sentence started ${Math.round(pause)} ms after the earcon ended`);
  assert.ok(Math.abs(speech.durationMs - 400) <= 40, `heard ${speech.durationMs} ms of 400 ms of speech`);
});

test('announcements of several lanes play in arrival order, one at a time', async (t) => {
  const { app, peer } = await speaker(t);
  const mark = recording.mark();
  await peer.say('lane-1', { frequency: 2000, ms: 300, sourceId: 'a' });
  await peer.say('lane-2', { frequency: 2600, ms: 300, sourceId: 'b' });
  await peer.say('lane-1', { frequency: 3200, ms: 300, sourceId: 'c' });
  await peer.say('lane-2', { frequency: 3800, ms: 300, sourceId: 'd', sampleRate: 16000 });
  await playedAll(app, 4);
  const heard = recording.tones(TONES, mark);
  assert.deepEqual(
    heard.map((s) => s.frequency),
    [2000, 2600, 3200, 3800],
    summary(heard),
  );
  for (const s of heard) assert.ok(Math.abs(s.durationMs - 300) <= 40, summary(heard));
  for (let i = 1; i < heard.length; i++) assert.ok(heard[i]!.start >= heard[i - 1]!.end, 'never two at once');
});

test('a newer scan cuts the stale announcement at once; its own earcon and speech follow', async (t) => {
  const { app, peer } = await speaker(t);
  const mark = recording.mark();
  const first = Date.now();
  await peer.scan('lane-1', 'scan-1', first);
  await peer.say('lane-1', { frequency: 2000, ms: 3000, sourceId: 'scan-1', sourceAt: first });
  await waitUntil('the first speech plays', () => app.lanes()[0]?.playing?.kind === 'speech', 5000);
  await sleep(400);
  const second = Date.now();
  await peer.scan('lane-1', 'scan-2', second);
  await peer.say('lane-1', { frequency: 3200, ms: 300, sourceId: 'scan-2', sourceAt: second });
  await playedAll(app, 4);
  const heard = recording.tones(TONES, mark);
  assert.deepEqual(
    heard.map((s) => s.frequency),
    [880, 1318.5, 2000, 880, 1318.5, 3200],
    summary(heard),
  );
  const cut = heard[2]!;
  assert.ok(cut.durationMs < 1200, `the stale speech went on for ${cut.durationMs} ms of 3000`);
  assert.ok(heard[3]!.at - second < 250, `the new earcon came ${Math.round(heard[3]!.at - second)} ms after the new scan`);
  assert.ok(Math.abs(heard[5]!.durationMs - 300) <= 40);
  assert.equal(await metricValue(app, 'sightline_speaker_interrupted_total', { lane: 'lane-1', kind: 'speech' }), 1);
});

test("a total is never cut: the next scan's earcon waits for its end", async (t) => {
  const { app, peer } = await speaker(t);
  const mark = recording.mark();
  await peer.say('lane-1', { frequency: 2600, ms: 1200, sourceId: 'ev-total', kind: 'total', interruptible: false });
  await waitUntil('the total plays', () => app.lanes()[0]?.playing?.sourceKind === 'total', 5000);
  await sleep(300);
  await peer.scan('lane-1', 'scan-9');
  await playedAll(app, 2);
  const heard = recording.tones(TONES, mark);
  assert.deepEqual(
    heard.map((s) => s.frequency),
    [2600, 880, 1318.5],
    summary(heard),
  );
  assert.ok(Math.abs(heard[0]!.durationMs - 1200) <= 40, `the total sounded ${heard[0]!.durationMs} ms of 1200`);
  assert.ok(heard[1]!.start >= heard[0]!.end);
  assert.equal(await metricValue(app, 'sightline_speaker_interrupted_total'), 0);
});

test('the pulse server goes away: the clip fails, is counted, /readyz says why; when it is back, the next clip plays', async (t) => {
  const broker = await startTestBroker(t);
  const own = await startPulseServer(t, { sink: 'lane_speaker' });
  const app = await startApp(
    t,
    testConfig(broker.url, { SIGHTLINE_SPEAKER_OUTPUT: 'pulse', SIGHTLINE_SPEAKER_PULSE_SERVER: own.server, SIGHTLINE_SPEAKER_PULSE_DEVICE: own.sink }),
    { probeIntervalMs: 200 },
  );
  const peer = await connectPeer(t, broker.url);
  await waitUntil('ready', async () => (await app.runtime.http.inject({ url: '/readyz' })).statusCode === 200, 5000);
  await own.kill();
  await peer.say('lane-1', { frequency: 2000, ms: 200, sourceId: 'a' });
  await waitUntil('the failure is counted', async () => (await metricValue(app, 'sightline_speaker_sink_errors_total', { sink: 'pulse' })) >= 1, 5000);
  const notReady = await app.runtime.http.inject({ url: '/readyz' });
  assert.equal(notReady.statusCode, 503);
  assert.match(notReady.json().reason, /^audio output failing: pulse: (pacat exited|stream closed).*(Connection refused|terminated|No such file)/);
  await waitUntil('dropped as sink-error', async () => (await metricValue(app, 'sightline_speaker_dropped_total', { reason: 'sink-error' })) === 1, 3000);

  const back = await startPulseServer(t, { sink: 'lane_speaker', dir: own.dir });
  const listening = await back.record();
  const mark = listening.mark();
  await peer.say('lane-1', { frequency: 3200, ms: 300, sourceId: 'b' });
  await waitUntil('played on the new server', async () => (await metricValue(app, 'sightline_speaker_played_total')) === 1, 8000);
  assert.equal((await app.runtime.http.inject({ url: '/readyz' })).statusCode, 200);
  await sleep(150);
  assert.deepEqual(
    listening.tones([3200], mark).map((s) => s.frequency),
    [3200],
  );
});

/**
 * The shopper's controls heard on a real PulseAudio: a null sink for the loudspeaker and one for a
 * headset, their monitors recorded. Volume steps are measured as the recorded level, the cut as
 * the moment the tone stops on the monitor.
 */
import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import { sleep, startTestBroker, waitUntil } from '@sightline/kit/testing';
import type { LaneCommand } from '@sightline/schemas';
import type { SpeakerApp } from '../src/index.ts';
import { connectPeer, levelDb, metricValue, startApp, testConfig, type Peer } from './helpers.ts';
import { startPulseServer, type PulseServer, type Recording } from './pulse-server.ts';

const HEADSET = 'sightline_headset';

let pulse: PulseServer;
let loudspeaker: Recording;
let headset: Recording;
const cleanups: Array<() => unknown> = [];
before(async () => {
  pulse = await startPulseServer({ after: (fn) => cleanups.push(fn) });
  await pulse.addSink(HEADSET);
  [loudspeaker, headset] = await Promise.all([pulse.record(), pulse.record(HEADSET)]);
});
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function speaker(t: TestContext, settings: Record<string, string> = {}): Promise<{ app: SpeakerApp; peer: Peer }> {
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
  return { app, peer: await connectPeer(t, broker.url) };
}

async function control(peer: Peer, lane: string, command: LaneCommand): Promise<void> {
  const seen = peer.results.length;
  await peer.control(lane, command);
  await waitUntil(`the result of ${command}`, () => peer.results.length > seen, 3000);
}

/**
 * Plays a tone and returns its level as recorded: the middle of it, away from the fades and the
 * stream start. On a busy machine the recorder now and then loses a few windows, splitting a tone
 * in two: the longest piece is measured.
 */
async function heardLevel(app: SpeakerApp, peer: Peer, recording: Recording, lane: string, id: string, frequency = 1000): Promise<number> {
  const mark = recording.mark();
  const clips = await metricValue(app, 'sightline_speaker_played_total');
  await peer.say(lane, { frequency, ms: 400, sourceId: id });
  await waitUntil(`${id} played`, async () => (await metricValue(app, 'sightline_speaker_played_total')) > clips, 5000);
  await app.player.idle();
  await sleep(150);
  const heard = recording.tones([frequency], mark);
  const segment = heard.sort((a, b) => b.end - b.start - (a.end - a.start))[0];
  assert.ok(segment && segment.durationMs >= 150, `${id} heard: ${JSON.stringify(heard)}`);
  const length = segment.end - segment.start;
  return levelDb(recording.samples(segment.start + Math.round(length * 0.2)).subarray(0, Math.round(length * 0.6)));
}

test('each volume step changes the level recorded on the null sink by 3 dB', async (t) => {
  const { app, peer } = await speaker(t);
  const atDefault = await heardLevel(app, peer, loudspeaker, 'lane-1', 'level-6');
  const measured: string[] = [];
  const step = async (command: 'volume-up' | 'volume-down', level: number) => {
    await control(peer, 'lane-1', command);
    const db = (await heardLevel(app, peer, loudspeaker, 'lane-1', `level-${level}`)) - atDefault;
    measured.push(`${level}:${db.toFixed(2)}`);
    assert.ok(Math.abs(db - (level - 6) * 3) <= 0.5, `level ${level} recorded ${db.toFixed(2)} dB from the default`);
  };
  await step('volume-up', 7);
  await step('volume-up', 8);
  await step('volume-down', 7);
  await step('volume-down', 6);
  await step('volume-down', 5);
  await step('volume-down', 4);
  t.diagnostic(`null sink, level:dB from the default ${measured.join(' ')}`);
});

test('a control cuts the clip on the loudspeaker at once: the tone stops on the monitor within 100 ms of publishing', async (t) => {
  const { app, peer } = await speaker(t);
  // When the last sample of the tone played, as the monitor clock estimates it (a few ms early),
  // and when the recorder handed it over (an upper bound, late by the recorder's latency).
  const stops: number[] = [];
  const bounds: number[] = [];
  for (const [i, command] of (['volume-up', 'help', 'pause'] as const).entries()) {
    const frequency = [2000, 2600, 3200][i]!;
    const mark = loudspeaker.mark();
    await peer.say('lane-1', { frequency, ms: 2500, sourceId: `long-${command}` });
    await waitUntil('heard', () => loudspeaker.tones([frequency], mark).length > 0, 5000);
    await sleep(300);
    const sent = Date.now();
    await peer.control('lane-1', command);
    await waitUntil('cut', () => app.lanes()[0]?.lastPlayed?.interrupted === true, 3000);
    await sleep(300);
    const heard = loudspeaker.tones([frequency], mark);
    assert.equal(heard.length, 1, JSON.stringify(heard));
    stops.push(Math.round(heard[0]!.endAt - sent));
    bounds.push(Math.round(loudspeaker.arrivedAt(heard[0]!.end - 1) - sent));
    await control(peer, 'lane-1', 'stop');
  }
  t.diagnostic(`tone stopped on the monitor, ms after the control was published: ${stops.join(' ')} (recorded by ${bounds.join(' ')})`);
  for (const ms of bounds) assert.ok(ms < 100, `stopped, at the latest, ${ms} ms after the control`);
});

test('a headset lane plays on its own sink at its own level; the loudspeaker does not hear it', async (t) => {
  const { app, peer } = await speaker(t, { SIGHTLINE_SPEAKER_HEADSETS: `lane-2=${HEADSET}` });
  const loudMark = loudspeaker.mark();
  const headsetMark = headset.mark();
  const privateLevel = await heardLevel(app, peer, headset, 'lane-2', 'private', 2600);
  await heardLevel(app, peer, loudspeaker, 'lane-1', 'public', 2000);
  assert.deepEqual(
    loudspeaker.tones([2000, 2600], loudMark).map((s) => s.frequency),
    [2000],
  );
  assert.deepEqual(
    headset.tones([2000, 2600], headsetMark).map((s) => s.frequency),
    [2600],
  );
  await control(peer, 'lane-2', 'volume-up');
  const result = peer.results.at(-1)!;
  assert.deepEqual(result.outcome === 'volume' && result.volume, { output: 'headset', level: 7, steps: 8 });
  const louder = (await heardLevel(app, peer, headset, 'lane-2', 'private-2', 2600)) - privateLevel;
  assert.ok(Math.abs(louder - 3) <= 0.5, `a step up on the headset: ${louder.toFixed(2)} dB`);
  assert.equal(app.lanes().find((l) => l.lane === 'lane-1')!.volume.level, 6, 'the loudspeaker lane keeps its own level');
});

/**
 * The shopper's controls end to end (ADA 707.5, Section 508 402, EN 301 549 5.1.3): commands in on
 * lanes/{lane}/control over a real broker, results out on lanes/{lane}/control/result, and what
 * the file output played (one WAV per clip, in order) to show what the shopper heard.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { sleep, waitUntil } from '@sightline/kit/testing';
import { laneCommands, type ControlResult, type LaneEvent } from '@sightline/schemas';
import type { SpeakerApp } from '../src/index.ts';
import { clipsIn, fileSpeaker, levelDb, metricValue, type Peer } from './helpers.ts';
import { tone } from './tones.ts';

const speaker = (t: TestContext, settings: Record<string, string> = {}, realtime = true) => fileSpeaker(t, settings, { realtime });
const lane = (app: SpeakerApp, id: string) => app.lanes().find((l) => l.lane === id);
const dropped = (app: SpeakerApp, reason: string) => metricValue(app, 'sightline_speaker_dropped_total', { reason });

/** Waits for the next result on the bus and returns it. */
async function nextResult(peer: Peer, what: string): Promise<ControlResult> {
  const seen = peer.results.length;
  await waitUntil(what, () => peer.results.length > seen, 3000);
  return peer.results[seen]!;
}

async function control(peer: Peer, laneId: string, command: Parameters<Peer['control']>[1], transaction?: string): Promise<ControlResult> {
  const seen = peer.results.length;
  await peer.control(laneId, command, transaction !== undefined ? { transaction } : {});
  await waitUntil(`the result of ${command}`, () => peer.results.length > seen, 3000);
  return peer.results[seen]!;
}

function lineEvent(laneId: string, type: 'total' | 'session-ended', id: string): LaneEvent {
  const base = { id, lane: laneId, locale: 'en-US', at: Date.now(), currency: 'USD', basket: { id: 'basket-1', count: 2, totalMinor: 310 } };
  return (type === 'total' ? { ...base, type } : { ...base, type, reason: 'timeout' }) as LaneEvent;
}

test('repeat plays the last announcement again from memory, every part of it; a second repeat soon after asks checkout for the basket', async (t) => {
  const { app, peer, dir, played } = await speaker(t);
  const refused = await control(peer, 'lane-2', 'repeat', 'tx-0');
  assert.equal(refused.outcome, 'refused');
  assert.match(refused.id, /^ctl-[0-9a-f-]{36}$/);
  assert.deepEqual(
    { ...refused, id: 'x', at: 0 },
    {
      id: 'x',
      at: 0,
      lane: 'lane-2',
      locale: 'en-US',
      command: 'repeat',
      transaction: 'tx-0',
      by: 'speaker',
      outcome: 'refused',
      reason: 'nothing-to-repeat',
      error: 'nothing has been said on this lane yet',
    },
  );

  await peer.say('lane-1', { frequency: 2000, ms: 300, sourceId: 'scan-1' });
  await waitUntil('said', () => played().length === 1);
  await app.player.idle();
  const repeated = await control(peer, 'lane-1', 'repeat', 'tx-1');
  assert.equal(repeated.outcome, 'repeated');
  assert.equal(repeated.outcome === 'repeated' && repeated.of, 'scan-1');
  await waitUntil('said again', () => played().length === 2);
  await app.player.idle();
  const [first, again] = clipsIn(dir);
  assert.equal(again!.name, 'lane-1 repeat-scan scan-1');
  assert.ok(again!.samples.equals(first!.samples), 'the same PCM, not a new rendering');

  // Pressed again within the window: checkout reads the basket out instead, nothing is repeated.
  await peer.control('lane-1', 'repeat', { transaction: 'tx-2' });
  await waitUntil('the basket asked for', () => peer.commands.some((c) => c.command === 'basket'));
  assert.deepEqual(peer.commands.at(-1), { lane: 'lane-1', command: 'basket', source: 'speaker', transaction: 'tx-2' });
  await sleep(300);
  assert.equal(played().length, 2);
  assert.equal(peer.results.length, 2, 'checkout answers the basket, not the speaker');
  assert.equal(await metricValue(app, 'sightline_speaker_controls_total', { command: 'repeat', outcome: 'basket-requested' }), 1);

  // A receipt in three parts, then repeat (a third press: the double press was the request): all three again, in order.
  const at = Date.now();
  for (let index = 0; index < 3; index++)
    await peer.say('lane-1', {
      frequency: 2600 + 600 * index,
      ms: 150,
      sourceId: 'ev-total',
      sourceAt: at,
      kind: 'total',
      interruptible: false,
      part: { index, count: 3 },
    });
  await waitUntil('the receipt said', () => played().length === 5);
  await app.player.idle();
  assert.equal((await control(peer, 'lane-1', 'repeat')).outcome, 'repeated');
  await waitUntil('the receipt said again', () => played().length === 8);
  const clips = clipsIn(dir);
  assert.deepEqual(
    clips.slice(2).map((c) => c.name),
    [
      'lane-1 total ev-total.1of3',
      'lane-1 total ev-total.2of3',
      'lane-1 total ev-total.3of3',
      'lane-1 repeat-total ev-total.1of3',
      'lane-1 repeat-total ev-total.2of3',
      'lane-1 repeat-total ev-total.3of3',
    ],
  );
  for (let i = 0; i < 3; i++) assert.ok(clips[5 + i]!.samples.equals(clips[2 + i]!.samples), `part ${i + 1} the same`);
  assert.equal(lane(app, 'lane-1')!.lastAnnouncement, 'ev-total');
  // Twice in a row only: with another control in between, a repeat is a repeat.
  await peer.control('lane-1', 'help');
  await waitUntil('help seen', async () => (await metricValue(app, 'sightline_speaker_controls_total', { command: 'help', outcome: 'checkout' })) === 1);
  assert.equal((await control(peer, 'lane-1', 'repeat')).outcome, 'repeated');
  assert.equal(peer.commands.filter((c) => c.command === 'basket').length, 1);
});

test('pause keeps the rest of the clip and holds the lane while other lanes play; resume plays the rest, then the queue', async (t) => {
  const { app, peer, dir, played } = await speaker(t);
  await peer.say('lane-1', { frequency: 2000, ms: 1200, sourceId: 'long' });
  await waitUntil('playing', () => typeof lane(app, 'lane-1')?.playing?.startedAt === 'number');
  await sleep(600);
  assert.equal((await control(peer, 'lane-1', 'pause')).outcome, 'paused');
  await peer.say('lane-1', { frequency: 2600, ms: 200, sourceId: 'held' });
  await peer.say('lane-2', { frequency: 3200, ms: 200, sourceId: 'other' });
  await waitUntil('the other lane is heard', () => played().includes('lane-2 scan other'));
  await sleep(400);
  assert.deepEqual(played(), ['lane-1 scan long', 'lane-2 scan other']);
  assert.equal(lane(app, 'lane-1')!.paused, true);
  assert.equal(lane(app, 'lane-1')!.queued, 2, 'the rest and the held clip');

  assert.equal((await control(peer, 'lane-1', 'resume')).outcome, 'resumed');
  await waitUntil('the lane goes on', () => played().length === 4);
  await app.player.idle();
  assert.deepEqual(played(), ['lane-1 scan long', 'lane-2 scan other', 'lane-1 rest-scan long', 'lane-1 scan held']);
  const [cut, , rest] = clipsIn(dir);
  const whole = tone(2000, 1200);
  assert.ok(cut!.durationMs > 450 && cut!.durationMs < 1000, `cut after ${cut!.durationMs} ms`);
  assert.ok(rest!.samples.equals(whole.subarray(whole.length - rest!.samples.length)), 'the rest is the end of the clip');
  const overlap = cut!.durationMs + rest!.durationMs - 1200;
  assert.ok(overlap >= 270 && overlap <= 330, `the rest starts ${overlap.toFixed(0)} ms before the cut (300 wanted)`);
  t.diagnostic(`pause: the rest repeats the last ${overlap.toFixed(0)} ms before the cut`);

  const notPaused = await control(peer, 'lane-1', 'resume');
  assert.equal(notPaused.outcome === 'refused' && notPaused.reason, 'not-paused');
  assert.equal((await control(peer, 'lane-1', 'toggle-pause')).outcome, 'paused');
  assert.equal(lane(app, 'lane-1')!.paused, true);
  assert.equal((await control(peer, 'lane-1', 'toggle-pause')).outcome, 'resumed');
  assert.equal(lane(app, 'lane-1')!.paused, false);
});

test('while paused, the answer to a later control and an idle warning are heard (and the lane stays paused); answers to earlier ones wait', async (t) => {
  const { app, peer, played } = await speaker(t);
  await peer.control('lane-1', 'pause');
  const paused = await nextResult(peer, 'paused');
  // An answer to a control given before the pause (checkout was slow), and a scan's speech: held.
  await peer.say('lane-1', { frequency: 2000, ms: 150, sourceId: 'ctl-help', sourceAt: paused.at - 1000, kind: 'control', command: 'help' });
  await peer.say('lane-1', { frequency: 2600, ms: 150, sourceId: 'held' });
  // What tts makes of the result: "Paused."
  await peer.say('lane-1', { frequency: 3200, ms: 200, sourceId: paused.id, sourceAt: paused.at, kind: 'control', command: 'pause' });
  await waitUntil('"Paused." is heard', () => played().includes(`lane-1 control ${paused.id}`));
  // The session is about to end: the shopper must hear it, paused or not.
  await peer.say('lane-1', { frequency: 3800, ms: 150, sourceId: 'ev-idle', kind: 'idle-warning' });
  await waitUntil('the warning is heard', () => played().includes('lane-1 idle-warning ev-idle'));
  await sleep(300);
  assert.deepEqual(played(), [`lane-1 control ${paused.id}`, 'lane-1 idle-warning ev-idle']);
  assert.equal(lane(app, 'lane-1')!.paused, true);
  assert.equal(lane(app, 'lane-1')!.queued, 2);
  await control(peer, 'lane-1', 'resume');
  await waitUntil('the rest', () => played().length === 4);
  assert.deepEqual(played(), [`lane-1 control ${paused.id}`, 'lane-1 idle-warning ev-idle', 'lane-1 control ctl-help', 'lane-1 scan held']);
});

test('stop drops everything waiting for the lane, and parts of it that arrive later; the lane plays again afterwards', async (t) => {
  const { app, peer, played } = await speaker(t);
  const at = Date.now();
  for (let index = 0; index < 4; index++)
    await peer.say('lane-1', { frequency: 2000, ms: 400, sourceId: 'ev-total', sourceAt: at, kind: 'total', interruptible: false, part: { index, count: 6 } });
  await peer.say('lane-1', { frequency: 2600, ms: 200, sourceId: 'scan-9', sourceAt: at });
  await waitUntil('playing', () => lane(app, 'lane-1')?.playing !== null);
  await sleep(100);
  await peer.control('lane-1', 'pause');
  await nextResult(peer, 'paused');
  assert.equal((await control(peer, 'lane-1', 'stop')).outcome, 'stopped');
  assert.equal(lane(app, 'lane-1')!.queued, 0);
  assert.equal(lane(app, 'lane-1')!.paused, false, 'a stop lifts a pause');
  assert.equal(await dropped(app, 'stopped'), 5, 'three parts, the rest of the first, the scan');
  // tts was still speaking the receipt: its late parts are dropped too.
  await peer.say('lane-1', { frequency: 2000, ms: 400, sourceId: 'ev-total', sourceAt: at, kind: 'total', interruptible: false, part: { index: 4, count: 6 } });
  await waitUntil('dropped', async () => (await dropped(app, 'stopped')) === 6);
  await peer.say('lane-1', { frequency: 3200, ms: 100, sourceId: 'scan-10' });
  await waitUntil('the next scan is heard', () => played().includes('lane-1 scan scan-10'));
  assert.deepEqual(played(), ['lane-1 total ev-total.1of6', 'lane-1 scan scan-10']);
});

test('volume up and down in steps of 3 dB from the default (unity) to +6 dB and -15 dB; refused beyond, with the level', async (t) => {
  const { peer, dir, played } = await speaker(t, {}, false);
  let n = 0;
  const sayAndMeasure = async (): Promise<number> => {
    n += 1;
    await peer.say('lane-1', { frequency: 1000, ms: 200, sourceId: `v-${n}` });
    await waitUntil('played', () => played().length === n);
    return levelDb(clipsIn(dir).at(-1)!.samples);
  };
  const original = levelDb(tone(1000, 200));
  const atDefault = await sayAndMeasure();
  assert.equal(atDefault, original, 'the default level plays the PCM as it came');
  assert.ok(clipsIn(dir)[0]!.samples.equals(tone(1000, 200)));
  const steps: string[] = [];
  const check = async (command: 'volume-up' | 'volume-down', level: number) => {
    const result = await control(peer, 'lane-1', command);
    assert.deepEqual(result.outcome === 'volume' && result.volume, { output: 'speaker', level, steps: 8 });
    const db = (await sayAndMeasure()) - original;
    steps.push(`${level}:${db.toFixed(2)}`);
    assert.ok(Math.abs(db - (level - 6) * 3) <= 0.5, `level ${level} played at ${db.toFixed(2)} dB`);
  };
  await check('volume-up', 7);
  await check('volume-up', 8);
  const atMax = await control(peer, 'lane-1', 'volume-up');
  assert.equal(atMax.outcome === 'refused' && atMax.reason, 'volume-at-max');
  assert.deepEqual(atMax.outcome === 'refused' && atMax.volume, { output: 'speaker', level: 8, steps: 8 });
  for (let level = 7; level >= 1; level--) await check('volume-down', level);
  const atMin = await control(peer, 'lane-1', 'volume-down');
  assert.equal(atMin.outcome === 'refused' && atMin.reason, 'volume-at-min');
  assert.deepEqual(atMin.outcome === 'refused' && atMin.volume, { output: 'speaker', level: 1, steps: 8 });
  t.diagnostic(`file output, level:dB ${steps.join(' ')}`);
});

test("the volume goes back to the default once a total's announcement has played, or at the next scan after a session ended", async (t) => {
  const { app, peer, played } = await speaker(t);
  await control(peer, 'lane-1', 'volume-up');
  await control(peer, 'lane-1', 'volume-up');
  await peer.event(lineEvent('lane-1', 'total', 'ev-total-1'));
  await sleep(200);
  assert.equal(lane(app, 'lane-1')!.volume.level, 8, 'not while the total is still to be said');
  await peer.say('lane-1', { frequency: 2000, ms: 300, sourceId: 'ev-total-1', kind: 'total', interruptible: false });
  await waitUntil('playing', () => lane(app, 'lane-1')?.playing !== null);
  assert.equal(lane(app, 'lane-1')!.volume.level, 8, 'the total itself is said at the shopper level');
  await waitUntil('said', () => played().includes('lane-1 total ev-total-1'));
  await app.player.idle();
  assert.equal(lane(app, 'lane-1')!.volume.level, 6);

  // The same shopper may still repeat the total; the next one starts afresh.
  assert.equal((await control(peer, 'lane-1', 'volume-up')).outcome, 'volume');
  await peer.event(lineEvent('lane-1', 'session-ended', 'ev-end-1'));
  await sleep(200);
  assert.equal(lane(app, 'lane-1')!.volume.level, 7);
  await peer.scan('lane-1', 'scan-next');
  await waitUntil('reset', () => lane(app, 'lane-1')!.volume.level === 6);
  const repeat = await control(peer, 'lane-1', 'repeat');
  assert.equal(repeat.outcome === 'refused' && repeat.reason, 'nothing-to-repeat', "the last shopper's total is not repeated to the next one");
});

test('a headset lane plays on its own output, at its own volume; volume answers name the headset', async (t) => {
  const { app, peer, dir, played } = await speaker(t, { SIGHTLINE_SPEAKER_HEADSETS: 'lane-2=headset-2', SIGHTLINE_SPEAKER_HEADSET_VOLUME_DEFAULT: '4' }, false);
  const headsetDir = path.join(dir, 'headset-2');
  await peer.say('lane-1', { frequency: 1000, ms: 200, sourceId: 'loud' });
  await peer.say('lane-2', { frequency: 1000, ms: 200, sourceId: 'private' });
  await waitUntil('both played', () => played().length === 1 && clipsIn(headsetDir).length === 1);
  await app.player.idle();
  assert.deepEqual(played(), ['lane-1 scan loud']);
  assert.deepEqual(
    clipsIn(headsetDir).map((c) => c.name),
    ['lane-2 scan private'],
  );
  const original = levelDb(tone(1000, 200));
  const headsetDb = levelDb(clipsIn(headsetDir)[0]!.samples) - original;
  assert.ok(Math.abs(headsetDb - -6) <= 0.5, `the headset starts at level 4: ${headsetDb.toFixed(2)} dB`);
  const up = await control(peer, 'lane-2', 'volume-up');
  assert.deepEqual(up.outcome === 'volume' && up.volume, { output: 'headset', level: 5, steps: 8 });
  const loud = await control(peer, 'lane-1', 'volume-up');
  assert.deepEqual(loud.outcome === 'volume' && loud.volume, { output: 'speaker', level: 7, steps: 8 });
  await peer.say('lane-2', { frequency: 1000, ms: 200, sourceId: 'private-2' });
  await waitUntil('played', () => clipsIn(headsetDir).length === 2);
  const louder = levelDb(clipsIn(headsetDir)[1]!.samples) - original;
  assert.ok(Math.abs(louder - -3) <= 0.5, `level 5 on the headset: ${louder.toFixed(2)} dB`);
  const report = (await app.runtime.http.inject({ url: '/lanes' })).json();
  const reported = report.lanes.find((l: { lane: string }) => l.lane === 'lane-2');
  assert.deepEqual(
    { paused: reported.paused, volume: reported.volume, lastAnnouncement: reported.lastAnnouncement },
    { paused: false, volume: { output: 'headset', level: 5, steps: 8 }, lastAnnouncement: 'private-2' },
  );
  const metrics = (await app.runtime.http.inject({ url: '/metrics' })).body;
  assert.match(metrics, /^sightline_speaker_controls_total\{command="volume-up",outcome="volume"[^}]*\} 2$/m);
});

test('a receipt of 35 parts and a basket read-out, older than the max age, all play in order; none is dropped', async (t) => {
  const { app, peer, played } = await speaker(t, { SIGHTLINE_SPEAKER_MAX_AGE_SECONDS: '2' });
  const old = Date.now() - 20_000;
  for (let index = 0; index < 35; index++)
    await peer.say('lane-1', {
      frequency: 2000,
      ms: 40,
      sourceId: 'ev-receipt',
      sourceAt: old,
      kind: 'total',
      interruptible: false,
      part: { index, count: 35 },
    });
  for (let index = 0; index < 12; index++)
    await peer.say('lane-2', {
      frequency: 2600,
      ms: 40,
      sourceId: 'ctl-basket',
      sourceAt: old,
      kind: 'control',
      command: 'basket',
      part: { index, count: 12 },
    });
  await waitUntil('all said', () => played().length === 47, 10_000);
  const heard = played();
  assert.deepEqual(
    heard.filter((n) => n.startsWith('lane-1')),
    Array.from({ length: 35 }, (_, i) => `lane-1 total ev-receipt.${i + 1}of35`),
  );
  assert.deepEqual(
    heard.filter((n) => n.startsWith('lane-2')),
    Array.from({ length: 12 }, (_, i) => `lane-2 control ctl-basket.${i + 1}of12`),
  );
  assert.equal(await metricValue(app, 'sightline_speaker_dropped_total'), 0);
});

test('any control cuts the clip playing on its lane at once (within 100 ms of publishing)', async (t) => {
  const { app, peer } = await speaker(t);
  const latencies: number[] = [];
  // Every command the contract has, the speaker's and checkout's alike.
  for (const command of laneCommands) {
    const id = `clip-${command}`;
    await peer.say('lane-1', { frequency: 2000, ms: 3000, sourceId: id });
    await waitUntil(`${id} playing`, () => lane(app, 'lane-1')?.playing?.sourceId === id && typeof lane(app, 'lane-1')?.playing?.startedAt === 'number');
    await sleep(100);
    const sent = Date.now();
    await peer.control('lane-1', command);
    await waitUntil(`${command} cuts`, () => lane(app, 'lane-1')?.lastPlayed?.sourceId === id && lane(app, 'lane-1')!.lastPlayed!.interrupted, 2000);
    latencies.push(lane(app, 'lane-1')!.lastPlayed!.endedAt - sent);
    // Quiet again (a stop drops a repeat and lifts a pause) before the next clip.
    assert.equal((await control(peer, 'lane-1', 'stop')).outcome, 'stopped');
  }
  t.diagnostic(`cut latency, file output, ms: ${latencies.join(' ')}`);
  for (const [i, ms] of latencies.entries()) assert.ok(ms < 100, `${laneCommands[i]} cut after ${ms} ms`);
});

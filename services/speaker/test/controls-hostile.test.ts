/**
 * Controls that are wrong, too many, or not ours: invalid payloads are refused by the bus (and
 * answered by nobody), a flood of 1000 commands keeps every bound, and a control for a lane this
 * speaker does not play is none of its business. Real broker, the file output.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sleep, waitUntil } from '@sightline/kit/testing';
import { channels, commandOwner, createTopics, laneCommands } from '@sightline/schemas';
import type { SpeakerApp } from '../src/index.ts';
import { fileSpeaker, metricValue } from './helpers.ts';

const lane = (app: SpeakerApp, id: string) => app.lanes().find((l) => l.lane === id);
const controlTopic = (laneId: string) => createTopics('sightline').topic(channels.laneControl, { lane: laneId });

test('invalid controls (an unknown command, extra keys, not JSON, oversize) are dropped by the bus, answered by nobody, and change nothing', async (t) => {
  const { app, peer, played } = await fileSpeaker(t);
  await peer.say('lane-1', { frequency: 2000, ms: 1500, sourceId: 'playing' });
  await waitUntil('playing', () => lane(app, 'lane-1')?.playing !== null);
  const bad = [
    '{"command":"self-destruct"}',
    '{"command":"volume-up","level":11}',
    '{"command":"repeat","transaction":"has spaces"}',
    'volume-up',
    '',
    JSON.stringify({ command: 'repeat', transaction: 'x'.repeat(2000) }),
  ];
  for (const payload of bad) await peer.raw(controlTopic('lane-1'), payload);
  await waitUntil('all refused', async () => (await metricValue(app, 'sightline_bus_messages_dropped_total', { channel: 'lane-control' })) === bad.length);
  assert.equal(await metricValue(app, 'sightline_bus_messages_dropped_total', { channel: 'lane-control', reason: 'invalid' }), 3);
  await sleep(200);
  assert.equal(peer.results.length, 0, 'no result');
  assert.equal(await metricValue(app, 'sightline_speaker_controls_total'), 0);
  assert.equal(lane(app, 'lane-1')!.playing?.sourceId, 'playing', 'not cut');
  assert.equal(lane(app, 'lane-1')!.volume.level, 6);
  // Still listening.
  await peer.control('lane-1', 'volume-up');
  await waitUntil('answered', () => peer.results.length === 1);
  assert.equal(peer.results[0]!.outcome, 'volume');
  assert.deepEqual(played(), ['lane-1 scan playing']);
  assert.equal((await app.runtime.http.inject({ url: '/healthz' })).statusCode, 200);
});

test('a flood of 1000 controls on a lane with a 35-part receipt to repeat keeps its queue, its memory and the results within bounds', async (t) => {
  const { app, peer } = await fileSpeaker(t);
  const at = Date.now();
  for (let index = 0; index < 35; index++)
    await peer.say('lane-1', {
      frequency: 2000,
      ms: 20,
      sourceId: 'ev-receipt',
      sourceAt: at,
      kind: 'total',
      interruptible: false,
      part: { index, count: 35 },
    });
  await waitUntil('the receipt said', () => lane(app, 'lane-1')?.played === 35, 5000);
  await app.player.idle();
  const heapBefore = process.memoryUsage().heapUsed;
  let most = { queued: 0, queuedMs: 0, queuedBytes: 0, remembered: 0 };
  const sample = () => {
    const now = lane(app, 'lane-1')!;
    most = {
      queued: Math.max(most.queued, now.queued),
      queuedMs: Math.max(most.queuedMs, now.queuedMs),
      queuedBytes: Math.max(most.queuedBytes, now.queuedBytes),
      remembered: Math.max(most.remembered, app.player.peekLane('lane-1')?.remembered?.parts.length ?? 0),
    };
  };
  const sampler = setInterval(sample, 5);
  t.after(() => clearInterval(sampler));
  const started = Date.now();
  for (let i = 0; i < 1000; i++) {
    // The first half repeats the receipt; in the second, scans come in between.
    if (i >= 500 && i % 25 === 0) await peer.say('lane-1', { frequency: 2600, ms: 100, sourceId: `scan-${i}`, sourceAt: Date.now() });
    await peer.control('lane-1', laneCommands[i % laneCommands.length]!, { source: 'keypad', transaction: `tx-${i}` });
  }
  const sent = Date.now() - started;
  // Every command is counted once; the basket requests the speaker made come back to it too (counted as checkout's).
  const total = () => metricValue(app, 'sightline_speaker_controls_total');
  const basketRequests = () => metricValue(app, 'sightline_speaker_controls_total', { outcome: 'basket-requested' });
  await waitUntil('every control handled', async () => (await total()) === 1000 + (await basketRequests()), 10_000);
  // One result per command of the speaker's, but a repeat that asked for the basket.
  const ours = Array.from({ length: 1000 }, (_, i) => laneCommands[i % laneCommands.length]!).filter((c) => commandOwner[c] === 'speaker').length;
  const speakerAnswers = ours - (await basketRequests());
  await waitUntil('every result received', () => peer.results.length === speakerAnswers, 10_000);
  sample();
  clearInterval(sampler);
  assert.ok(most.queued <= 40, `${most.queued} clips waited`);
  assert.ok(most.queuedMs <= 120_000, `${most.queuedMs} ms waited`);
  assert.ok(most.remembered <= 35, `${most.remembered} parts kept for repeat`);
  assert.ok(peer.results.every((r) => r.lane === 'lane-1' && r.by === 'speaker'));
  const heapGrowth = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
  t.diagnostic(
    `1000 controls sent in ${sent} ms; at most ${most.queued} clips / ${most.queuedMs} ms / ${Math.round(most.queuedBytes / 1024)} KiB waiting; ${peer.results.length} results; heap ${heapGrowth.toFixed(1)} MiB more`,
  );
  assert.ok(heapGrowth < 64, `heap grew ${heapGrowth.toFixed(1)} MiB`);
  // Still answering and playing.
  await peer.control('lane-1', 'stop');
  await waitUntil('stopped', () => peer.results.at(-1)?.outcome === 'stopped');
  await peer.say('lane-1', { frequency: 3200, ms: 100, sourceId: 'after', sourceAt: Date.now() });
  await waitUntil('heard', () => lane(app, 'lane-1')?.lastPlayed?.sourceId === 'after');
});

test('a control for a lane outside SIGHTLINE_SPEAKER_LANES is not this speaker’s: no result, no state, nothing cut', async (t) => {
  const { app, peer } = await fileSpeaker(t, { SIGHTLINE_SPEAKER_LANES: 'lane-1' });
  await peer.say('lane-1', { frequency: 2000, ms: 1500, sourceId: 'playing' });
  await waitUntil('playing', () => lane(app, 'lane-1')?.playing !== null);
  for (const command of ['stop', 'volume-up', 'repeat', 'pause'] as const) await peer.control('lane-2', command);
  await sleep(300);
  assert.equal(peer.results.length, 0);
  assert.equal(lane(app, 'lane-2'), undefined, 'lane-2 is not tracked');
  assert.equal(lane(app, 'lane-1')!.playing?.sourceId, 'playing', 'lane-1 goes on');
  assert.equal(await metricValue(app, 'sightline_speaker_controls_total'), 0);
  await peer.control('lane-1', 'volume-up');
  await waitUntil('lane-1 answered', () => peer.results.length === 1);
  assert.equal(peer.results[0]!.lane, 'lane-1');
});

/**
 * The lane rules, fallback announcements and bad input, on the file output (a real output whose
 * result is a folder listing: one WAV per clip, in playing order).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { buildWav, channels, createTopics, parseWav, pcmDurationMs, type Pcm } from '@sightline/schemas';
import { sleep, startTestBroker, waitUntil } from '@sightline/kit/testing';
import { EarconFallbackAnnouncer, FileSink, offlineVoiceAnnouncer, PulseStreamSink, type FallbackAnnouncer, type SpeakerApp } from '../src/index.ts';
import { MAX_CLOCK_AHEAD_MS } from '../src/player.ts';
import { connectPeer, fileSpeaker, metricValue, outputDir, speechOf, startApp, testConfig } from './helpers.ts';
import { tone, tonePcm } from './tones.ts';

const speaker = (t: TestContext, settings: Record<string, string> = {}, options: { realtime?: boolean; announcer?: FallbackAnnouncer } = {}) =>
  fileSpeaker(t, settings, { ...options, maxFiles: 1000 });

const dropped = (app: SpeakerApp, reason: string) => metricValue(app, 'sightline_speaker_dropped_total', { reason });
const busDropped = (app: SpeakerApp, reason: string) => metricValue(app, 'sightline_bus_messages_dropped_total', { channel: 'audio', reason });

/** The clips the file sink has finished: it writes `<name>.partial` first and renames it. */
const clips = (dir: string): string[] => readdirSync(dir).filter((name) => name.endsWith('.wav'));
test('a newer scan drops the stale announcements still waiting, and late speech for an older scan', async (t) => {
  const { app, peer, played } = await speaker(t);
  const first = Date.now();
  await peer.say('lane-1', { frequency: 2000, ms: 800, sourceId: 'scan-1', sourceAt: first });
  await peer.say('lane-1', { frequency: 2600, ms: 300, sourceId: 'scan-1', sourceAt: first, kind: 'weight-mismatch' });
  await peer.say('lane-2', { frequency: 2600, ms: 300, sourceId: 'other-lane', sourceAt: first });
  await waitUntil('the first plays', () => app.lanes().find((l) => l.lane === 'lane-1')?.playing !== null, 3000);
  await peer.scan('lane-1', 'scan-2', first + 100);
  await peer.say('lane-1', { frequency: 3200, ms: 200, sourceId: 'scan-1', sourceAt: first }); // late, for the old scan
  await peer.say('lane-1', { frequency: 3200, ms: 200, sourceId: 'scan-2', sourceAt: first + 100 });
  await waitUntil('all done', async () => (await metricValue(app, 'sightline_speaker_played_total')) >= 4, 5000);
  await app.player.idle();
  assert.deepEqual(played(), ['lane-1 scan scan-1', 'lane-2 scan other-lane', 'lane-1 earcon-scan scan-2', 'lane-1 scan scan-2']);
  assert.equal(await dropped(app, 'superseded'), 2, 'the waiting weight-mismatch and the late speech');
  assert.equal(await metricValue(app, 'sightline_speaker_interrupted_total', { lane: 'lane-1' }), 1);
  const lane1 = app.lanes().find((l) => l.lane === 'lane-1')!;
  assert.equal(lane1.dropped, 2);
  assert.equal(lane1.interrupted, 1);
});

test('with interruption off, a newer scan waits its turn and nothing is dropped', async (t) => {
  const { app, peer, played } = await speaker(t, { SIGHTLINE_SPEAKER_INTERRUPT: 'false' });
  const first = Date.now();
  await peer.say('lane-1', { frequency: 2000, ms: 400, sourceId: 'scan-1', sourceAt: first });
  await waitUntil('playing', () => app.lanes()[0]?.playing !== null, 3000);
  await peer.scan('lane-1', 'scan-2', first + 100);
  await peer.say('lane-1', { frequency: 3200, ms: 100, sourceId: 'scan-1', sourceAt: first });
  await waitUntil('all done', async () => (await metricValue(app, 'sightline_speaker_played_total')) >= 3, 5000);
  assert.deepEqual(played(), ['lane-1 scan scan-1', 'lane-1 earcon-scan scan-2', 'lane-1 scan scan-1']);
  assert.equal(await metricValue(app, 'sightline_speaker_interrupted_total'), 0);
});

test('audio older than the max age is dropped and counted, except a total', async (t) => {
  const { app, peer, played } = await speaker(t, { SIGHTLINE_SPEAKER_MAX_AGE_SECONDS: '2' }, { realtime: false });
  const old = Date.now() - 3000;
  await peer.say('lane-1', { frequency: 2000, ms: 100, sourceId: 'scan-old', sourceAt: old });
  await peer.scan('lane-1', 'scan-old-2', old);
  await peer.say('lane-1', { frequency: 2000, ms: 100, sourceId: 'ev-total', sourceAt: old - 60_000, kind: 'total', interruptible: false });
  await waitUntil('the total played', async () => (await metricValue(app, 'sightline_speaker_played_total')) >= 1, 5000);
  assert.deepEqual(played(), ['lane-1 total ev-total']);
  assert.equal(await dropped(app, 'stale'), 2, "the old speech and the old scan's earcon");
});

test('announcements that went stale while waiting are dropped when their turn comes', async (t) => {
  const { app, peer, played } = await speaker(t, { SIGHTLINE_SPEAKER_MAX_AGE_SECONDS: '1' });
  const now = Date.now();
  await peer.say('lane-1', { frequency: 2000, ms: 1300, sourceId: 'long', sourceAt: now, kind: 'total', interruptible: false });
  await peer.say('lane-2', { frequency: 2600, ms: 100, sourceId: 'short', sourceAt: now });
  await waitUntil('the stale one dropped', async () => (await dropped(app, 'stale')) === 1, 5000);
  await app.player.idle();
  assert.deepEqual(played(), ['lane-1 total long']);
});

test('the same utterance delivered twice plays once; audio naming another lane is refused', async (t) => {
  const { app, peer, played } = await speaker(t, {}, { realtime: false });
  await peer.say('lane-1', { frequency: 2000, ms: 100, sourceId: 's1', id: 'utt-same' });
  await peer.say('lane-1', { frequency: 2000, ms: 100, sourceId: 's1', id: 'utt-same' });
  const meta = speechOf('lane-2', { frequency: 2000, ms: 100, sourceId: 's2' });
  await peer.bus.publish(channels.audio, { lane: 'lane-1' }, { meta, pcm: tonePcm(2000, 100) });
  await waitUntil('counted', async () => (await dropped(app, 'duplicate')) === 1 && (await dropped(app, 'lane-mismatch')) === 1, 5000);
  await app.player.idle();
  assert.deepEqual(played(), ['lane-1 scan s1']);
});

test('bad audio payloads are counted by reason and never stop the speaker', async (t) => {
  const { app, peer, played } = await speaker(t, {}, { realtime: false });
  const topic = createTopics('sightline').topic(channels.audio, { lane: 'lane-1' });
  const meta = JSON.stringify(speechOf('lane-1', { frequency: 2000, ms: 100, sourceId: 'x' }));
  const pcm = tone(2000, 100);
  const eightBit = buildWav(pcm, { sampleRate: 22050, channels: 1 }, meta);
  eightBit.writeUInt16LE(8, 34);
  const highRate = buildWav(pcm, { sampleRate: 96000, channels: 1 }, meta);
  const compressed = buildWav(pcm, { sampleRate: 22050, channels: 1 }, meta);
  compressed.writeUInt16LE(3, 20);
  const valid = buildWav(pcm, { sampleRate: 22050, channels: 1 }, meta);
  const bad: Array<[string, Buffer | string]> = [
    ['empty', Buffer.alloc(0)],
    ['oversize', Buffer.alloc(2 * 1024 * 1024 + 1, 1)],
    ['not-wav', 'hello, this is not audio'],
    ['not-wav', Buffer.from('RIFF\x10\x00\x00\x00WAVEfmt ', 'latin1')],
    ['not-wav', valid.subarray(0, valid.length - 40)],
    ['not-wav', eightBit],
    ['not-wav', highRate],
    ['not-wav', compressed],
    ['no-metadata', buildWav(pcm, { sampleRate: 22050, channels: 1 })],
    ['no-metadata', buildWav(pcm, { sampleRate: 22050, channels: 1 }, '{not json')],
    ['invalid', buildWav(pcm, { sampleRate: 22050, channels: 1 }, JSON.stringify({ lane: 'lane-1', text: 'no source' }))],
    ['invalid', buildWav(pcm, { sampleRate: 22050, channels: 1 }, JSON.stringify({ ...JSON.parse(meta), text: '<script>'.repeat(200) }))],
  ];
  for (const [, payload] of bad) await peer.raw(topic, payload);
  await peer.say('lane-1', { frequency: 2000, ms: 100, sourceId: 'good' });
  await waitUntil('the good one played', async () => (await metricValue(app, 'sightline_speaker_played_total')) === 1, 5000);
  const expected = new Map<string, number>();
  for (const [reason] of bad) expected.set(reason, (expected.get(reason) ?? 0) + 1);
  for (const [reason, count] of expected) assert.equal(await busDropped(app, reason), count, `dropped as ${reason}`);
  assert.deepEqual(played(), ['lane-1 scan good']);
  assert.equal((await app.runtime.http.inject({ url: '/healthz' })).statusCode, 200);
  const scanTopic = createTopics('sightline').topic(channels.scan, { lane: 'lane-1' });
  await peer.raw(scanTopic, '{"id":"x"}');
  await peer.raw(scanTopic, Buffer.from([0xff, 0xfe, 0x00]));
  await waitUntil('bad scans counted', async () => (await metricValue(app, 'sightline_bus_messages_dropped_total', { channel: 'scan' })) === 2, 3000);
});

test('only the configured lanes are played', async (t) => {
  const { app, peer, played } = await speaker(t, { SIGHTLINE_SPEAKER_LANES: 'lane-2, lane-3' }, { realtime: false });
  await peer.say('lane-1', { frequency: 2000, ms: 100, sourceId: 'not-mine' });
  await peer.say('lane-2', { frequency: 2000, ms: 100, sourceId: 'mine' });
  await peer.scan('lane-3', 'scan-3');
  await waitUntil('played', async () => (await metricValue(app, 'sightline_speaker_played_total')) === 2, 5000);
  await sleep(100);
  assert.deepEqual(played(), ['lane-2 scan mine', 'lane-3 earcon-scan scan-3']);
  const lanes = (await app.runtime.http.inject({ url: '/lanes' })).json().lanes.map((l: { lane: string }) => l.lane);
  assert.deepEqual(lanes, ['lane-2', 'lane-3']);
});

test('not-recognised gets its own earcon, and cuts stale chatter like a scan', async (t) => {
  const { app, peer, played, dir } = await speaker(t, {}, { realtime: false });
  await peer.bus.publish(
    channels.laneEvent,
    { lane: 'lane-1' },
    { id: 'ev-1', lane: 'lane-1', locale: 'fr-FR', at: Date.now(), type: 'not-recognised', camera: 'demo' },
  );
  await waitUntil('played', async () => (await metricValue(app, 'sightline_speaker_played_total')) === 1, 5000);
  assert.deepEqual(played(), ['lane-1 earcon-not-recognised ev-1']);
  const { pcm } = parseWav(readFileSync(path.join(dir, readdirSync(dir)[0]!)));
  assert.ok(Math.abs(pcmDurationMs(pcm) - 190) < 2, `${pcmDurationMs(pcm)} ms`);
  assert.equal(app.lanes()[0]!.locale, 'fr-FR', 'the lane locale is remembered for fallbacks');
});

test('earcons can be turned off', async (t) => {
  const { app, peer, played } = await speaker(t, { SIGHTLINE_SPEAKER_EARCON: 'false' }, { realtime: false });
  const at = Date.now();
  await peer.scan('lane-1', 'scan-1', at);
  await peer.say('lane-1', { frequency: 2000, ms: 100, sourceId: 'scan-1', sourceAt: at });
  await waitUntil('played', async () => (await metricValue(app, 'sightline_speaker_played_total')) === 1, 5000);
  await sleep(100);
  assert.deepEqual(played(), ['lane-1 scan scan-1']);
});

/** An announcer that records what it was asked, and answers with short tones. */
class RecordingAnnouncer implements FallbackAnnouncer {
  calls: string[] = [];
  async speechUnavailable(locale: string): Promise<Pcm> {
    this.calls.push(`unavailable ${locale}`);
    return tonePcm(392, 100);
  }
  async speechRestored(locale: string): Promise<Pcm> {
    this.calls.push(`restored ${locale}`);
    return tonePcm(523, 100);
  }
}

test('tts offline: each lane seen is told once per outage in its locale, lanes seen later too; recovery is announced', async (t) => {
  const announcer = new RecordingAnnouncer();
  const { app, peer, played } = await speaker(t, { SIGHTLINE_SPEAKER_LOCALE: 'de-DE' }, { realtime: false, announcer });
  await peer.tts('online');
  await peer.bus.publish(
    channels.laneEvent,
    { lane: 'lane-1' },
    { id: 'ev-1', lane: 'lane-1', locale: 'fr-FR', at: Date.now(), type: 'not-recognised', camera: 'demo' },
  );
  await waitUntil('lane-1 seen', async () => (await metricValue(app, 'sightline_speaker_played_total')) === 1, 5000);
  await peer.tts('offline');
  await waitUntil('told', () => announcer.calls.length === 1, 3000);
  await peer.tts('offline');
  await peer.scan('lane-2', 'scan-2');
  await waitUntil('lane-2 told', () => announcer.calls.length === 2, 3000);
  await peer.scan('lane-2', 'scan-3');
  await peer.tts('online');
  await waitUntil('recovery told', () => announcer.calls.length === 4, 3000);
  await app.player.idle();
  assert.deepEqual(announcer.calls.slice(0, 2), ['unavailable fr-FR', 'unavailable en-US']);
  assert.deepEqual(announcer.calls.slice(2).sort(), ['restored en-US', 'restored fr-FR']);
  const fallbacks = played().filter((p) => p.includes('speech-'));
  assert.deepEqual(fallbacks.filter((p) => p.includes('unavailable')).sort(), ['lane-1 speech-unavailable outage-1', 'lane-2 speech-unavailable outage-1']);
  assert.equal(fallbacks.filter((p) => p.includes('restored')).length, 2);
  assert.equal(await metricValue(app, 'sightline_speaker_speech_outages_total'), 1);
  assert.equal(app.ttsState(), 'online');
});

test('tts already offline (retained) at start: configured lanes are told with the default earcon pattern; a failing announcer falls back to it', async (t) => {
  const broker = await startTestBroker(t);
  const peer = await connectPeer(t, broker.url);
  await peer.client.publishAsync(createTopics('sightline').topic(channels.availability, { service: 'tts' }), 'offline', { qos: 1, retain: true });
  const { dir, cleanUp } = outputDir();
  const failing: FallbackAnnouncer = {
    speechUnavailable: async () => ({ samples: Buffer.alloc(3), format: { sampleRate: 96000, channels: 1 } }),
    speechRestored: async () => {
      throw new Error('voice crashed');
    },
  };
  const app = await startApp(t, testConfig(broker.url, { SIGHTLINE_SPEAKER_LANES: 'lane-7' }), {
    sink: new FileSink({ dir, maxFiles: 100, maxBytes: 10_000_000, realtime: false }),
    announcer: failing,
  });
  t.after(cleanUp);
  await waitUntil('told', () => clips(dir).some((n) => n.includes('speech-unavailable')), 5000);
  await peer.tts('online');
  await waitUntil('recovery told', () => clips(dir).some((n) => n.includes('speech-restored')), 5000);
  const files = clips(dir).sort();
  const builtIn = new EarconFallbackAnnouncer();
  assert.deepEqual(readFileSync(path.join(dir, files[0]!)).subarray(44), (await builtIn.speechUnavailable('en-US')).samples);
  assert.equal(app.lanes()[0]!.lane, 'lane-7');
});

test('tts offline with the offline voice: the lane hears "speech is unavailable" in words, in its own locale', async (t) => {
  const announcer = offlineVoiceAnnouncer('en-US');
  const { peer, dir } = await speaker(t, {}, { realtime: false, announcer });
  await peer.tts('online');
  await peer.bus.publish(
    channels.laneEvent,
    { lane: 'lane-1' },
    { id: 'ev-1', lane: 'lane-1', locale: 'es-ES', at: Date.now(), type: 'not-recognised', camera: 'demo' },
  );
  await peer.tts('offline');
  await waitUntil('told', () => clips(dir).some((n) => n.includes('speech-unavailable')), 10_000);
  const file = clips(dir).find((n) => n.includes('speech-unavailable'))!;
  const played = parseWav(readFileSync(path.join(dir, file))).pcm;
  const spanish = await announcer.speechUnavailable('es-ES');
  const english = await announcer.speechUnavailable('en-US');
  // Words take seconds; the earcon pattern takes well under one.
  assert.ok(pcmDurationMs(played) > 1500, `${pcmDurationMs(played)} ms`);
  assert.ok(played.samples.equals(spanish.samples), 'the Spanish sentence was played');
  assert.ok(!spanish.samples.equals(english.samples));
});

test('/lanes shows what plays and what waits; /metrics has the speaker metrics', async (t) => {
  const { app, peer } = await speaker(t);
  await peer.say('lane-1', { frequency: 2000, ms: 600, sourceId: 'a' });
  await peer.say('lane-1', { frequency: 2000, ms: 100, sourceId: 'b' });
  // Playing, and started: the output reports the start a moment after it takes the clip.
  await waitUntil('playing', () => typeof app.lanes()[0]?.playing?.startedAt === 'number' && app.lanes()[0]?.queued === 1, 3000);
  const lane = (await app.runtime.http.inject({ url: '/lanes' })).json().lanes[0];
  assert.equal(lane.playing.sourceId, 'a');
  assert.equal(lane.playing.text, 'tone 2000');
  assert.equal(typeof lane.playing.startedAt, 'number');
  assert.equal(lane.queued, 1);
  const metrics = (await app.runtime.http.inject({ url: '/metrics' })).body;
  for (const name of [
    'sightline_speaker_played_total',
    'sightline_speaker_interrupted_total',
    'sightline_speaker_dropped_total',
    'sightline_speaker_sink_errors_total',
    'sightline_speaker_earcon_to_speech_gap_seconds',
    'sightline_speaker_start_latency_seconds',
    'sightline_speaker_queue_length{lane="lane-1",service="speaker"} 1',
  ])
    assert.ok(metrics.includes(name), name);
});

test('a lane with too much waiting loses its oldest interruptible clips, never a total', async (t) => {
  const { app, peer, played } = await speaker(t, { SIGHTLINE_SPEAKER_MAX_QUEUE: '2' });
  const at = Date.now();
  await peer.say('lane-1', { frequency: 2000, ms: 300, sourceId: 'playing', sourceAt: at });
  await waitUntil('playing', () => app.lanes()[0]?.playing !== null, 3000);
  await peer.say('lane-1', { frequency: 2000, ms: 50, sourceId: 'total', sourceAt: at, kind: 'total', interruptible: false });
  await peer.say('lane-1', { frequency: 2000, ms: 50, sourceId: 'q1', sourceAt: at });
  await peer.say('lane-1', { frequency: 2000, ms: 50, sourceId: 'q2', sourceAt: at });
  await peer.say('lane-1', { frequency: 2000, ms: 50, sourceId: 'q3', sourceAt: at });
  await waitUntil('done', async () => (await metricValue(app, 'sightline_speaker_played_total')) === 3, 5000);
  await app.player.idle();
  assert.deepEqual(played(), ['lane-1 scan playing', 'lane-1 total total', 'lane-1 scan q3']);
  assert.equal(await dropped(app, 'overflow'), 2);
});

test('pacat missing: /readyz says why from the start, each clip fails with a count, the service keeps running', async (t) => {
  const broker = await startTestBroker(t);
  const app = await startApp(t, testConfig(broker.url), { sink: new PulseStreamSink({ command: '/nonexistent/pacat', latencyMs: 30 }), probeIntervalMs: 100 });
  const peer = await connectPeer(t, broker.url);
  await waitUntil('connected', () => app.runtime.bus.ready(), 5000);
  const ready = await app.runtime.http.inject({ url: '/readyz' });
  assert.equal(ready.statusCode, 503);
  assert.equal(ready.json().reason, 'audio output failing: pulse: /nonexistent/pacat not found: install pulseaudio-utils');
  await peer.scan('lane-1', 'scan-1');
  await peer.say('lane-1', { frequency: 2000, ms: 100, sourceId: 'scan-1' });
  await peer.say('lane-1', { frequency: 2000, ms: 100, sourceId: 'total', kind: 'total', interruptible: false });
  await waitUntil('all failed', async () => (await dropped(app, 'sink-error')) === 3, 5000);
  assert.equal(await metricValue(app, 'sightline_speaker_sink_errors_total', { sink: 'pulse' }), 5, 'one try each, three for the total');
  assert.equal((await app.runtime.http.inject({ url: '/healthz' })).statusCode, 200);
  assert.equal(app.lanes()[0]!.dropped, 3);
});

test("speech that overtook its scan still plays after the scan's earcon", async (t) => {
  const { app, peer, played } = await speaker(t);
  const at = Date.now();
  await peer.say('lane-2', { frequency: 2000, ms: 300, sourceId: 'blocker', sourceAt: at });
  await waitUntil('blocking', () => app.lanes()[0]?.playing !== null, 3000);
  await peer.say('lane-1', { frequency: 2000, ms: 100, sourceId: 'scan-5', sourceAt: at });
  await peer.scan('lane-1', 'scan-5', at);
  await waitUntil('done', async () => (await metricValue(app, 'sightline_speaker_played_total')) === 3, 5000);
  assert.deepEqual(played(), ['lane-2 scan blocker', 'lane-1 earcon-scan scan-5', 'lane-1 scan scan-5']);
});

test('a scan stamped far in the future silences its lane for no longer than the clock tolerance', async (t) => {
  const { app, peer, played } = await speaker(t);
  const sent = Date.now();
  await peer.scan('lane-1', 'scan-from-tomorrow', sent + 86_400_000);
  await waitUntil('its earcon', () => played().length === 1, 3000);
  // Once this speaker's clock has passed the tolerance, a real scan and its speech are heard again.
  await sleep(Math.max(0, sent + MAX_CLOCK_AHEAD_MS + 200 - Date.now()));
  const now = Date.now();
  await peer.scan('lane-1', 'scan-now', now);
  await peer.say('lane-1', { frequency: 2600, ms: 200, sourceId: 'scan-now', sourceAt: now });
  await waitUntil('the speech for the real scan', () => played().includes('lane-1 scan scan-now'), 5000);
  assert.equal(await dropped(app, 'superseded'), 0);
});

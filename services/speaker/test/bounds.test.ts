/**
 * The speaker's queue and per-lane state are bounded (issue 9, defects 5 and 6): per lane in
 * clips and seconds of audio, lanes take turns, repeated totals coalesce, and made-up lanes cannot
 * grow its state or its metrics. Real broker, the file output (a folder listing in playing order).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import { startTestBroker, waitUntil } from '@sightline/kit/testing';
import { sentenceFor } from '@sightline/voice';
import { FileSink, VoiceFallbackAnnouncer, type SpeakerApp } from '../src/index.ts';
import { fileSpeaker, metricValue } from './helpers.ts';
import { tonePcm } from './tones.ts';

const speaker = (t: TestContext, settings: Record<string, string> = {}, realtime = true) => fileSpeaker(t, settings, { realtime });

const dropped = (app: SpeakerApp, reason: string) => metricValue(app, 'sightline_speaker_dropped_total', { reason });
const lane = (app: SpeakerApp, id: string) => app.lanes().find((l) => l.lane === id);

test('100 five-second clips marked non-interruptible: the lane holds at most MAX_QUEUE clips and MAX_QUEUE_SECONDS of audio', async (t) => {
  // The defaults: 40 clips, 120 s of audio per lane (a spoken receipt of 35 lines fits).
  const { app, peer } = await speaker(t);
  const at = Date.now();
  for (let i = 0; i < 100; i++)
    await peer.say('lane-1', { frequency: 400 + i, ms: 5000, sourceId: `flood-${i}`, sourceAt: at, kind: 'removed', interruptible: false });
  await waitUntil('the flood has arrived', async () => (await dropped(app, 'overflow')) + (lane(app, 'lane-1')?.queued ?? 0) >= 99, 10_000);
  const held = lane(app, 'lane-1')!;
  assert.ok(held.queued <= 24, `${held.queued} clips waiting (120 s of 5 s clips)`);
  assert.ok(held.queuedMs <= 120_000, `${held.queuedMs} ms of audio waiting`);
  assert.ok(held.queuedBytes <= 120 * 22050 * 2 + 24 * 4096, `${held.queuedBytes} bytes waiting`);
  assert.ok((await dropped(app, 'overflow')) >= 75, 'the oldest went, counted');
  // A clip longer than a lane may hold is refused outright.
  await peer.say('lane-2', { frequency: 500, ms: 31_000, sourceId: 'epic', sourceAt: at, kind: 'total', interruptible: false });
  await waitUntil('refused', async () => (await dropped(app, 'too-long')) === 1, 5000);
});

test("one lane's backlog does not make another lane's fresh announcement stale: lanes take turns", async (t) => {
  const { app, peer, played } = await speaker(t, { SIGHTLINE_SPEAKER_MAX_AGE_SECONDS: '2' });
  const at = Date.now();
  for (let i = 0; i < 10; i++)
    await peer.say('lane-1', { frequency: 400 + i, ms: 700, sourceId: `backlog-${i}`, sourceAt: at, kind: 'removed', interruptible: false });
  await waitUntil('lane-1 plays', () => lane(app, 'lane-1')?.playing !== null, 3000);
  await peer.say('lane-2', { frequency: 900, ms: 200, sourceId: 'fresh', sourceAt: Date.now() });
  await waitUntil('lane-2 is heard', () => played().includes('lane-2 scan fresh'), 3000);
  assert.equal(await dropped(app, 'stale'), 0);
  assert.ok(played().indexOf('lane-2 scan fresh') <= 2, played().join(', '));
});

test('500 totals on a lane: a newer total replaces the one waiting, never two totals queued', async (t) => {
  const { app, peer, played } = await speaker(t);
  const at = Date.now();
  let queuedMax = 0;
  for (let i = 1; i <= 500; i++) {
    await peer.say('lane-1', { frequency: 600, ms: 300, sourceId: `total-${i}`, sourceAt: at + i, kind: 'total', interruptible: false });
    queuedMax = Math.max(queuedMax, lane(app, 'lane-1')?.queued ?? 0);
  }
  await waitUntil('the last total is heard', () => played().includes('lane-1 total total-500'), 5000);
  await app.player.idle();
  assert.ok(queuedMax <= 1, `${queuedMax} totals waited at once`);
  // One total plays while the others arrive; what plays is the newest each time, ending with the last.
  assert.ok(played().length < 100, `${played().length} totals played`);
  assert.equal(played().at(-1), 'lane-1 total total-500');
  assert.equal(await dropped(app, 'coalesced'), 500 - played().length);
  assert.equal(await dropped(app, 'overflow'), 0, 'nothing else was lost');
});

test('scans for 200 made-up lanes: at most MAX_LANES lanes are tracked, in state and in metrics; evictions are counted', async (t) => {
  // The default bound: 64 lanes.
  const { app, peer } = await speaker(t, {}, false);
  for (let i = 0; i < 200; i++) await peer.scan(`ghost-${i}`, `scan-${i}`);
  await waitUntil('the last lane is heard', () => app.lanes().some((l) => l.lane === 'ghost-199' && l.played === 1), 10_000);
  await app.player.idle();
  assert.ok(app.lanes().length <= 64, `${app.lanes().length} lanes tracked`);
  assert.equal(await metricValue(app, 'sightline_bounded_map_evictions_total', { map: 'speaker-lanes' }), 200 - app.lanes().length, 'evictions counted');
  const metrics = (await app.runtime.http.inject({ url: '/metrics' })).body;
  const series = new Set([...metrics.matchAll(/^sightline_speaker_[a-z_]+\{[^}]*lane="([^"]+)"/gm)].map((m) => m[1]));
  assert.ok(series.size <= 64, `${series.size} lanes in the metrics`);
  assert.equal((await app.runtime.http.inject({ url: '/healthz' })).statusCode, 200);
});

test('"speech is unavailable" for 100 made-up locales is rendered once per locale actually spoken, not once per locale named', async () => {
  let rendered = 0;
  const voice = {
    async synthesize(_request: { text: string; locale: string }) {
      rendered += 1;
      return { pcm: tonePcm(440, 100) };
    },
  };
  // As the offline voice announcer does: a locale without sentences is spoken in the default one.
  const announcer = new VoiceFallbackAnnouncer(voice, (locale, state) => {
    const sentence = sentenceFor(
      { type: 'trouble', problem: 'speech-unavailable', state, id: 'x', lane: 'fallback', locale, at: 0 },
      { defaultLocale: 'en-US' },
    );
    return { text: sentence.text, locale: sentence.locale };
  });
  for (let i = 0; i < 100; i++) await announcer.speechUnavailable(`x${String.fromCharCode(97 + (i % 26))}-${String.fromCharCode(65 + Math.floor(i / 26))}A`);
  await announcer.speechUnavailable('es-ES');
  await announcer.speechUnavailable('en-US');
  assert.equal(rendered, 2, 'en-US (for every locale without sentences) and es-ES');
});

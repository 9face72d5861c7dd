/**
 * Per-lane state in tts is bounded (issue 9, defects 5 and 6): made-up lane ids cannot start a
 * render each, and repeated totals do not queue one sentence each. Real broker, real bus.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { sleep, waitUntil } from '@sightline/kit/testing';
import { channels } from '@sightline/schemas';
import type { SpeechProvider, Synthesis, SynthesisRequest } from '@sightline/voice';
import type { TtsDeps } from '../src/app.ts';
import { laneEvent, startApp as startAppWith } from './helpers.ts';

/** A voice that takes `delayMs` per sentence and records how many it is asked for at once. */
function gatedVoice(delayMs: number): SpeechProvider & { active: number; maxActive: number } {
  const voice = {
    name: 'gated',
    soundKey: 'tone/16000',
    active: 0,
    maxActive: 0,
    voiceFor: (locale: string) => (locale === 'en-US' ? 'tone' : null),
    voices: () => [{ locale: 'en-US', voice: 'tone' }],
    async synthesize(_request: SynthesisRequest): Promise<Synthesis> {
      voice.active += 1;
      voice.maxActive = Math.max(voice.maxActive, voice.active);
      await sleep(delayMs);
      voice.active -= 1;
      return { pcm: { samples: Buffer.alloc(3200), format: { sampleRate: 16000, channels: 1 } }, voice: 'tone' };
    },
    async close() {},
  };
  return voice;
}

/** Without caches, so every announcement is rendered by the voice under test. */
const startApp = (t: TestContext, env: NodeJS.ProcessEnv, deps: TtsDeps) =>
  startAppWith(t, { SIGHTLINE_TTS_MEMORY_CACHE_MB: '0', SIGHTLINE_TTS_DISK_CACHE_MB: '0', ...env }, deps);

test('200 made-up lanes: at most MAX_LANES lanes wait and CONCURRENCY sentences render at once; the rest is dropped and counted', async (t) => {
  const voice = gatedVoice(100);
  // The defaults: 64 lanes, 4 sentences at once.
  const { peer, metric, logs } = await startApp(t, {}, { primary: voice });
  let heldMax = 0;
  for (let i = 0; i < 200; i++) {
    await peer.bus.publish(channels.laneEvent, { lane: `ghost-${i}` }, laneEvent('not-recognised', { camera: 'demo', lane: `ghost-${i}` }));
    heldMax = Math.max(heldMax, await metric(/sightline_bounded_map_entries\{map="tts-lane-queues",service="tts"\} (\d+)/));
  }
  const evicted = () => metric(/sightline_tts_announcements_dropped_total\{reason="evicted",service="tts"\} (\d+)/);
  await waitUntil('every event spoken or dropped', async () => peer.speech.length + (await evicted()) === 200, 10_000);
  assert.ok(voice.maxActive <= 4, `${voice.maxActive} sentences rendered at once`);
  assert.ok(heldMax <= 64, `${heldMax} lanes held`);
  assert.ok((await evicted()) > 0, 'lanes pushed out are counted');
  assert.ok(
    logs.lines.some((line) => line.map === 'tts-lane-queues' && String(line.msg).includes('bounded map full')),
    'and logged',
  );
});

test('500 totals on one lane: a newer total replaces the waiting one, so the last is said at once', async (t) => {
  // A sentence takes 300 ms, so even on a loaded machine the 500 arrive within a few sentences:
  // without coalescing each would be said in turn.
  const voice = gatedVoice(300);
  const { peer, metric } = await startApp(t, {}, { primary: voice });
  for (let i = 1; i <= 500; i++) {
    await peer.bus.publish(
      channels.laneEvent,
      { lane: 'lane-1' },
      laneEvent('total', { currency: 'USD', basket: { id: 'b1', count: i, totalMinor: i * 100 } }),
    );
  }
  await waitUntil('the last total is spoken', () => peer.speech.some((s) => s.value.text.includes('500 items')), 15_000);
  await sleep(200);
  assert.ok(peer.speech.length < 20, `${peer.speech.length} totals said`);
  assert.ok(peer.speech.at(-1)!.value.text.includes('500 items'));
  assert.ok((await metric(/sightline_tts_announcements_dropped_total\{reason="coalesced",service="tts"\} (\d+)/)) > 480);
});

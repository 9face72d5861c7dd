import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pcmDurationMs } from '@sightline/schemas';
import { createOfflineVoice, type OfflineVoice } from '../src/espeak.ts';
import { providerContract } from '../src/testing.ts';

/** One offline voice for the file: the engine is loaded once per process anyway. */
let shared: OfflineVoice | undefined;
const offlineVoice = () => (shared ??= createOfflineVoice());

providerContract('espeak', async () => offlineVoice());

test('espeak: rate and pitch change the sound and the cache key; unknown voices are refused at init', async () => {
  const normal = offlineVoice();
  const fast = createOfflineVoice({ prosody: { ratePercent: 200, pitchPercent: 20 } });
  assert.notEqual(normal.soundKey, fast.soundKey);
  const text = 'Your total is 12 dollars 40 for 5 items.';
  const a = pcmDurationMs((await normal.synthesize({ text, locale: 'en-US' })).pcm);
  const b = pcmDurationMs((await fast.synthesize({ text, locale: 'en-US' })).pcm);
  assert.ok(b < a * 0.75, `twice the rate is shorter: ${b} vs ${a} ms`);
  const wrong = createOfflineVoice({ voices: { 'en-US': 'gmw/no-such-voice' } });
  await assert.rejects(wrong.init(), /no voice en-US=gmw\/no-such-voice/);
  const added = createOfflineVoice({ voices: { 'en-GB': 'gmw/en-GB-scotland' } });
  assert.equal(added.voiceFor('en-GB'), 'gmw/en-GB-scotland');
  await added.init();
});

test('espeak: 22050 Hz mono, the format its sound key names', async () => {
  const { pcm } = await offlineVoice().synthesize({ text: 'Hello.', locale: 'en-US' });
  assert.deepEqual(pcm.format, { sampleRate: 22050, channels: 1 });
  assert.match(offlineVoice().soundKey, /pcm16\/22050\/mono/);
});

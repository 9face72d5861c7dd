import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseWav } from '@sightline/schemas';
import { buildSsml, createAzureProvider } from '../src/azure.ts';
import { createOfflineVoice } from '../src/espeak.ts';
import { ProviderError, type SpeechProvider } from '../src/provider.ts';
import { startFakeAzure } from './fake-azure.ts';
import { offlineVoice } from './helpers.ts';

/**
 * The contract every provider keeps, run against each of them: espeak-ng WASM, and Azure through
 * the real SDK talking to a local endpoint that speaks the Azure TTS websocket protocol.
 */
function providerContract(name: string, make: (t: import('node:test').TestContext) => Promise<SpeechProvider>) {
  describe(`provider contract: ${name}`, () => {
    test('speaks en-US and es-ES into a plain 16-bit PCM WAV', async (t) => {
      const provider = await make(t);
      for (const [locale, text] of [['en-US', 'You scanned a banana, 0.42 kilograms, 83 cents.'], ['es-ES', 'Has escaneado un plátano, 83 céntimos.']] as const) {
        const voice = provider.voiceFor(locale);
        assert.ok(voice, `a voice for ${locale}`);
        const result = await provider.synthesize({ text, locale });
        const wav = parseWav(result.wav);
        assert.equal(wav.bitsPerSample, 16);
        assert.equal(wav.channels, 1);
        assert.ok(wav.durationMs > 300, `${locale}: ${wav.durationMs} ms of audio`);
        assert.equal(wav.metadata, undefined);
        assert.equal(result.voice, voice);
        const loud = wav.samples.reduce((max, _, i) => (i % 2 === 0 && i + 1 < wav.samples.length ? Math.max(max, Math.abs(wav.samples.readInt16LE(i))) : max), 0);
        assert.ok(loud > 1000, 'not silence');
      }
    });
    test('lists its voices and refuses a locale it has no voice for', async (t) => {
      const provider = await make(t);
      const locales = provider.voices().map((v) => v.locale);
      assert.ok(locales.includes('en-US') && locales.includes('es-ES'));
      assert.equal(provider.voiceFor('ja-JP'), null);
      await assert.rejects(provider.synthesize({ text: 'hello', locale: 'ja-JP' }), ProviderError);
    });
    test('an aborted request is refused without audio', async (t) => {
      const provider = await make(t);
      const controller = new AbortController();
      controller.abort(new Error('gave up'));
      await assert.rejects(provider.synthesize({ text: 'hello', locale: 'en-US', signal: controller.signal }), /gave up/);
    });
    test('markup in the text is spoken as words, never interpreted', async (t) => {
      const provider = await make(t);
      const result = await provider.synthesize({ text: 'Fish <break time="9s"/> & chips', locale: 'en-US' });
      assert.ok(parseWav(result.wav).durationMs < 5000);
    });
    test('the sound key changes with the prosody', async (t) => {
      const provider = await make(t);
      assert.match(provider.soundKey, /\S/);
    });
  });
}

providerContract('espeak', async () => offlineVoice());
providerContract('azure (local endpoint)', async (t) => {
  const server = await startFakeAzure(t);
  return createAzureProvider({ key: 'local-test-key', endpoint: server.url });
});

test('espeak: rate and pitch change the sound and the cache key; unknown voices are refused at init', async () => {
  const normal = offlineVoice();
  const fast = createOfflineVoice({ prosody: { ratePercent: 200, pitchPercent: 20 } });
  assert.notEqual(normal.soundKey, fast.soundKey);
  const text = 'Your total is 12 dollars 40 for 5 items.';
  const a = parseWav((await normal.synthesize({ text, locale: 'en-US' })).wav).durationMs;
  const b = parseWav((await fast.synthesize({ text, locale: 'en-US' })).wav).durationMs;
  assert.ok(b < a * 0.75, `twice the rate is shorter: ${b} vs ${a} ms`);
  const wrong = createOfflineVoice({ voices: { 'en-US': 'gmw/no-such-voice' } });
  await assert.rejects(wrong.init(), /no voice en-US=gmw\/no-such-voice/);
  const added = createOfflineVoice({ voices: { 'en-GB': 'gmw/en-GB-scotland' } });
  assert.equal(added.voiceFor('en-GB'), 'gmw/en-GB-scotland');
  await added.init();
});

test('azure: SSML carries voice, locale and prosody around escaped text', () => {
  const ssml = buildSsml('Fish & <chips> "x"', 'es-ES', 'es-ES-ElviraNeural', { ratePercent: 120, pitchPercent: -10 });
  assert.equal(
    ssml,
    '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="es-ES"><voice name="es-ES-ElviraNeural"><prosody rate="+20%" pitch="-10%">Fish and chips &quot;x&quot;</prosody></voice></speak>',
  );
});

test('azure: the real SDK without network fails fast with a ProviderError', async () => {
  const azure = createAzureProvider({ key: '0123456789abcdef0123456789abcdef', region: 'westeurope' });
  const started = performance.now();
  await assert.rejects(azure.synthesize({ text: 'hello', locale: 'en-US' }), (err: Error) => {
    assert.ok(err instanceof ProviderError);
    assert.match(err.message, /Azure Canceled \(ConnectionFailure\)/);
    assert.doesNotMatch(err.message, /0123456789abcdef/);
    return true;
  });
  assert.ok(performance.now() - started < 10_000);
});

test('azure: the fake endpoint received the SSML and the key, and a stalled endpoint is abandoned on abort', async (t) => {
  const server = await startFakeAzure(t);
  const azure = createAzureProvider({ key: 'local-test-key', endpoint: server.url, prosody: { ratePercent: 90, pitchPercent: 5 } });
  await azure.synthesize({ text: 'Hello & goodbye', locale: 'fr-FR' });
  const ssml = server.requests.at(-1)?.ssml ?? '';
  assert.match(ssml, /<voice name="fr-FR-DeniseNeural"><prosody rate="-10%" pitch="\+5%">Hello and goodbye<\/prosody>/);
  assert.equal(server.requests.at(-1)?.key, 'local-test-key');
  server.stall = true;
  const controller = new AbortController();
  const pending = azure.synthesize({ text: 'Hello', locale: 'en-US', signal: controller.signal });
  setTimeout(() => controller.abort(new Error('over budget')), 200);
  await assert.rejects(pending, /over budget/);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { providerContract } from '@sightline/voice/testing';
import { ProviderError } from '@sightline/voice';
import { buildSsml, createAzureProvider } from '../src/azure.ts';
import { startFakeAzure } from './fake-azure.ts';

/**
 * Azure keeps the contract every provider keeps (the suite of @sightline/voice, which runs it on
 * the offline voice), through the real SDK talking to a local endpoint that speaks the Azure TTS
 * websocket protocol.
 */
providerContract('azure (local endpoint)', async (t) => {
  const server = await startFakeAzure(t);
  return createAzureProvider({ key: 'local-test-key', endpoint: server.url });
});

test('azure: raw 24 kHz mono PCM, exactly what the endpoint sent (no container to parse off)', async (t) => {
  const server = await startFakeAzure(t);
  const { pcm } = await createAzureProvider({ key: 'local-test-key', endpoint: server.url }).synthesize({ text: 'Hello.', locale: 'en-US' });
  assert.deepEqual(pcm.format, { sampleRate: 24000, channels: 1 });
  assert.ok(pcm.samples.equals(server.audio), `${pcm.samples.length} bytes, the endpoint sent ${server.audio.length}`);
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

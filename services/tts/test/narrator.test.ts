import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { pcmDurationMs } from '@sightline/schemas';
import type { SpeechProvider } from '@sightline/voice';
import { createAzureProvider } from '../src/azure.ts';
import { AudioCache } from '../src/cache.ts';
import { createTtsMetrics } from '../src/metrics.ts';
import { Narrator } from '../src/narrator.ts';
import { startFakeAzure } from './fake-azure.ts';
import { captureLogs, offlineVoice, slowProvider, tempDir } from './helpers.ts';

function narrator(primary: SpeechProvider, budgetMs = 1500, dir?: string) {
  const registry = new Registry();
  const metrics = createTtsMetrics(registry);
  const logs = captureLogs();
  const cache = new AudioCache({ memoryBytes: 8 * 1024 * 1024, disk: dir ? { dir, maxBytes: 8 * 1024 * 1024 } : null, events: metrics.cacheEvents });
  return { narrator: new Narrator({ primary, offline: offlineVoice(), budgetMs, cache, logger: logs.logger, metrics }), registry, logs, cache };
}

const SECRET = '0123456789abcdef0123456789abcdef';

test('Azure unreachable (real SDK, no network): the offline voice speaks, and it is reported', async () => {
  const azure = createAzureProvider({ key: SECRET, region: 'westeurope' });
  const { narrator: n, registry, logs } = narrator(azure);
  const rendered = await n.render('Your total is 12 dollars 40 for 5 items.', 'en-US');
  assert.equal(rendered.provider, 'espeak');
  assert.equal(rendered.voice, 'gmw/en-US');
  assert.ok(pcmDurationMs(rendered.pcm) > 1000);
  assert.equal(rendered.fallback?.from, 'azure');
  assert.match(rendered.fallback?.reason ?? '', /^error: Azure Canceled \(ConnectionFailure\)/);
  assert.match(await registry.metrics(), /sightline_tts_fallbacks_total\{from="azure",reason="error"\} 1/);
  const warning = logs.lines.find((line) => line.msg === 'azure failed, the offline voice speaks instead');
  assert.ok(warning, 'a log line says so');
  assert.ok(!logs.text().includes(SECRET), 'the key is never logged');
  // the fallback audio is cached under the offline voice: the second time only Azure is retried
  const again = await n.render('Your total is 12 dollars 40 for 5 items.', 'en-US');
  assert.equal(again.cached, true);
  assert.equal(again.fallback?.from, 'azure');
});

test('a provider slower than the budget: the offline voice speaks within about the budget', async () => {
  const slow = slowProvider({ delayMs: 5000 });
  const { narrator: n, registry } = narrator(slow, 300);
  const started = performance.now();
  const rendered = await n.render('Item not recognised, please try again.', 'en-US');
  const elapsed = performance.now() - started;
  assert.equal(rendered.provider, 'espeak');
  assert.match(rendered.fallback?.reason ?? '', /^timeout: no audio within the 300 ms budget/);
  assert.ok(elapsed < 3000, `answered in ${Math.round(elapsed)} ms`);
  assert.match(await registry.metrics(), /sightline_tts_fallbacks_total\{from="slow",reason="timeout"\} 1/);
});

test('Azure at a local endpoint: spoken by Azure, cached, and a stalled endpoint falls back at the budget', async (t) => {
  const server = await startFakeAzure(t);
  const azure = createAzureProvider({ key: SECRET, endpoint: server.url });
  const { narrator: n } = narrator(azure, 800);
  const first = await n.render('Your basket is now empty.', 'en-US');
  assert.equal(first.provider, 'azure');
  assert.equal(first.voice, 'en-US-JennyNeural');
  assert.deepEqual(first.pcm.format, { sampleRate: 24000, channels: 1 });
  assert.equal(first.cached, false);
  assert.equal(first.fallback, undefined);
  const second = await n.render('Your basket is now empty.', 'en-US');
  assert.equal(second.cached, true);
  assert.equal(second.synthMs, 0);
  assert.equal(server.requests.length, 1, 'the cache answered the second time');
  server.stall = true;
  const started = performance.now();
  const stalled = await n.render('The scale is working again.', 'en-US');
  assert.equal(stalled.provider, 'espeak');
  assert.match(stalled.fallback?.reason ?? '', /^timeout/);
  assert.ok(performance.now() - started < 4000);
});

test('cache: memory then disk; a restarted narrator finds the audio on disk', async (t) => {
  const dir = tempDir(t);
  const text = 'Please place the banana on the scale.';
  const a = narrator(offlineVoice(), 1500, dir);
  const first = await a.narrator.render(text, 'en-US');
  assert.equal(first.cached, false);
  assert.ok(first.synthMs > 0);
  assert.equal((await a.narrator.render(text, 'en-US')).cached, true);
  const b = narrator(offlineVoice(), 1500, dir);
  await b.cache.load();
  const fromDisk = await b.narrator.render(text, 'en-US');
  assert.equal(fromDisk.cached, true);
  assert.deepEqual(fromDisk.pcm, first.pcm);
  const metrics = await b.registry.metrics();
  assert.match(metrics, /sightline_tts_cache_hits_total\{tier="disk"\} 1/);
  // a different locale or text is a different entry
  assert.equal((await b.narrator.render(text, 'es-ES')).cached, false);
});

test('split pieces: each piece cached, joined with silence; mixed providers fall back to one sentence', async () => {
  const { narrator: n } = narrator(offlineVoice());
  const parts = ['You scanned a banana,', '0.42 kilograms,', '83 cents.'];
  const whole = parts.join(' ');
  const split = await n.renderPieces(parts, whole, 'en-US');
  assert.equal(split.cached, false);
  const pieces = await Promise.all(parts.map((p) => n.render(p, 'en-US')));
  assert.ok(pieces.every((p) => p.cached));
  const expected = pieces.reduce((sum, p) => sum + p.durationMs, 0) + 2 * 120;
  assert.ok(Math.abs(split.durationMs - expected) < 5, `${split.durationMs} ≈ ${expected}`);
  const again = await n.renderPieces(parts, whole, 'en-US');
  assert.equal(again.cached, true);
  // the first piece from a tone voice and the rest from espeak cannot be joined: one sentence instead
  const tone = slowProvider({ delayMs: 0 });
  const mixed = narrator({ ...tone, synthesize: (r) => (r.text.startsWith('You') ? tone.synthesize(r) : Promise.reject(new Error('down'))) });
  const joined = await mixed.narrator.renderPieces(parts, whole, 'en-US');
  assert.equal(joined.provider, 'slow');
  assert.equal(joined.fallback, undefined);
  assert.deepEqual(tone.calls, ['You scanned a banana,', whole]);
});

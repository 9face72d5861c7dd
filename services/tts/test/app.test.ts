import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestBroker, waitUntil } from '@sightline/kit/testing';
import { channels, parseWav, pcmDurationMs } from '@sightline/schemas';
import { fixedSentences } from '@sightline/voice';
import { createTtsApp } from '../src/app.ts';
import { BANANA, captureLogs, connectPeer, laneEvent, offlineVoice, scan, slowProvider, startApp, testConfig, type Peer } from './helpers.ts';

test('a scan is announced: WAV with metadata on audio, the same metadata on speech', async (t) => {
  const { peer, metrics } = await startApp(t);
  const scanned = scan({ lane: 'lane-7', product: BANANA, pricing: 'kg', weightGrams: 420, priceMinor: 83 });
  await peer.bus.publish(channels.scan, { lane: 'lane-7' }, scanned);
  await waitUntil('audio and speech arrive', () => peer.audio.length === 1 && peer.speech.length === 1);
  const [{ lane, value: audio }] = peer.audio as [Peer['audio'][0]];
  const speech = peer.speech[0]!.value;
  assert.equal(lane, 'lane-7');
  assert.deepEqual(audio.meta, speech);
  assert.equal(speech.text, 'You scanned a banana, 0.42 kilograms, 83 cents.');
  assert.deepEqual(speech.source, { kind: 'scan', id: scanned.id, at: scanned.at });
  assert.equal(speech.provider, 'espeak');
  assert.equal(speech.voice, 'gmw/en-US');
  assert.equal(speech.interruptible, true);
  assert.equal(speech.fallback, undefined);
  assert.deepEqual(audio.pcm.format, { sampleRate: 22050, channels: 1 });
  assert.ok(Math.abs(pcmDurationMs(audio.pcm) - speech.durationMs) <= 1);
  assert.match(await metrics(), /sightline_tts_announcements_total\{kind="scan",service="tts"\} 1/);
});

test('a scan made while tts is down is announced when it is back: the broker keeps it for the persistent session', async (t) => {
  const broker = await startTestBroker(t);
  const config = testConfig(t, broker.url, { SIGHTLINE_TTS_MQTT_CLIENT_ID: 'tts-session-test' });
  const start = async () => {
    const app = createTtsApp(config, captureLogs().logger, { offline: offlineVoice() });
    t.after(() => app.stop());
    await app.start();
    await waitUntil('tts is ready', async () => (await app.runtime.http.inject({ url: '/readyz' })).statusCode === 200);
    return app;
  };
  // Once up, the session (and its subscriptions) lives in the broker.
  await (await start()).stop();
  const peer = await connectPeer(t, broker.url);
  const scanned = scan({ lane: 'lane-3', product: BANANA, pricing: 'kg', weightGrams: 420, priceMinor: 83 });
  await peer.bus.publish(channels.scan, { lane: 'lane-3' }, scanned);
  await start();
  await waitUntil('the scan made while tts was down is announced', () => peer.audio.some(({ value }) => value.meta.source.id === scanned.id), 10_000);
  assert.equal(peer.speech.find(({ value }) => value.source.id === scanned.id)?.value.text, 'You scanned a banana, 0.42 kilograms, 83 cents.');
});

test('totals are not interruptible; a lane keeps its order even when an earlier sentence is slow', async (t) => {
  const primary = slowProvider({ delayMs: (text) => (text.startsWith('Item not') ? 700 : 10) });
  const { peer } = await startApp(t, {}, { primary });
  await peer.bus.publish(channels.laneEvent, { lane: 'lane-1' }, laneEvent('not-recognised', { camera: 'demo' }));
  await peer.bus.publish(channels.laneEvent, { lane: 'lane-1' }, laneEvent('total', { currency: 'USD', basket: { id: 'b1', count: 2, totalMinor: 405 } }));
  await peer.bus.publish(
    channels.laneEvent,
    { lane: 'lane-2' },
    laneEvent('cleared', { lane: 'lane-2', currency: 'USD', basket: { id: 'b2', count: 0, totalMinor: 0 } }),
  );
  await waitUntil('three announcements', () => peer.speech.length === 3);
  const lane1 = peer.speech.filter((s) => s.lane === 'lane-1').map((s) => s.value);
  assert.deepEqual(
    lane1.map((s) => s.text),
    ['Item not recognised, please try again.', 'Your total is 4 dollars 5 cents for 2 items.'],
  );
  assert.deepEqual(
    lane1.map((s) => s.interruptible),
    [true, false],
  );
  assert.ok(lane1.every((s) => s.provider === 'slow'));
  assert.equal(peer.speech[0]!.lane, 'lane-2', 'another lane does not wait for lane-1');
});

test('a full lane queue drops the oldest waiting announcement, never a total', async (t) => {
  const primary = slowProvider({ delayMs: 800 });
  const { peer, metrics } = await startApp(t, { SIGHTLINE_TTS_LANE_QUEUE: '1' }, { primary });
  const events = [
    laneEvent('not-recognised', { camera: 'demo' }),
    laneEvent('place-on-scale', { product: BANANA }),
    laneEvent('cleared', { currency: 'USD', basket: { id: 'b1', count: 0, totalMinor: 0 } }),
    laneEvent('total', { currency: 'USD', basket: { id: 'b1', count: 1, totalMinor: 83 } }),
  ];
  for (const event of events) await peer.bus.publish(channels.laneEvent, { lane: 'lane-1' }, event);
  await waitUntil('the total is spoken', () => peer.speech.some((s) => s.value.source.kind === 'total'));
  assert.deepEqual(
    peer.speech.map((s) => s.value.source.kind),
    ['not-recognised', 'total'],
  );
  assert.match(await metrics(), /sightline_tts_announcements_dropped_total\{reason="overflow",service="tts"\} 2/);
});

test('hostile, oversize and corrupt payloads are counted and dropped; the service keeps speaking', async (t) => {
  const { peer, metrics } = await startApp(t);
  const bad: Array<string | Buffer> = [
    '',
    'not json',
    '{"id":',
    Buffer.alloc(20 * 1024, 0x7b),
    JSON.stringify({ ...scan(), product: { ...BANANA, spoken: { one: '<speak>banana</speak>' } } }),
    JSON.stringify({ ...scan(), locale: 'english' }),
    JSON.stringify({ ...scan(), priceMinor: -5 }),
    JSON.stringify({ ...scan(), __proto__: { polluted: true }, extra: 1 }),
    Buffer.from([0xff, 0xfe, 0x00, 0x01]),
  ];
  for (const payload of bad) await peer.raw('sightline/lanes/lane-1/scan', payload);
  await peer.raw('sightline/lanes/lane-1/event', JSON.stringify({ type: 'explode', id: 'x', lane: 'lane-1', locale: 'en-US', at: 1 }));
  await peer.bus.publish(channels.laneEvent, { lane: 'lane-1' }, laneEvent('trouble', { problem: 'scale-offline', state: 'begin' }));
  await waitUntil('the valid event is spoken', () => peer.speech.length === 1);
  assert.equal(peer.speech[0]!.value.text, 'The scale is not working. Please ask for assistance.');
  const text = await metrics();
  const dropped = [...text.matchAll(/sightline_bus_messages_dropped_total\{channel="(scan|lane-event)",reason="([a-z-]+)",service="tts"\} (\d+)/g)];
  const total = dropped.reduce((sum, m) => sum + Number(m[3]), 0);
  assert.equal(total, bad.length + 1, text);
  assert.equal(peer.audio.length, 1);
});

test('an unsupported locale is spoken in the default locale, logged and counted', async (t) => {
  const { peer, logs, metrics } = await startApp(t, { SIGHTLINE_TTS_DEFAULT_LOCALE: 'es-ES' });
  await peer.bus.publish(channels.laneEvent, { lane: 'lane-1' }, laneEvent('not-recognised', { camera: 'demo', locale: 'ja-JP' }));
  await waitUntil('spoken', () => peer.speech.length === 1);
  const speech = peer.speech[0]!.value;
  assert.equal(speech.locale, 'es-ES');
  assert.equal(speech.voice, 'roa/es');
  assert.equal(speech.text, 'Artículo no reconocido, inténtelo de nuevo.');
  assert.ok(logs.lines.some((line) => line.locale === 'ja-JP' && String(line.msg).includes('no sentences for locale ja-JP')));
  assert.match(await metrics(), /sightline_tts_unsupported_locale_total\{service="tts"\} 1/);
});

test('Azure configured but unreachable (real SDK): every announcement still spoken, fallback reported', async (t) => {
  const { peer, logs, metrics } = await startApp(t, { SIGHTLINE_TTS_AZURE_KEY: 'fedcba9876543210fedcba9876543210', SIGHTLINE_TTS_AZURE_REGION: 'westeurope' });
  await peer.bus.publish(channels.laneEvent, { lane: 'lane-1' }, laneEvent('place-on-scale', { product: BANANA }));
  await waitUntil('spoken', () => peer.speech.length === 1, 10_000);
  const speech = peer.speech[0]!.value;
  assert.equal(speech.provider, 'espeak');
  assert.equal(speech.fallback?.from, 'azure');
  assert.match(speech.fallback?.reason ?? '', /ConnectionFailure/);
  assert.match(await metrics(), /sightline_tts_fallbacks_total\{from="azure",reason="error",service="tts"\} 1/);
  assert.ok(!logs.text().includes('fedcba9876543210'), 'the key is never logged');
});

test('start-up pre-render fills the cache with fixed sentences and product phrases', async (t) => {
  const { app, peer, metrics } = await startApp(t, { SIGHTLINE_TTS_PRERENDER: 'true' });
  await app.prerendered();
  // The fixture catalog speaks en-US and es-ES: each locale's fixed sentences, and 18 product phrases.
  const fixed = fixedSentences('en-US').length + fixedSentences('es-ES').length;
  assert.match(await metrics(), new RegExp(`sightline_tts_prerendered_total\\{service="tts"\\} ${fixed + 18}\\b`));
  await peer.bus.publish(channels.laneEvent, { lane: 'lane-1' }, laneEvent('place-on-scale', { product: BANANA }));
  await peer.bus.publish(
    channels.laneEvent,
    { lane: 'lane-1' },
    laneEvent('place-on-scale', { product: { ...BANANA, spoken: { one: 'Albahaca' } }, locale: 'es-ES' }),
  );
  await waitUntil('spoken', () => peer.speech.length === 2);
  assert.deepEqual(
    peer.speech.map((s) => [s.value.cached, s.value.synthMs]),
    [
      [true, 0],
      [true, 0],
    ],
  );
});

test('HTTP: POST /speak and GET /voices, with clear refusals', async (t) => {
  const { app, metrics } = await startApp(t);
  const http = app.runtime.http;
  const speak = (body: unknown, contentType = 'application/json') =>
    http.inject({ method: 'POST', url: '/speak', headers: { 'content-type': contentType }, payload: typeof body === 'string' ? body : JSON.stringify(body) });
  const ok = await speak({ text: 'Hola, buenos días.', locale: 'es-ES' });
  assert.equal(ok.statusCode, 200);
  assert.equal(ok.headers['content-type'], 'audio/wav');
  assert.equal(ok.headers['x-speech-voice'], 'roa/es');
  assert.ok(pcmDurationMs(parseWav(ok.rawPayload).pcm) > 500);
  assert.equal((await speak({ text: 'Hola, buenos días.', locale: 'es-ES' })).headers['x-speech-cached'], 'true');
  assert.equal((await speak({ text: 'Hello there.' })).statusCode, 200, 'the default locale when none is given');
  assert.equal((await speak({ text: 'Good\n\tmorning.' })).statusCode, 200, 'lines and tabs are spaces');
  const refusals: Array<[unknown, string, number, RegExp]> = [
    [{ text: '<speak>hi</speak>' }, 'application/json', 400, /plain/],
    [{ text: 'Fish & chips' }, 'application/json', 400, /plain/],
    [{ text: 'evil\u202egnp.exe' }, 'application/json', 400, /bidirectional/],
    [{ text: 'bell\u0085' }, 'application/json', 400, /plain/],
    [{ text: 'x'.repeat(10 * 1024) }, 'application/json', 413, /at most 1000/],
    [{ text: 'hello', locale: 'english' }, 'application/json', 400, /locale must be/],
    [{ text: 'hello', locale: 'ja-JP' }, 'application/json', 400, /no voice for locale ja-JP/],
    [{ text: '' }, 'application/json', 400, /non-empty/],
    [{ text: 42 }, 'application/json', 400, /non-empty string/],
    [{ text: 'hi', ssml: '<x/>' }, 'application/json', 400, /unknown field: ssml/],
    [[1, 2], 'application/json', 400, /JSON object/],
    ['hello', 'text/plain', 415, /application\/json/],
  ];
  for (const [body, type, status, message] of refusals) {
    const response = await speak(body, type);
    assert.equal(response.statusCode, status, `${JSON.stringify(body).slice(0, 40)}: ${response.body}`);
    assert.match(response.json().message ?? response.json().error, message);
  }
  assert.equal((await speak('{"text":', 'application/json')).statusCode, 400, 'corrupt JSON');
  assert.equal((await speak({ text: 'x'.repeat(100 * 1024) })).statusCode, 413, 'over the body limit');
  const voices = (await http.inject({ url: '/voices' })).json();
  assert.equal(voices.provider, 'espeak');
  assert.ok(voices.locales.includes('en-US') && voices.locales.includes('es-ES'));
  assert.ok(voices.voices.some((v: { locale: string; voice: string }) => v.locale === 'es-ES' && v.voice === 'roa/es'));
  assert.deepEqual(voices.sentenceLocales, ['en-US', 'es-ES', 'fr-FR']);
  const text = await metrics();
  assert.match(text, /sightline_tts_speak_requests_total\{outcome="markup",service="tts"\} 4/);
  assert.match(text, /sightline_tts_cache_hits_total\{tier="memory",service="tts"\} 1/);
});

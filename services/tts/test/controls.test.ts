/**
 * Control results and the long announcements (receipts, basket read-outs) as tts says them: a
 * spoken result per outcome, part by part where the sentence is a list, nothing for the silent ones.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sleep, waitUntil } from '@sightline/kit/testing';
import { channels, controlResultSchema, type ControlResult, type SpokenLine } from '@sightline/schemas';
import { BANANA, laneEvent, startApp } from './helpers.ts';

const ORANGE = { sku: 'PRODUCE-ORANGE', label: 'orange', name: 'Oranges', spoken: { one: 'orange' } };
const lines: SpokenLine[] = [
  { product: ORANGE, pricing: 'kg', quantity: 1, weightGrams: 180, priceMinor: 54 },
  { product: BANANA, pricing: 'unit', quantity: 2, weightGrams: null, priceMinor: 194 },
];

let counter = 0;
function result(fields: Record<string, unknown>): ControlResult {
  counter += 1;
  return controlResultSchema.parse({ id: `ctl-${counter}`, lane: 'lane-1', locale: 'en-US', at: Date.now(), by: 'speaker', ...fields });
}

test('a control result is spoken on the lane, marked as control with its command; a silent one is not', async (t) => {
  const { peer, metrics } = await startApp(t);
  const stopped = result({ command: 'stop', outcome: 'stopped' });
  const volume = result({ command: 'volume-up', outcome: 'volume', volume: { output: 'speaker', level: 7, steps: 8 } });
  await peer.bus.publish(channels.laneControlResult, { lane: 'lane-1' }, stopped);
  await peer.bus.publish(channels.laneControlResult, { lane: 'lane-1' }, volume);
  await waitUntil('the volume is said', () => peer.speech.length >= 1);
  await sleep(300);
  assert.deepEqual(
    peer.speech.map(({ value }) => value.text),
    ['Volume 7 of 8.'],
    'the stop says nothing: the silence is its answer',
  );
  const [speech] = peer.speech.map(({ value }) => value);
  assert.deepEqual(speech!.source, { kind: 'control', id: volume.id, at: volume.at, command: 'volume-up' });
  assert.equal(peer.audio.length, 1);
  assert.equal(speech!.part, undefined);
  assert.match(await metrics(), /sightline_tts_announcements_total\{kind="control",service="tts"\} 1/);
});

test('a receipt is one audio message per line, in order, numbered, none interruptible; a basket read-out likewise in its locale', async (t) => {
  const { peer } = await startApp(t);
  const total = laneEvent('total', { currency: 'USD', basket: { id: 'b1', count: 3, totalMinor: 248 }, receipt: { lines, more: 0 } });
  await peer.bus.publish(channels.laneEvent, { lane: 'lane-1' }, total);
  await waitUntil('four parts', () => peer.audio.length === 4, 15_000);
  const parts = peer.audio.map(({ value }) => value.meta);
  assert.deepEqual(
    parts.map((meta) => meta.text),
    [
      'Your receipt.',
      'An orange, 0.18 kilograms, 54 cents.',
      '2 bananas, 1 dollar 94.',
      'Your total is 2 dollars 48 for 3 items. Thank you for shopping with us.',
    ],
  );
  assert.deepEqual(
    parts.map((meta) => meta.part),
    [0, 1, 2, 3].map((index) => ({ index, count: 4 })),
  );
  assert.ok(parts.every((meta) => meta.source.id === total.id && meta.source.kind === 'total' && !meta.interruptible));
  assert.equal(new Set(parts.map((meta) => meta.id)).size, 4, 'each part its own utterance id');
  assert.ok(parts.every((meta, i) => peer.audio[i]!.value.pcm.samples.length > 0));

  const read = result({
    command: 'basket',
    by: 'checkout',
    outcome: 'basket',
    locale: 'es-ES',
    currency: 'EUR',
    basket: { id: 'b2', count: 3, totalMinor: 248 },
    read: { lines, more: 0 },
  });
  await peer.bus.publish(channels.laneControlResult, { lane: 'lane-1' }, read);
  await waitUntil('the read-out', () => peer.audio.length === 8, 15_000);
  const readOut = peer.audio.slice(4).map(({ value }) => value.meta);
  assert.equal(readOut[0]!.text, 'Su cesta tiene 3 artículos.');
  assert.equal(readOut.at(-1)!.text, 'Su total hasta ahora es 2 euros con 48.');
  assert.ok(readOut.every((meta) => meta.locale === 'es-ES' && meta.voice.includes('es')));
});

test('every idle warning names the key and the time; the session end is said and not cut', async (t) => {
  const { peer } = await startApp(t);
  await peer.bus.publish(channels.laneEvent, { lane: 'lane-1' }, laneEvent('idle-warning', { remainingSeconds: 60, moreTimeKey: 'KP3' }));
  await peer.bus.publish(
    channels.laneEvent,
    { lane: 'lane-1' },
    laneEvent('session-ended', { reason: 'timeout', currency: 'USD', basket: { id: 'b1', count: 2, totalMinor: 300 } }),
  );
  await waitUntil('both said', () => peer.speech.length === 2);
  const [warning, ended] = peer.speech.map(({ value }) => value);
  assert.equal(warning!.text, 'Are you still there? Your session ends in 1 minute. Press 3 for more time.');
  assert.equal(warning!.interruptible, true);
  assert.equal(ended!.text, 'Your session has ended because there was no activity. Your basket was cleared.');
  assert.equal(ended!.interruptible, false);
});

test('a hostile control result (markup, an unknown outcome, oversize) is refused by the channel and tts says nothing', async (t) => {
  const { peer } = await startApp(t);
  const topic = 'sightline/lanes/lane-1/control/result';
  for (const payload of [
    '',
    '{"not json',
    JSON.stringify({ ...result({ command: 'stop', outcome: 'stopped' }), outcome: 'explode' }),
    JSON.stringify({ ...result({ command: 'repeat', outcome: 'refused', reason: 'invalid', error: 'x' }), error: '<speak>boom</speak>\u202e' }),
    'x'.repeat(70 * 1024),
  ]) {
    await peer.raw(topic, payload);
  }
  await sleep(500);
  assert.equal(peer.speech.length, 0);
  // Still working afterwards.
  await peer.bus.publish(channels.laneControlResult, { lane: 'lane-1' }, result({ command: 'pause', outcome: 'paused' }));
  await waitUntil('the pause is said', () => peer.speech.length === 1);
  assert.equal(peer.speech[0]!.value.text, 'Paused.');
});

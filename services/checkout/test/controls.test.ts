import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { sleep, waitUntil } from '@sightline/kit/testing';
import { channels, controlResultSchema, MAX_SPOKEN_LINES, type Basket, type ControlResult } from '@sightline/schemas';
import { sentenceFor } from '@sightline/voice';
import { controlSetup, laneConfig, metricValue, seedBasket, sendFrames } from './helpers.ts';

type Outcome<O extends ControlResult['outcome']> = Extract<ControlResult, { outcome: O }>;
const as = <O extends ControlResult['outcome']>(result: ControlResult, outcome: O): Outcome<O> => {
  assert.equal(result.outcome, outcome, JSON.stringify(result));
  return result as Outcome<O>;
};

const bottle = { label: 'bottle' };
const donut = { label: 'donut', at: [0.3, 0.3] as [number, number] };

test('every checkout command over MQTT is carried out and answered: help, basket, more-time, language, remove-last, finish', async (t) => {
  const h = await controlSetup(t, [
    laneConfig({
      scale: false,
      locales: ['en-US', 'es-ES'],
      // Listed out of order, and a device that is not there: help still says the keys, in command order.
      keypad: {
        device: path.join(path.sep, 'nonexistent', 'keypad-event-kbd'),
        keys: { KPENTER: 'finish', KP3: 'more-time', KP5: 'repeat', KP1: 'help', F1: 'repeat' },
      },
    }),
    laneConfig({ id: 'lane-2', camera: 'cam-2', scale: false }),
  ]);

  const help = as(await h.control({ command: 'help' }), 'help');
  assert.match(help.id, /^ctl-/);
  assert.deepEqual(
    { lane: help.lane, locale: help.locale, by: help.by, command: help.command, at: help.at },
    { lane: 'lane-1', locale: 'en-US', by: 'checkout', command: 'help', at: h.clock.t },
  );
  assert.match(help.transaction!, /^tx-/);
  assert.deepEqual(help.keys, [
    { key: 'KP5', command: 'repeat' },
    { key: 'F1', command: 'repeat' },
    { key: 'KP1', command: 'help' },
    { key: 'KPENTER', command: 'finish' },
    { key: 'KP3', command: 'more-time' },
  ]);
  assert.equal(help.moreTimeSeconds, 120);
  assert.deepEqual(sentenceFor(help).parts.slice(0, 3), ['Keypad help.', 'Press 5 to repeat.', 'Press F1 to repeat.'], 'what tts says of it');
  assert.deepEqual(as(await h.control({ command: 'help' }, 'lane-2'), 'help').keys, [], 'a lane without a keypad has no keys');

  const empty = as(await h.control({ command: 'basket' }), 'basket');
  assert.deepEqual({ basket: empty.basket.count, read: empty.read, currency: empty.currency }, { basket: 0, read: { lines: [], more: 0 }, currency: 'USD' });
  assert.equal(sentenceFor(empty).text, 'Your basket is empty.');
  assert.equal(as(await h.control({ command: 'remove-last' }), 'refused').reason, 'basket-empty');
  assert.equal(as(await h.control({ command: 'finish' }), 'refused').reason, 'basket-empty');
  assert.equal(as(await h.control({ command: 'more-time' }), 'refused').reason, 'no-open-basket');
  assert.equal(as(await h.control({ command: 'language' }, 'lane-2'), 'refused').reason, 'one-language');

  await sendFrames(h.peer, h.clock, 3, [bottle]);
  await sendFrames(h.peer, h.clock, 3, [bottle, donut]);
  await waitUntil('two scans', () => h.scans.length === 2);
  const basket = as(await h.control({ command: 'basket' }), 'basket');
  assert.deepEqual(basket.basket, { id: h.scans[0]!.basket.id, count: 2, totalMinor: 129 + 149 });
  assert.deepEqual(
    basket.read.lines.map((l) => [l.product.sku, l.product.name, l.pricing, l.quantity, l.priceMinor]),
    [
      ['DRINK-WATER-500', 'Spring water 500 ml', 'unit', 1, 129],
      ['BAKERY-DONUT', 'Glazed donut', 'unit', 1, 149],
    ],
  );
  assert.equal(as(await h.control({ command: 'more-time' }), 'more-time').seconds, 120);

  const language = as(await h.control({ command: 'language', source: 'keypad' }), 'language');
  assert.deepEqual({ from: language.from, locale: language.locale }, { from: 'en-US', locale: 'es-ES' });
  assert.equal(sentenceFor(language).locale, 'es-ES', 'said in the new language');
  const spanish = as(await h.control({ command: 'basket' }), 'basket');
  assert.equal(spanish.locale, 'es-ES');
  assert.deepEqual(
    spanish.read.lines.map((l) => l.product.name),
    ['Agua mineral 500 ml', 'Dónut glaseado'],
  );

  const removed = as(await h.control({ command: 'remove-last' }), 'removed');
  assert.deepEqual(removed.basket, { id: basket.basket.id, count: 1, totalMinor: 129 });
  await waitUntil('the removed event', () => h.eventsOf('removed').length === 1);
  assert.equal(h.eventsOf('removed')[0]!.locale, 'es-ES');
  assert.equal(h.eventsOf('removed')[0]!.product.spoken.one, 'dónut');

  const finished = as(await h.control({ command: 'finish' }), 'finished');
  assert.deepEqual(finished.basket, { id: basket.basket.id, count: 1, totalMinor: 129 });
  assert.equal(finished.locale, 'es-ES', 'answered in the language the receipt is said in');
  await waitUntil('the total', () => h.eventsOf('total').length === 1);
  const total = h.eventsOf('total')[0]!;
  assert.equal(total.locale, 'es-ES');
  assert.deepEqual(total.receipt, { lines: [{ ...spanish.read.lines[0]! }], more: 0 });

  // The next shopper hears the lane's own language again.
  assert.equal((await h.control({ command: 'help' })).locale, 'en-US');
  assert.equal(as(await h.control({ command: 'finish' }), 'refused').reason, 'basket-finished');
  assert.equal(as(await h.control({ command: 'remove-last' }), 'refused').reason, 'basket-finished');
  assert.equal(as(await h.control({ command: 'more-time' }), 'refused').reason, 'no-open-basket');
  const stillFinished = as(await h.control({ command: 'basket' }), 'basket');
  assert.equal(stillFinished.basket.count, 1, 'the finished basket can still be heard');

  for (const result of h.results) assert.ok(controlResultSchema.safeParse(result).success);
  assert.equal(
    await metricValue(h.app.runtime.registry, 'sightline_checkout_controls_total', { command: 'language', outcome: 'language', source: 'keypad' }),
    1,
  );
  assert.equal(await metricValue(h.app.runtime.registry, 'sightline_checkout_publish_failures_total'), 0);
});

test("the speaker's commands are left to the speaker; unknown lanes and unreadable commands are answered", async (t) => {
  const h = await controlSetup(t, [laneConfig({ scale: false })]);
  for (const command of ['repeat', 'pause', 'resume', 'toggle-pause', 'stop', 'volume-up', 'volume-down'] as const) {
    await h.peer.bus.publish(channels.laneControl, { lane: 'lane-1' }, { command, transaction: `sp-${command}` });
  }
  const help = as(await h.control({ command: 'help' }), 'help');
  await sleep(50);
  assert.deepEqual(
    h.results.map((r) => r.command),
    ['help'],
    'nothing but the help was answered by checkout',
  );
  assert.equal(help.keys.length, 0);

  const unknown = as(await h.control({ command: 'basket' }, 'lane-9'), 'refused');
  assert.deepEqual({ lane: unknown.lane, reason: unknown.reason, locale: unknown.locale }, { lane: 'lane-9', reason: 'unknown-lane', locale: 'en-US' });
  assert.match(unknown.error, /unknown lane "lane-9": this checkout serves lane-1/);

  const before = h.results.length;
  await h.peer.raw('sightline/lanes/lane-1/control', '{"command":"explode"}');
  await h.peer.raw('sightline/lanes/lane-1/control', 'not json {');
  await h.peer.raw('sightline/lanes/lane-1/control', '{"command":"help","price":0}');
  await h.peer.raw('sightline/lanes/lane-1/control', Buffer.alloc(0));
  await waitUntil('four refusals', () => h.results.length === before + 4);
  for (const result of h.results.slice(before)) {
    const refused = as(result, 'refused');
    assert.equal(refused.reason, 'invalid');
    assert.equal(refused.command, undefined, 'the command could not be read');
    assert.equal(refused.lane, 'lane-1');
    assert.match(refused.error, /^invalid command: /);
  }
  assert.equal(await metricValue(h.app.runtime.registry, 'sightline_bus_messages_dropped_total', { channel: 'lane-control' }), 4);
});

test('a flood of 1000 controls over MQTT: each answered once, nothing kept, the lane still works', async (t) => {
  let seeded: Basket | undefined;
  const h = await controlSetup(t, [laneConfig({ scale: false, locales: ['en-US', 'es-ES'] })], {
    before: (dataDir, clock) => (seeded = seedBasket(dataDir, 'lane-1', 40, clock.t)),
  });
  const commands = ['help', 'basket', 'language', 'more-time', 'repeat'] as const;
  const started = Date.now();
  const sending: Promise<unknown>[] = [];
  for (let i = 0; i < 1000; i++) {
    if (i % 10 === 9) sending.push(h.peer.raw('sightline/lanes/lane-1/control', `{"command":"flood-${i}"}`));
    else sending.push(h.peer.bus.publish(channels.laneControl, { lane: 'lane-1' }, { command: commands[i % commands.length]!, transaction: `f-${i}` }));
  }
  await Promise.all(sending);
  // 900 valid, 100 of them the speaker's (not answered here), and 100 unreadable.
  await waitUntil('every answer', () => h.results.length === 800 + 100, 15_000).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}: ${h.results.length} answers, ${h.controls.length} controls seen`);
  });
  const elapsed = Date.now() - started;
  await sleep(50);
  assert.equal(h.results.length, 900, 'each answered once');
  assert.equal(new Set(h.results.map((r) => r.id)).size, 900);
  assert.equal(h.app.lanes.get('lane-1')!.locale, 'en-US', '200 language changes over two languages: back where it started');
  const reads = h.results.filter((r): r is Outcome<'basket'> => r.outcome === 'basket');
  assert.equal(reads.length, 200);
  for (const read of reads) assert.deepEqual([read.read.lines.length, read.read.more], [MAX_SPOKEN_LINES, 40 - MAX_SPOKEN_LINES]);
  t.diagnostic(`1000 controls answered in ${elapsed} ms`);
  assert.equal(h.app.controls.waiting, 0);
  assert.deepEqual(as(await h.control({ command: 'finish' }), 'finished').basket, { id: seeded!.id, count: seeded!.count, totalMinor: seeded!.totalMinor });
});

test("HTTP: POST /lanes/:lane/control goes through the broker and answers with the result; the speaker's commands are forwarded", async (t) => {
  const h = await controlSetup(t, [laneConfig({ scale: false })]);
  const http = h.app.runtime.http;
  const post = (lane: string, payload: unknown, headers: Record<string, string> = {}) =>
    http.inject({ method: 'POST', url: `/lanes/${lane}/control`, payload: payload as string, headers: { 'content-type': 'application/json', ...headers } });

  const help = await post('lane-1', { command: 'help' });
  assert.equal(help.statusCode, 200, help.body);
  const helped = as(help.json() as ControlResult, 'help');
  assert.match(helped.transaction!, /^http-/);
  await waitUntil('the result is published too, for tts to say', () => h.results.some((r) => r.id === helped.id));
  const sent = h.controls.find((c) => c.transaction === helped.transaction)!;
  assert.deepEqual(sent, { command: 'help', source: 'screen', transaction: helped.transaction }, 'the speaker hears it on the control channel');

  const refused = await post('lane-1', { command: 'finish', transaction: 'screen-1' });
  assert.equal(refused.statusCode, 409);
  assert.deepEqual([refused.json().reason, refused.json().transaction], ['basket-empty', 'screen-1']);

  const forwarded = await post('lane-1', { command: 'volume-up', source: 'integrator' });
  assert.equal(forwarded.statusCode, 202);
  assert.deepEqual(forwarded.json(), { forwarded: true });
  await waitUntil('forwarded to the speaker', () => h.controls.some((c) => c.command === 'volume-up' && c.source === 'integrator'));

  const unknown = await post('lane-9', { command: 'help' });
  assert.equal(unknown.statusCode, 404);
  assert.equal(as(unknown.json() as ControlResult, 'refused').reason, 'unknown-lane');
  const badId = await post('..%2Fx', { command: 'help' });
  assert.equal(badId.statusCode, 400);
  assert.match(badId.json().error, /bad lane id/);

  for (const [payload, headers, status] of [
    [{ command: 'explode' }, {}, 400],
    [{ command: 'help', price: 0 }, {}, 400],
    [[], {}, 400],
    ['"help"', {}, 400],
    ['', {}, 400],
    ['{"command":', {}, 400],
    [`{"command":"help","transaction":"${'x'.repeat(5000)}"}`, {}, 413],
    ['{"command":"help"}', { 'content-type': 'text/plain' }, 415],
  ] as const) {
    const response = await post('lane-1', typeof payload === 'string' ? payload : JSON.stringify(payload), headers);
    assert.equal(response.statusCode, status, `${JSON.stringify(payload).slice(0, 40)}: ${response.body.slice(0, 200)}`);
  }
  const invalid = await post('lane-1', { command: 'explode' });
  assert.equal(as(invalid.json() as ControlResult, 'refused').reason, 'invalid');

  // A burst from a screen gone wrong: at most MAX_WAITING wait at once, the rest are told to come back.
  const burst = await Promise.all(Array.from({ length: 100 }, () => post('lane-1', { command: 'basket' })));
  const codes = burst.map((r) => r.statusCode);
  assert.ok(
    codes.every((c) => c === 200 || c === 429),
    codes.join(','),
  );
  assert.ok(codes.includes(200) && codes.includes(429), codes.join(','));
  assert.match(burst.find((r) => r.statusCode === 429)!.json().error, /64 controls are already waiting/);
  t.diagnostic(`burst: ${codes.filter((c) => c === 200).length} answered, ${codes.filter((c) => c === 429).length} told to wait`);
  assert.equal(h.app.controls.waiting, 0);

  await h.broker.down();
  await waitUntil('checkout sees the broker gone', () => !h.app.runtime.client.connected);
  const down = await post('lane-1', { command: 'help' });
  assert.equal(down.statusCode, 503);
  assert.match(down.json().error, /not sent/);
  assert.equal((await post('lane-1', { command: 'repeat' })).statusCode, 503);
  assert.equal(h.app.controls.waiting, 0);
});

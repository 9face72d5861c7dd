import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { sleep, waitUntil } from '@sightline/kit/testing';
import { basketSchema, channels, MAX_SPOKEN_LINES, type Basket, type BasketResult } from '@sightline/schemas';
import { DEFAULT_KEYS } from '../src/keypads.ts';
import { openLaneStore } from '../src/store.ts';
import { Session } from '../src/session.ts';
import { Clock, controlSetup, detections, laneConfig, laneHarness, seedBasket, sendFrames, tempDir } from './helpers.ts';

const donut = { label: 'donut' };
const nowhere = path.join(path.sep, 'nonexistent', 'keypad-event-kbd');

test("idle: a warning, then the session ends: the basket is kept as abandoned, a new one is published, the language is the lane's again", async (t) => {
  const h = await controlSetup(t, [laneConfig({ scale: false, locales: ['en-US', 'es-ES'], keypad: { device: nowhere, keys: { ...DEFAULT_KEYS } } })]);
  const { app, clock } = h;
  await sendFrames(h.peer, clock, 3, [donut]);
  await waitUntil('a scan', () => h.scans.length === 1);
  const shopped = h.scans[0]!.basket;
  assert.equal((await h.control({ command: 'language' })).locale, 'es-ES');
  const quiet = clock.t;

  clock.t = quiet + 119_999;
  app.tick();
  await sleep(30);
  assert.equal(h.eventsOf('idle-warning').length, 0, 'not before idleWarningSeconds');
  clock.t = quiet + 120_000;
  app.tick();
  await waitUntil('the warning', () => h.eventsOf('idle-warning').length === 1);
  const warning = h.eventsOf('idle-warning')[0]!;
  assert.deepEqual({ remaining: warning.remainingSeconds, key: warning.moreTimeKey, locale: warning.locale }, { remaining: 60, key: 'KP2', locale: 'es-ES' });
  clock.t = quiet + 179_999;
  app.tick();
  await sleep(30);
  assert.equal(h.eventsOf('session-ended').length, 0, 'not before idleEndSeconds after the warning');
  assert.equal(app.lanes.get('lane-1')!.status().idle.state, 'warned');

  clock.t = quiet + 180_000;
  app.tick();
  await waitUntil('the end of the session', () => h.eventsOf('session-ended').length === 1);
  const ended = h.eventsOf('session-ended')[0]!;
  assert.deepEqual(
    { reason: ended.reason, currency: ended.currency, basket: ended.basket, locale: ended.locale },
    { reason: 'timeout', currency: 'USD', basket: { id: shopped.id, count: 1, totalMinor: 149 }, locale: 'es-ES' },
  );
  assert.equal(h.eventsOf('idle-warning').length, 1, 'warned once');

  const fresh = app.lanes.get('lane-1')!.basket;
  assert.notEqual(fresh.id, shopped.id);
  assert.deepEqual([fresh.status, fresh.count], ['open', 0]);
  await waitUntil('the new basket is published, retained', () => h.broker.retained.get('sightline/lanes/lane-1/basket')?.includes(fresh.id) === true);
  assert.equal(app.lanes.get('lane-1')!.locale, 'en-US');
  assert.equal((await h.control({ command: 'help' })).locale, 'en-US', 'the next shopper hears the lane language');

  // The abandoned basket is kept, and reads back through the schema.
  const store = openLaneStore(h.dataDir);
  t.after(() => store.close());
  const archived = store.archived(shopped.id);
  assert.ok(archived);
  assert.equal(archived.status, 'abandoned');
  assert.deepEqual(
    archived.items.map((i) => i.sku),
    ['BAKERY-DONUT'],
  );
  assert.ok(basketSchema.safeParse(archived).success);

  // Nothing more to lose: an empty basket never times out.
  clock.advance(3_600_000);
  app.tick();
  await sleep(30);
  assert.equal(h.eventsOf('idle-warning').length, 1);
  assert.equal(app.lanes.get('lane-1')!.status().idle.state, 'off');

  // A restart finds the new basket; the abandoned one is not brought back.
  await app.stop();
  const again = openLaneStore(h.dataDir);
  assert.equal(again.load('lane-1').stored!.basket.id, fresh.id);
  again.close();
});

test('idle: activity postpones the warning (a control, an item in the zone, a basket command); more time postpones the end', async (t) => {
  const h = await controlSetup(t, [laneConfig({ scale: false, tuning: { idleWarningSeconds: 60, idleEndSeconds: 30 } })]);
  const { app, clock } = h;
  const tickAt = async (at: number) => {
    clock.t = at;
    app.tick();
    await sleep(20);
  };
  const warnings = () => h.eventsOf('idle-warning').length;
  assert.equal((await h.control({ command: 'help' })).outcome, 'help');
  await sendFrames(h.peer, clock, 3, [donut]);
  await sendFrames(h.peer, clock, 3, [donut, { label: 'bottle', at: [0.2, 0.2] }]);
  await waitUntil('two scans', () => h.scans.length === 2);
  let last = clock.t;

  // A sound command is the speaker's to answer, and still the shopper at work.
  clock.t = last + 50_000;
  await h.peer.bus.publish(channels.laneControl, { lane: 'lane-1' }, { command: 'volume-up', source: 'keypad' });
  await waitUntil('checkout heard it', async () =>
    (await app.runtime.registry.getSingleMetric('sightline_checkout_controls_total')!.get()).values.some((v) => v.labels.command === 'volume-up'),
  );
  last = clock.t;
  await tickAt(last + 59_000);
  assert.equal(warnings(), 0, 'the control moved the warning');
  await tickAt(last + 60_000);
  await waitUntil('the warning', () => warnings() === 1);

  const more = await h.control({ command: 'more-time' });
  assert.deepEqual([more.outcome, more.outcome === 'more-time' && more.seconds], ['more-time', 60]);
  last = clock.t;
  await tickAt(last + 59_000);
  assert.equal(h.eventsOf('session-ended').length, 0, 'more time: no end 30 s after the warning');
  assert.equal(warnings(), 1);
  await tickAt(last + 60_000);
  await waitUntil('a second warning, a full minute after more time', () => warnings() === 2);

  // Something the camera does not sell, lying in the zone: someone is there.
  last = clock.t + 10_000;
  clock.t = last;
  await h.peer.bus.publish(channels.detections, { camera: 'demo' }, detections('demo', last, [{ label: 'teapot' }]));
  await waitUntil('the lane saw it', () => app.lanes.get('lane-1')!.status().idle.warnAt === last + 60_000);
  await tickAt(last + 59_000);
  assert.equal(h.eventsOf('session-ended').length, 0);
  assert.equal(warnings(), 2);

  // A basket command from the lane screen.
  last = clock.t + 10_000;
  clock.t = last;
  await h.peer.bus.publish(channels.basketCommand, { lane: 'lane-1' }, { action: 'remove-last', transaction: 'r-1' });
  await waitUntil('removed', () => h.eventsOf('removed').length === 1);
  assert.equal(app.lanes.get('lane-1')!.status().idle.warnAt, last + 60_000);
  await tickAt(last + 60_000);
  await waitUntil('a third warning', () => warnings() === 3);
  await tickAt(last + 90_000);
  await waitUntil('the end', () => h.eventsOf('session-ended').length === 1);
  assert.equal(h.eventsOf('session-ended')[0]!.basket.count, 1);
});

test('finish, also through basket/set, says the receipt: every line with its price, the first MAX_SPOKEN_LINES, then how many more', async (t) => {
  let seeded: Basket | undefined;
  const h = await controlSetup(t, [laneConfig({ scale: false, locale: 'es-ES', locales: ['es-ES', 'en-US'] })], {
    before: (dataDir, clock) => (seeded = seedBasket(dataDir, 'lane-1', MAX_SPOKEN_LINES + 3, clock.t)),
  });
  const results = await h.peer.collect(channels.basketResult);
  await h.peer.bus.publish(channels.basketCommand, { lane: 'lane-1' }, { action: 'finish', transaction: 'pay-1' });
  await waitUntil('the total', () => h.eventsOf('total').length === 1);
  const total = h.eventsOf('total')[0]!;
  assert.deepEqual(total.basket, { id: seeded!.id, count: seeded!.count, totalMinor: seeded!.totalMinor });
  assert.equal(total.receipt!.lines.length, MAX_SPOKEN_LINES);
  assert.equal(total.receipt!.more, 3);
  assert.deepEqual(total.receipt!.lines.slice(0, 3), [
    {
      product: { sku: 'BAKERY-DONUT', label: 'donut', name: 'Dónut glaseado', spoken: { one: 'dónut', other: 'dónuts', article: 'un' } },
      pricing: 'unit',
      quantity: 2,
      weightGrams: null,
      priceMinor: 298,
    },
    {
      product: { sku: 'PRODUCE-ORANGE', label: 'orange', name: 'Naranjas', spoken: { one: 'naranja', other: 'naranjas', article: 'una' } },
      pricing: 'kg',
      quantity: 1,
      weightGrams: 182.5,
      priceMinor: 60,
    },
    {
      product: { sku: 'DRINK-WATER-500', label: 'bottle', name: 'Agua mineral 500 ml', spoken: total.receipt!.lines[2]!.product.spoken },
      pricing: 'unit',
      quantity: 1,
      weightGrams: 512,
      priceMinor: 129,
    },
  ]);
  await waitUntil('the answer', () => results.length === 1);
  assert.equal((results[0] as Extract<BasketResult, { status: 'ok' }>).status, 'ok');

  // A finished basket is not timed: nothing to lose.
  h.clock.advance(3_600_000);
  h.app.tick();
  await sleep(30);
  assert.equal(h.eventsOf('idle-warning').length, 0);
});

test("session: the language cycles through the lane's list and returns to the lane's own; the idle clock runs only while there is something to lose", () => {
  const session = new Session({ locale: 'es-ES', locales: ['en-US', 'es-ES', 'fr-FR'], idleWarningSeconds: 10, idleEndSeconds: 5 }, 0);
  const seen = [session.locale];
  for (let i = 0; i < 4; i++) seen.push(session.nextLanguage()!.to);
  assert.deepEqual(seen, ['es-ES', 'fr-FR', 'en-US', 'es-ES', 'fr-FR']);
  session.reset(0);
  assert.equal(session.locale, 'es-ES');
  assert.equal(new Session({ locale: 'en-US', locales: ['en-US'], idleWarningSeconds: 1, idleEndSeconds: 1 }, 0).nextLanguage(), null);

  assert.equal(session.tick(60_000, false), null, 'nothing to lose: no clock');
  session.activity(100_000);
  assert.deepEqual(
    [session.tick(109_999, true), session.tick(110_000, true), session.tick(114_999, true), session.tick(115_000, true)],
    [null, 'warn', null, 'end'],
  );
  session.activity(200_000);
  assert.equal(session.tick(209_999, true), null);
  assert.equal(session.tick(210_000, true), 'warn');
  assert.equal(session.tick(212_000, false), null, 'the basket emptied: the warning is taken back');
  assert.equal(session.idle(false).state, 'off');
});

test('idle: after a restart with items in the basket, the clock starts again from the restart', (t) => {
  const dataDir = tempDir(t);
  const clock = new Clock();
  seedBasket(dataDir, 'lane-1', 2, clock.t - 3_600_000);
  const h = laneHarness(t, laneConfig({ scale: false }), { dataDir, clock });
  clock.advance(119_000);
  h.tick();
  assert.equal(h.eventsOf('idle-warning').length, 0);
  clock.advance(1000);
  h.tick();
  assert.deepEqual(
    h.eventsOf('idle-warning').map((e) => [e.remainingSeconds, e.moreTimeKey]),
    [[60, undefined]],
    'no keypad: no key to name',
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  controlResultSchema,
  laneEventSchema,
  refusalReasons,
  troubleSchema,
  type ControlResult,
  type LaneEvent,
  type RefusalReason,
  type SpokenLine,
} from '@sightline/schemas';
import { sentenceFor, spokenDuration, spokenKey, SUPPORTED_LOCALES } from '../src/sentences.ts';
import { BANANA, laneEvent } from '../src/testing.ts';

const basket = { id: 'basket-1', count: 3, totalMinor: 248 };
const ORANGE = { sku: 'PRODUCE-ORANGE', label: 'orange', name: 'Oranges', spoken: { one: 'orange' } };
const lines: SpokenLine[] = [
  { product: ORANGE, pricing: 'kg', quantity: 1, weightGrams: 180, priceMinor: 54 },
  { product: BANANA, pricing: 'unit', quantity: 2, weightGrams: null, priceMinor: 194 },
];

function result<O extends ControlResult['outcome']>(outcome: O, fields: Record<string, unknown> = {}): ControlResult {
  return controlResultSchema.parse({
    id: `ctl-${outcome}`,
    lane: 'lane-1',
    locale: 'en-US',
    at: 1795000001000,
    command: 'help',
    by: 'checkout',
    outcome,
    ...fields,
  });
}

/** One example per lane event type and per control outcome (refusals: per reason); the test below checks that this covers the schemas. */
function examples(): Array<LaneEvent | ControlResult> {
  const events: LaneEvent[] = [
    laneEvent('not-recognised', { camera: 'demo' }),
    laneEvent('place-on-scale', { product: BANANA }),
    laneEvent('weight-mismatch', { product: BANANA, weightGrams: 900, expected: { min: 80, max: 250 } }),
    laneEvent('removed', {
      product: BANANA,
      item: { id: 's1', sku: 'FRUIT-BANANA', name: 'Bananas', quantity: 1, weightGrams: null, unitPriceMinor: 97, priceMinor: 97, at: 1 },
      currency: 'USD',
      basket,
    }),
    laneEvent('cleared', { currency: 'USD', basket: { ...basket, count: 0, totalMinor: 0 } }),
    laneEvent('total', { currency: 'USD', basket, receipt: { lines, more: 0 } }),
    laneEvent('idle-warning', { remainingSeconds: 60, moreTimeKey: 'KP3' }),
    laneEvent('session-ended', { reason: 'timeout', currency: 'USD', basket }),
    ...troubleSchema.options.flatMap((problem) => [laneEvent('trouble', { problem, state: 'begin' }), laneEvent('trouble', { problem, state: 'end' })]),
  ];
  const results: ControlResult[] = [
    result('repeated', { command: 'repeat', by: 'speaker', of: 'scan-1' }),
    result('paused', { command: 'pause', by: 'speaker' }),
    result('resumed', { command: 'resume', by: 'speaker' }),
    result('stopped', { command: 'stop', by: 'speaker' }),
    result('volume', { command: 'volume-up', by: 'speaker', volume: { output: 'speaker', level: 5, steps: 8 } }),
    result('help', {
      keys: [
        { key: 'KP5', command: 'repeat' },
        { key: 'KPPLUS', command: 'volume-up' },
      ],
    }),
    result('basket', { command: 'basket', currency: 'USD', basket, read: { lines, more: 0 } }),
    result('removed', { command: 'remove-last', basket }),
    result('finished', { command: 'finish', basket }),
    result('more-time', { command: 'more-time', seconds: 120 }),
    result('language', { command: 'language', from: 'es-ES' }),
    ...refusalReasons.map((reason) => result('refused', { command: 'repeat', reason, error: `refused: ${reason}` })),
  ];
  return [...events, ...results];
}

test('the examples cover every lane event type and every control outcome and refusal reason in the schemas', () => {
  const all = examples();
  const eventTypes = new Set(all.flatMap((e) => ('type' in e ? [e.type] : [])));
  assert.deepEqual([...eventTypes].sort(), laneEventSchema.options.map((o) => o.shape.type.value).sort());
  const outcomes = new Set(all.flatMap((e) => ('outcome' in e ? [e.outcome] : [])));
  assert.deepEqual([...outcomes].sort(), controlResultSchema.options.map((o) => o.shape.outcome.value).sort());
  const reasons = new Set(all.flatMap((e) => ('outcome' in e && e.outcome === 'refused' ? [e.reason] : [])));
  assert.deepEqual([...reasons].sort(), [...refusalReasons].sort());
  for (const example of all) {
    if ('type' in example) laneEventSchema.parse(example);
    else controlResultSchema.parse(example);
  }
});

test('every lane event and every control result has a sentence in every locale, its own in each', () => {
  const all = examples();
  const byLocale = new Map<string, string[]>();
  for (const locale of SUPPORTED_LOCALES) {
    const texts = all.map((example) => sentenceFor({ ...example, locale } as LaneEvent | ControlResult));
    for (const [i, sentence] of texts.entries()) {
      assert.equal(sentence.locale, locale);
      assert.ok(sentence.text.length > 0, `${locale}: example ${i} says something`);
      assert.match(sentence.text, /[.?!]$/, `${locale}: "${sentence.text}" ends a sentence`);
      assert.doesNotMatch(sentence.text, /undefined|NaN|\[object|null/, `${locale}: "${sentence.text}"`);
      assert.ok(sentence.parts.length > 0);
    }
    byLocale.set(
      locale,
      texts.map((s) => s.text),
    );
  }
  // Each locale has its own words: outside numbers, no sentence is the English one.
  const english = byLocale.get('en-US')!;
  for (const locale of SUPPORTED_LOCALES.filter((l) => l !== 'en-US')) {
    const texts = byLocale.get(locale)!;
    texts.forEach((text, i) => assert.notEqual(text, english[i], `${locale}: "${text}" is translated`));
  }
});

test('a receipt and a basket read-out are said line by line, each line its own part, the total last', () => {
  const receipt = sentenceFor(laneEvent('total', { currency: 'USD', basket, receipt: { lines, more: 0 } }));
  assert.deepEqual(receipt.parts, [
    'Your receipt.',
    'An orange, 0.18 kilograms, 54 cents.',
    '2 bananas, 1 dollar 94.',
    'Your total is 2 dollars 48 for 3 items. Thank you for shopping with us.',
  ]);
  assert.equal(receipt.perPart, true);
  assert.equal(receipt.interruptible, false);
  const longer = sentenceFor(laneEvent('total', { currency: 'USD', basket: { ...basket, count: 40 }, receipt: { lines, more: 38 } }));
  assert.equal(longer.parts.at(-2), 'And 38 more items.');
  const read = sentenceFor(result('basket', { command: 'basket', currency: 'EUR', basket, read: { lines, more: 0 }, locale: 'es-ES' }));
  assert.deepEqual(read.parts, [
    'Su cesta tiene 3 artículos.',
    'Un orange, 0,18 kilogramos, 54 céntimos.',
    '2 bananas, 1 euro con 94.',
    'Su total hasta ahora es 2 euros con 48.',
  ]);
  assert.equal(
    sentenceFor(result('basket', { command: 'basket', currency: 'USD', basket: { ...basket, count: 0, totalMinor: 0 }, read: { lines: [], more: 0 } })).text,
    'Your basket is empty.',
  );
  // Without a receipt (an older checkout), the total alone.
  assert.equal(sentenceFor(laneEvent('total', { currency: 'USD', basket })).text, 'Your total is 2 dollars 48 for 3 items.');
});

test('controls: volume as "5 of 8", help key by key with spoken key names, more time, language in the new language', () => {
  assert.equal(
    sentenceFor(result('volume', { command: 'volume-up', by: 'speaker', volume: { output: 'speaker', level: 5, steps: 8 } })).text,
    'Volume 5 of 8.',
  );
  assert.equal(
    sentenceFor(result('volume', { command: 'volume-down', by: 'speaker', volume: { output: 'headset', level: 2, steps: 8 }, locale: 'fr-FR' })).text,
    'Volume du casque 2 sur 8.',
  );
  const help = sentenceFor(
    result('help', {
      keys: [
        { key: 'KP5', command: 'repeat' },
        { key: 'KPPLUS', command: 'volume-up' },
        { key: 'KPENTER', command: 'finish' },
      ],
    }),
  );
  assert.deepEqual(help.parts, ['Keypad help.', 'Press 5 to repeat.', 'Press plus to turn the volume up.', 'Press enter to finish and hear your receipt.']);
  assert.equal(help.perPart, true);
  assert.match(sentenceFor(result('help', { keys: [] })).text, /^You can ask to repeat, pause, .* and change the language\.$/);
  assert.equal(sentenceFor(result('more-time', { command: 'more-time', seconds: 120 })).text, 'You have 2 minutes more.');
  assert.equal(sentenceFor(result('language', { command: 'language', from: 'en-US', locale: 'es-ES' })).text, 'Español.');
  const refusedAtMax = result('refused', {
    command: 'volume-up',
    by: 'speaker',
    reason: 'volume-at-max' satisfies RefusalReason,
    error: 'at max',
    volume: { output: 'speaker', level: 8, steps: 8 },
  });
  assert.equal(sentenceFor(refusedAtMax).text, 'The volume is at its highest. Volume 8 of 8.');
  const warning = sentenceFor(laneEvent('idle-warning', { remainingSeconds: 90, moreTimeKey: 'KP3' }));
  assert.deepEqual(warning.parts, ['Are you still there?', 'Your session ends in 1 minute and 30 seconds.', 'Press 3 for more time.']);
  assert.equal(sentenceFor(laneEvent('session-ended', { reason: 'timeout', currency: 'USD', basket })).interruptible, false);
});

test('shown, not said: a repeat, a resume and a stop are their own answer; removed and finished are said by their lane events', () => {
  const silent = examples()
    .filter((e): e is ControlResult => 'outcome' in e)
    .filter((e) => sentenceFor(e).silent)
    .map((e) => e.outcome);
  assert.deepEqual(silent.sort(), ['finished', 'removed', 'repeated', 'resumed', 'stopped']);
  assert.equal(examples().filter((e) => 'type' in e && sentenceFor(e).silent).length, 0, 'every lane event is said');
});

test('durations and key names as said', () => {
  assert.equal(spokenDuration('en-US', 45), '45 seconds');
  assert.equal(spokenDuration('en-US', 60), '1 minute');
  assert.equal(spokenDuration('es-ES', 150), '2 minutos y 30 segundos');
  assert.equal(spokenDuration('fr-FR', 1), '1 seconde');
  assert.equal(spokenKey('en-US', 'KP7'), '7');
  assert.equal(spokenKey('en-US', '4'), '4');
  assert.equal(spokenKey('es-ES', 'KPMINUS'), 'menos');
  assert.equal(spokenKey('fr-FR', 'KPASTERISK'), 'étoile');
  assert.equal(spokenKey('en-US', 'F1'), 'F1');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Trouble } from '@sightline/schemas';
import { fixedSentences, sentenceFor, spokenKilograms, spokenMoney, SUPPORTED_LOCALES } from '../src/sentences.ts';
import { BANANA, laneEvent, scan } from '../src/testing.ts';

const basket = { id: 'basket-1', count: 5, totalMinor: 1240 };

test('a scan by weight says the article, the weight and the price', () => {
  const sentence = sentenceFor(scan({ product: BANANA, pricing: 'kg', weightGrams: 420, priceMinor: 83 }));
  assert.equal(sentence.text, 'You scanned a banana, 0.42 kilograms, 83 cents.');
  assert.deepEqual(sentence.parts, ['You scanned a banana,', '0.42 kilograms,', '83 cents.']);
  assert.equal(sentence.kind, 'scan');
  assert.equal(sentence.interruptible, true);
  assert.equal(sentence.locale, 'en-US');
});

test('English articles and plurals: an orange, a unicorn, an hour, 3 peaches, 2 cherries, catalog overrides', () => {
  const say = (one: string, quantity = 1, extra: { other?: string; article?: string } = {}) =>
    sentenceFor(scan({ product: { ...BANANA, spoken: { one, ...extra } }, pricing: 'unit', quantity, weightGrams: null, priceMinor: 100 })).text;
  assert.equal(say('orange'), 'You scanned an orange, 1 dollar.');
  assert.equal(say('unicorn cake'), 'You scanned a unicorn cake, 1 dollar.');
  assert.equal(say('hour glass'), 'You scanned an hour glass, 1 dollar.');
  assert.equal(say('herb', 1, { article: 'an' }), 'You scanned an herb, 1 dollar.');
  assert.equal(say('peach', 3), 'You scanned 3 peaches, 1 dollar.');
  assert.equal(say('cherry', 2), 'You scanned 2 cherries, 1 dollar.');
  assert.equal(say('loaf of bread', 2, { other: 'loaves of bread' }), 'You scanned 2 loaves of bread, 1 dollar.');
});

test('money is said from minor units the way a person says it', () => {
  assert.equal(spokenMoney('en-US', 'USD', 83), '83 cents');
  assert.equal(spokenMoney('en-US', 'USD', 1), '1 cent');
  assert.equal(spokenMoney('en-US', 'USD', 120), '1 dollar 20');
  assert.equal(spokenMoney('en-US', 'USD', 405), '4 dollars 5 cents');
  assert.equal(spokenMoney('en-US', 'USD', 400), '4 dollars');
  assert.equal(spokenMoney('en-US', 'USD', 0), '0 dollars');
  assert.equal(spokenMoney('en-US', 'USD', 123456), '1,234 dollars 56');
  assert.equal(spokenMoney('en-US', 'EUR', 405), '4 euros 5 cents');
  assert.equal(spokenMoney('en-US', 'GBP', 250), '2 pounds 50');
  assert.equal(spokenMoney('es-ES', 'EUR', 83), '83 céntimos');
  assert.equal(spokenMoney('es-ES', 'EUR', 120), '1 euro con 20');
  assert.equal(spokenMoney('es-ES', 'EUR', 405), '4 euros con 5 céntimos');
  assert.equal(spokenMoney('fr-FR', 'EUR', 120), '1 euro 20');
  assert.equal(spokenMoney('fr-FR', 'EUR', 405), '4 euros et 5 centimes');
  assert.equal(spokenMoney('en-US', 'JPY', 120), '120 Japanese yen');
  assert.equal(spokenMoney('en-US', 'CHF', 120), '1.20 Swiss francs');
});

test('weights in kilograms with the locale decimal mark', () => {
  assert.equal(spokenKilograms('en-US', 420), '0.42 kilograms');
  assert.equal(spokenKilograms('en-US', 1000), '1 kilogram');
  assert.equal(spokenKilograms('es-ES', 420), '0,42 kilogramos');
  assert.equal(spokenKilograms('fr-FR', 1500).replace(/\s/g, ' '), '1,5 kilogramme');
});

test('Spanish: gender, plurals, comma decimals, euros', () => {
  const es = (one: string, quantity = 1) =>
    sentenceFor(
      scan({
        locale: 'es-ES',
        currency: 'EUR',
        product: { ...BANANA, spoken: { one } },
        pricing: quantity > 1 ? 'unit' : 'kg',
        quantity,
        weightGrams: quantity > 1 ? null : 420,
        priceMinor: 83,
      }),
    ).text;
  assert.equal(es('plátano'), 'Has escaneado un plátano, 0,42 kilogramos, 83 céntimos.');
  assert.equal(es('naranja'), 'Has escaneado una naranja, 0,42 kilogramos, 83 céntimos.');
  assert.equal(
    es('melón', 3).replace('melónes', 'melones'),
    'Has escaneado 3 melones, 83 céntimos.',
    'accents: the catalog gives `other` when the rule is not enough',
  );
  assert.equal(es('manzana', 2), 'Has escaneado 2 manzanas, 83 céntimos.');
});

test('every lane event has a sentence in every supported locale', () => {
  const product = BANANA;
  const events = [
    laneEvent('not-recognised', { camera: 'demo' }),
    laneEvent('place-on-scale', { product }),
    laneEvent('weight-mismatch', { product, weightGrams: 900, expected: { min: 80, max: 250 } }),
    laneEvent('removed', {
      product,
      item: { id: 's1', sku: 'FRUIT-BANANA', name: 'Bananas', quantity: 1, weightGrams: 420, unitPriceMinor: 199, priceMinor: 83, at: 1 },
      currency: 'USD',
      basket,
    }),
    laneEvent('cleared', { currency: 'USD', basket: { ...basket, count: 0, totalMinor: 0 } }),
    laneEvent('total', { currency: 'USD', basket }),
    ...(['camera-offline', 'inference-offline', 'scale-offline', 'speech-unavailable'] as Trouble[]).flatMap((problem) => [
      laneEvent('trouble', { problem, state: 'begin' }),
      laneEvent('trouble', { problem, state: 'end' }),
    ]),
  ];
  for (const locale of SUPPORTED_LOCALES) {
    const texts = events.map((event) => sentenceFor({ ...event, locale }).text);
    assert.equal(new Set(texts).size, texts.length, `${locale}: every event says something different`);
    for (const text of texts) {
      assert.match(text, /[.]$/, `${locale}: "${text}" ends a sentence`);
      assert.doesNotMatch(text, /undefined|NaN|\[object/, `${locale}: "${text}"`);
    }
  }
  const en = events.map((event) => sentenceFor(event).text);
  assert.deepEqual(en.slice(0, 8), [
    'Item not recognised, please try again.',
    'Please place the banana on the scale.',
    'The weight does not match the banana. Please check the items on the scale.',
    'Removed a banana. Your new total is 12 dollars 40.',
    'Your basket is now empty.',
    'Your total is 12 dollars 40 for 5 items.',
    'The camera is not working. Please ask for assistance.',
    'The camera is working again.',
  ]);
  assert.equal(
    sentenceFor(laneEvent('total', { currency: 'USD', basket: { ...basket, count: 1, totalMinor: 83 } })).text,
    'Your total is 83 cents for 1 item.',
  );
  assert.equal(sentenceFor(laneEvent('total', { currency: 'EUR', basket, locale: 'es-ES' })).text, 'Su total es 12 euros con 40 por 5 artículos.');
  assert.equal(
    sentenceFor(laneEvent('place-on-scale', { product: { ...BANANA, spoken: { one: 'plátano' } }, locale: 'es-ES' })).text,
    'Coloque el plátano en la báscula, por favor.',
  );
  assert.equal(
    sentenceFor(laneEvent('place-on-scale', { product: { ...BANANA, spoken: { one: 'naranja' } }, locale: 'es-ES' })).text,
    'Coloque la naranja en la báscula, por favor.',
  );
  assert.equal(
    sentenceFor(laneEvent('place-on-scale', { product: { ...BANANA, spoken: { one: 'mano', article: 'una' } }, locale: 'es-ES' })).text,
    'Coloque la mano en la báscula, por favor.',
    'the catalog article decides the gender',
  );
  assert.equal(
    sentenceFor(laneEvent('place-on-scale', { product: { ...BANANA, spoken: { one: 'día', article: 'un' } }, locale: 'es-ES' })).text,
    'Coloque el día en la báscula, por favor.',
  );
});

test('totals are not interruptible; everything else is', () => {
  assert.equal(sentenceFor(laneEvent('total', { currency: 'USD', basket })).interruptible, false);
  assert.equal(sentenceFor(laneEvent('cleared', { currency: 'USD', basket })).interruptible, true);
  assert.equal(sentenceFor(laneEvent('not-recognised', { camera: 'demo' })).interruptible, true);
});

test('an unsupported locale is said in the default locale and flagged', () => {
  const sentence = sentenceFor(laneEvent('not-recognised', { camera: 'demo', locale: 'ja-JP' }), { defaultLocale: 'es-ES' });
  assert.equal(sentence.locale, 'es-ES');
  assert.equal(sentence.unsupportedLocale, 'ja-JP');
  assert.equal(sentence.text, 'Artículo no reconocido, inténtelo de nuevo.');
  const fallback = sentenceFor(laneEvent('not-recognised', { camera: 'demo', locale: 'ja-JP' }), { defaultLocale: 'xx-XX' });
  assert.equal(fallback.locale, 'en-US');
});

test('a sentence is plain and capped, whatever the catalog names (the rule itself: toPlainText in schemas)', () => {
  const hostile = sentenceFor(
    scan({ product: { ...BANANA, spoken: { one: 'x'.repeat(80) } }, pricing: 'unit', quantity: 9_999_999, weightGrams: null, priceMinor: 10_000_000_000 }),
  );
  assert.ok(hostile.text.length <= 1000);
  assert.match(hostile.text, /^You scanned 9,999,999 x+es, 100,000,000 dollars\.$/);
});

test('fixed sentences exist for each supported locale and none for others', () => {
  for (const locale of SUPPORTED_LOCALES) {
    const fixed = fixedSentences(locale);
    // not-recognised, cleared, session ended, 4 troubles x begin/end, paused, language, 10 refusals, receipt start, empty basket: once each
    assert.equal(new Set(fixed).size, fixed.length, `${locale}: each once`);
    assert.ok(fixed.length >= 22 && fixed.length <= 25, `${locale}: ${fixed.length}`);
  }
  assert.deepEqual(fixedSentences('ja-JP'), []);
});

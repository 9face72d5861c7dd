import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normaliseLabel, plainTextSchema, toPlainText } from '../src/index.ts';

test('toPlainText: markup and controls become spaces, & is said, long text is cut at a word', () => {
  assert.equal(toPlainText('Fish & <b>chips</b>\u0000{x}', 1000), 'Fish and b chips /b x');
  const long = toPlainText('word '.repeat(2000), 1000);
  assert.ok(long.length <= 1000 && long.endsWith('word'), `${long.length} characters ending "${long.slice(-8)}"`);
  assert.equal(toPlainText(' \u0007 <> ', 80), '', 'nothing but what the rule refuses: nothing left');
});

test('toPlainText: whatever comes in, what comes out is what plainTextSchema accepts (or empty)', () => {
  // What the old speech cleaning let through: C1 controls, bidirectional overrides and isolates,
  // lone surrogates, and a surrogate pair cut in half by the length cap.
  const hostile = [
    'Apple\u0085pie',
    'evil\u202egnp.exe',
    'left\u2066isolate\u2069',
    'half \ud83c pair',
    'pair cut at the end: ' + 'x'.repeat(77) + '🍊',
    '\u009b31m red',
    '\u200fRLM is fine',
  ];
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const alphabet = ['a', ' ', '&', '<', '\\', '{', '\u0000', '\u0085', '\u009f', '\u202a', '\u2067', '\ud83c', '\udf4a', '🍊', 'é', '\t', '\n'];
  for (let i = 0; i < 2000; i++)
    hostile.push(Array.from({ length: 1 + Math.floor(random() * 120) }, () => alphabet[Math.floor(random() * alphabet.length)]).join(''));
  for (const text of hostile) {
    for (const max of [1, 2, 80, 100]) {
      const plain = toPlainText(text, max);
      if (plain === '') continue;
      const result = plainTextSchema(max).safeParse(plain);
      assert.ok(result.success, `${JSON.stringify(text)} (max ${max}) became ${JSON.stringify(plain)}: ${result.error?.message}`);
      assert.equal(result.data, plain, 'already trimmed');
    }
  }
});

test('normaliseLabel: labels compare trimmed and case-insensitively', () => {
  assert.equal(normaliseLabel('  Hot Dog '), 'hot dog');
  assert.equal(normaliseLabel('ORANGE'), normaliseLabel('orange'));
});

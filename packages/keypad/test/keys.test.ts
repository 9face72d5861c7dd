import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { isKeyName, KEY_NAMES, KEY_NAMES_IN_SHORT, keyCode, keyLabel, keyLabelLocale, keyMapSchema, keyNameOf, keyNameSchema } from '../src/keys.ts';

test('keys: codes are linux/input-event-codes.h KEY_* values', () => {
  // Copied from the header (KEY_KP7 71 ... KEY_F12 88), not from src/keys.ts.
  const header: Record<string, number> = {
    ESC: 1,
    '1': 2,
    '2': 3,
    '3': 4,
    '4': 5,
    '5': 6,
    '6': 7,
    '7': 8,
    '8': 9,
    '9': 10,
    '0': 11,
    BACKSPACE: 14,
    TAB: 15,
    ENTER: 28,
    KPASTERISK: 55,
    SPACE: 57,
    F1: 59,
    F2: 60,
    F3: 61,
    F4: 62,
    F5: 63,
    F6: 64,
    F7: 65,
    F8: 66,
    F9: 67,
    F10: 68,
    NUMLOCK: 69,
    KP7: 71,
    KP8: 72,
    KP9: 73,
    KPMINUS: 74,
    KP4: 75,
    KP5: 76,
    KP6: 77,
    KPPLUS: 78,
    KP1: 79,
    KP2: 80,
    KP3: 81,
    KP0: 82,
    KPDOT: 83,
    F11: 87,
    F12: 88,
    KPENTER: 96,
    KPSLASH: 98,
    KPEQUAL: 117,
    KPCOMMA: 121,
  };
  assert.deepEqual(Object.fromEntries(KEY_NAMES.map((name) => [name, keyCode(name)])), header);
  for (const name of KEY_NAMES) assert.equal(keyNameOf(keyCode(name)), name);
  assert.equal(keyNameOf(30), undefined, 'KEY_A is not a keypad key');
  assert.equal(isKeyName('KP5'), true);
  assert.equal(isKeyName('KEY_KP5'), false);
});

test('keys: the short list in error messages names every key, and only those', () => {
  const expanded = KEY_NAMES_IN_SHORT.split(', ').flatMap((part) => {
    const range = /^([A-Z]*)(\d+)\.\.\1(\d+)$/.exec(part);
    if (!range) return [part];
    const [, prefix = '', from = '', to = ''] = range;
    const [lo, hi] = [Number(from), Number(to)];
    return Array.from({ length: hi - lo + 1 }, (_, i) => `${prefix}${lo + i}`);
  });
  assert.deepEqual([...expanded].sort(), [...KEY_NAMES].sort());
});

test('keys: a key map parses any subset of keys; every unknown name is reported at its key with the valid ones', () => {
  const command = z.enum(['repeat', 'pause', 'louder', 'help']);
  const schema = keyMapSchema(command);
  assert.deepEqual(schema.parse({ KP5: 'repeat', KPPLUS: 'louder', '0': 'help' }), { KP5: 'repeat', KPPLUS: 'louder', '0': 'help' });
  assert.deepEqual(schema.parse({}), {});
  const result = schema.safeParse({ KEY_KP5: 'repeat', KP10: 'pause', KPENTER: 'shout' });
  assert.equal(result.success, false);
  const issues = result.error?.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })) ?? [];
  assert.equal(issues.length, 3);
  assert.match(
    issues.find((i) => i.path === 'KEY_KP5')?.message ?? '',
    /unknown key name "KEY_KP5" \(did you mean "KP5"\?\); key names are the kernel's without KEY_: KP0\.\.KP9, KPDOT/,
  );
  assert.match(issues.find((i) => i.path === 'KP10')?.message ?? '', /^unknown key name "KP10"; key names .*KPENTER.*F1\.\.F12/);
  assert.match(issues.find((i) => i.path === 'KPENTER')?.message ?? '', /expected one of "repeat"\|"pause"/);
  assert.match(keyNameSchema.safeParse('kp5').error?.issues[0]?.message ?? '', /did you mean "KP5"/);
});

test('keys: spoken labels per locale, falling back by language then to en-US', () => {
  const say = (locale: string) =>
    ['KP5', '5', 'KPPLUS', 'KPENTER', 'KPASTERISK', 'KPSLASH', 'KPDOT', 'BACKSPACE', 'NUMLOCK', 'F11'].map((k) => keyLabel(k as never, locale));
  assert.deepEqual(say('en-US'), ['5', '5', 'plus', 'enter', 'star', 'slash', 'dot', 'backspace', 'num lock', 'F11']);
  assert.deepEqual(say('es-ES'), ['5', '5', 'más', 'intro', 'asterisco', 'barra', 'punto', 'retroceso', 'bloq num', 'F11']);
  assert.deepEqual(say('fr-FR'), ['5', '5', 'plus', 'entrée', 'étoile', 'barre oblique', 'point', 'retour arrière', 'verr num', 'F11']);
  assert.equal(keyLabelLocale('es-MX'), 'es-ES');
  assert.equal(keyLabelLocale('fr_CA'), 'fr-FR');
  assert.equal(keyLabelLocale('de-DE'), 'en-US');
  assert.equal(keyLabel('KPMINUS', 'fr-CA'), 'moins');
  for (const name of KEY_NAMES) for (const locale of ['en-US', 'es-ES', 'fr-FR']) assert.ok(keyLabel(name, locale), `${name} in ${locale}`);
});

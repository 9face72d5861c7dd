import { z } from 'zod';

/**
 * The keys of a numeric keypad and the ones near it, named as in linux/input-event-codes.h without
 * `KEY_` (KEY_KP5 is "KP5", KEY_1 is "1"). The codes are what evdev reports for the physical key
 * whatever the Num Lock state: Num Lock only changes how a console or X keymap reads them.
 */
const KEYS = [
  ['KP0', 82],
  ['KP1', 79],
  ['KP2', 80],
  ['KP3', 81],
  ['KP4', 75],
  ['KP5', 76],
  ['KP6', 77],
  ['KP7', 71],
  ['KP8', 72],
  ['KP9', 73],
  ['KPDOT', 83],
  ['KPCOMMA', 121],
  ['KPENTER', 96],
  ['KPPLUS', 78],
  ['KPMINUS', 74],
  ['KPASTERISK', 55],
  ['KPSLASH', 98],
  ['KPEQUAL', 117],
  ['NUMLOCK', 69],
  ['BACKSPACE', 14],
  ['ENTER', 28],
  ['ESC', 1],
  ['TAB', 15],
  ['SPACE', 57],
  ['1', 2],
  ['2', 3],
  ['3', 4],
  ['4', 5],
  ['5', 6],
  ['6', 7],
  ['7', 8],
  ['8', 9],
  ['9', 10],
  ['0', 11],
  ['F1', 59],
  ['F2', 60],
  ['F3', 61],
  ['F4', 62],
  ['F5', 63],
  ['F6', 64],
  ['F7', 65],
  ['F8', 66],
  ['F9', 67],
  ['F10', 68],
  ['F11', 87],
  ['F12', 88],
] as const;

export type KeyName = (typeof KEYS)[number][0];

export const KEY_NAMES: readonly KeyName[] = KEYS.map(([name]) => name);

const codeByName = new Map<string, number>(KEYS);
const nameByCode = new Map<number, KeyName>(KEYS.map(([name, code]) => [code, name]));

export function keyCode(name: KeyName): number {
  const code = codeByName.get(name);
  if (code === undefined) throw new TypeError(`unknown key name ${JSON.stringify(name)}`);
  return code;
}

/** The name of an evdev key code, or undefined for a key this list does not name. */
export function keyNameOf(code: number): KeyName | undefined {
  return nameByCode.get(code);
}

export function isKeyName(name: string): name is KeyName {
  return codeByName.has(name);
}

/** Every name, ranges folded; a test checks it covers KEY_NAMES exactly. */
export const KEY_NAMES_IN_SHORT =
  'KP0..KP9, KPDOT, KPCOMMA, KPENTER, KPPLUS, KPMINUS, KPASTERISK, KPSLASH, KPEQUAL, NUMLOCK, BACKSPACE, ENTER, ESC, TAB, SPACE, 0..9, F1..F12';

/** "KEY_KP5", "kp5" and "Kp5" are all meant as "KP5"; suggest it rather than only refusing. */
function suggestion(input: string): string {
  const guess = input.trim().toUpperCase().replace(/^KEY_/, '');
  return guess !== input && isKeyName(guess) ? ` (did you mean "${guess}"?)` : '';
}

export function unknownKeyMessage(input: unknown): string {
  const shown = typeof input === 'string' ? JSON.stringify(input) : String(input);
  const hint = typeof input === 'string' ? suggestion(input) : '';
  return `unknown key name ${shown}${hint}; key names are the kernel's without KEY_: ${KEY_NAMES_IN_SHORT}`;
}

export const keyNameSchema = z.enum(KEY_NAMES as [KeyName, ...KeyName[]], { error: (issue) => unknownKeyMessage(issue.input) });

/**
 * A key map as a lanes file writes it: key name to command, any subset of the keys. Every unknown
 * key name and every bad command is reported at once, each at its key.
 */
export function keyMapSchema<C extends z.ZodType>(commandSchema: C) {
  // A record over the enum itself would demand every key (zod 4 records over an enum are
  // exhaustive) and report strangers as one "Unrecognized key" line without the valid names.
  return z.partialRecord(z.string().pipe(keyNameSchema), commandSchema, {
    error: (issue) => (issue.code === 'invalid_key' ? issue.issues[0]?.message : undefined),
  });
}

export type KeyLabelLocale = 'en-US' | 'es-ES' | 'fr-FR';
export const KEY_LABEL_LOCALES: readonly KeyLabelLocale[] = ['en-US', 'es-ES', 'fr-FR'];

type Digit = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9';
/** Digits and function keys read the same in every locale; the rest needs words. */
type WordKey = Exclude<KeyName, Digit | `KP${Digit}` | `F${number}`>;

const WORDS: Record<KeyLabelLocale, Record<WordKey, string>> = {
  'en-US': {
    KPDOT: 'dot',
    KPCOMMA: 'comma',
    KPENTER: 'enter',
    KPPLUS: 'plus',
    KPMINUS: 'minus',
    KPASTERISK: 'star',
    KPSLASH: 'slash',
    KPEQUAL: 'equals',
    NUMLOCK: 'num lock',
    BACKSPACE: 'backspace',
    ENTER: 'enter',
    ESC: 'escape',
    TAB: 'tab',
    SPACE: 'space',
  },
  'es-ES': {
    KPDOT: 'punto',
    KPCOMMA: 'coma',
    KPENTER: 'intro',
    KPPLUS: 'más',
    KPMINUS: 'menos',
    KPASTERISK: 'asterisco',
    KPSLASH: 'barra',
    KPEQUAL: 'igual',
    NUMLOCK: 'bloq num',
    BACKSPACE: 'retroceso',
    ENTER: 'intro',
    ESC: 'escape',
    TAB: 'tabulador',
    SPACE: 'espacio',
  },
  'fr-FR': {
    KPDOT: 'point',
    KPCOMMA: 'virgule',
    KPENTER: 'entrée',
    KPPLUS: 'plus',
    KPMINUS: 'moins',
    KPASTERISK: 'étoile',
    KPSLASH: 'barre oblique',
    KPEQUAL: 'égal',
    NUMLOCK: 'verr num',
    BACKSPACE: 'retour arrière',
    ENTER: 'entrée',
    ESC: 'échap',
    TAB: 'tabulation',
    SPACE: 'espace',
  },
};

/** The locale whose labels serve `locale`: itself, the same language ("es-MX" → es-ES), or en-US. */
export function keyLabelLocale(locale: string): KeyLabelLocale {
  const exact = KEY_LABEL_LOCALES.find((l) => l.toLowerCase() === locale.toLowerCase());
  if (exact) return exact;
  const language = locale.split(/[-_]/)[0]?.toLowerCase();
  return KEY_LABEL_LOCALES.find((l) => l.startsWith(`${language}-`)) ?? 'en-US';
}

/** What the key is called aloud, for a help sentence ("press 5 to repeat", "pulse intro para pagar"). */
export function keyLabel(name: KeyName, locale: string): string {
  if (/^(?:KP)?\d$/.test(name)) return name.slice(-1);
  if (/^F\d+$/.test(name)) return name;
  return WORDS[keyLabelLocale(locale)][name as WordKey];
}

/**
 * Hostile values, and a JSON writer that can say what `JSON.stringify` cannot: number tokens
 * outside the double range (`1e999`), and own keys named `__proto__`.
 */

/** A JSON token written verbatim (e.g. `1e999`, which parses to Infinity). */
export class RawJson {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

export type Json = null | boolean | number | string | RawJson | Json[] | { [key: string]: Json };

/** Sets `key` as an own, enumerable property, even `__proto__` (plain assignment would set the prototype). */
export function setOwn(target: Record<string, Json>, key: string, value: Json): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

export function clone(value: Json): Json {
  if (value === null || typeof value !== 'object' || value instanceof RawJson) return value;
  if (Array.isArray(value)) return value.map(clone);
  const out: Record<string, Json> = {};
  for (const key of Object.keys(value)) setOwn(out, key, clone(value[key]!));
  return out;
}

export function writeJson(value: Json): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof RawJson) {
      raws.push(v.text);
      return `\u0001raw${raws.length - 1}\u0001`;
    }
    return v;
  });
  return raws.length === 0 ? text : text.replace(/"\\u0001raw(\d+)\\u0001"/g, (_m, i: string) => raws[Number(i)]!);
}

/** `depth` nested arrays: `[[[...]]]`. */
export function deepArray(depth: number): RawJson {
  return new RawJson('['.repeat(depth) + ']'.repeat(depth));
}

/** `depth` nested objects: `{"a":{"a":...}}`. */
export function deepObject(depth: number): RawJson {
  return new RawJson('{"a":'.repeat(depth) + '1' + '}'.repeat(depth));
}

/**
 * Every number is tried with these: the edges of the Date, integer and double ranges, fractions,
 * and numbers that are not numbers. The most telling come first: a short run sends those to every field.
 */
export const hostileNumbers: Json[] = [
  8.64e15 + 1, // one past the end of the Date range: `new Date(x).toISOString()` throws
  2 ** 53,
  -1,
  0.5,
  1e308,
  new RawJson('1e999'),
  'NaN',
  0,
  1,
  -0.5,
  1.5,
  -1e308,
  8.64e15,
  2 ** 53 + 2,
  -(2 ** 53),
  2 ** 31,
  2 ** 32,
  5e-324,
  new RawJson('-1e999'),
  new RawJson('-0'),
  new RawJson('1' + '0'.repeat(400)),
  'Infinity',
  '1',
  '',
  null,
  true,
  [],
  {},
];

/** Strings: empty, long, huge, control and bidi characters, lone surrogates, paths, wildcards, markup. */
export const hostileStrings: Json[] = [
  '',
  'x'.repeat(100_000),
  '\u202Eevil\u202C', // right-to-left override
  '\uD800', // lone high surrogate
  'nul\u0000inside',
  '__proto__',
  'a'.repeat(65),
  0,
  null,
  ' ',
  'a'.repeat(257),
  '\u200F\u061C\u2066bidi\u2069',
  '\u0000',
  '\u001b[2J\u001b[31mred',
  '\r\nInjected: header',
  '\uDFFFx', // lone low surrogate
  '\uFEFF\uFFFE\uFFFF',
  '𝕏😀'.repeat(64),
  'e\u0301'.repeat(500), // combining marks
  '../../../etc/passwd',
  'C:\\Windows\\win.ini',
  '$SYS/broker',
  '#',
  '+',
  'a/b',
  '<speak><break time="100s"/></speak>',
  '&amp;&#0;',
  '{{constructor.constructor("x")()}}',
  "'; DROP TABLE alerts; --",
  'constructor',
  'prototype',
  'toString',
  'NaN',
  '1e999',
  '-1',
  -1,
  true,
  [],
  {},
  ['a'],
];

export const hostileBooleans: Json[] = ['true', 'false', 0, 1, null, '', [], {}];

/** Keys that reach an object's prototype or shadow its methods when code copies or indexes with them. */
export const prototypeKeys = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__'];

/** A prototype-polluting payload for one of `prototypeKeys`. */
export function pollution(key: string): Json {
  if (key === 'constructor') {
    const inner: Record<string, Json> = {};
    setOwn(inner, 'prototype', { polluted: 'fuzz' });
    return inner;
  }
  if (key === '__proto__' || key === 'prototype') return { polluted: 'fuzz', toString: 'fuzz', length: 1e9 };
  return 'fuzz';
}

/** Topic levels that are legal in MQTT but hostile to a service reading them (no wildcards or NUL: those are protocol errors). */
export const hostileTopicLevels = [
  '',
  ' ',
  'a'.repeat(65),
  'a'.repeat(5000),
  '..',
  '.',
  '$SYS',
  '__proto__',
  'constructor',
  '\u202Eevil',
  '😀',
  'CON',
  'a b',
  '%2F',
];

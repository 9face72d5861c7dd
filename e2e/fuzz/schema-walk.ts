import { clone, deepArray, deepObject, hostileBooleans, hostileNumbers, hostileStrings, pollution, prototypeKeys, setOwn, type Json } from './values.ts';

/**
 * Payloads made from a channel's zod schema, so a field added to a schema is fuzzed without an
 * edit here: a valid base (the channel's example, and one made from the schema for each variant of
 * a union), then one field at a time replaced by a hostile value of its kind.
 */

type Def = { type: string } & Record<string, unknown>;
const defOf = (schema: unknown): Def => (schema as { _zod: { def: Def } })._zod.def;
const parses = (schema: unknown, value: unknown): boolean => (schema as { safeParse(v: unknown): { success: boolean } }).safeParse(value).success;

export type Path = Array<string | number>;
export type Kind = 'object' | 'array' | 'string' | 'number' | 'boolean' | 'choice' | 'record' | 'union' | 'other';

export interface Slot {
  path: Path;
  kind: Kind;
  /** The schema of the value at `path`, wrappers (optional, nullable, default, pipe) removed. */
  schema: unknown;
  optional: boolean;
}

/** The schema under optional/nullable/default/readonly/catch wrappers, and the input side of a pipe. */
function core(schema: unknown): { schema: unknown; optional: boolean } {
  let current = schema;
  let optional = false;
  for (let i = 0; i < 20; i++) {
    const def = defOf(current);
    if (def.type === 'optional' || def.type === 'default' || def.type === 'prefault') {
      optional = true;
      current = def.innerType;
    } else if (def.type === 'nullable' || def.type === 'readonly' || def.type === 'catch' || def.type === 'nonoptional') {
      current = def.innerType;
    } else if (def.type === 'pipe') {
      current = def.in;
    } else if (def.type === 'lazy') {
      current = (def.getter as () => unknown)();
    } else {
      break;
    }
  }
  return { schema: current, optional };
}

function kindOf(schema: unknown): Kind {
  const type = defOf(schema).type;
  switch (type) {
    case 'object':
    case 'array':
    case 'string':
    case 'number':
    case 'boolean':
    case 'record':
    case 'union':
      return type;
    case 'int':
    case 'bigint':
      return 'number';
    case 'enum':
    case 'literal':
      return 'choice';
    default:
      return 'other';
  }
}

function choices(schema: unknown): Json[] {
  const def = defOf(schema);
  if (def.type === 'enum') return Object.values(def.entries as Record<string, Json>);
  if (def.type === 'literal') return def.values as Json[];
  return [];
}

const STRING_CANDIDATES = ['demo', 'lane-1', 'en-US', 'USD', 'orange', 'FRUIT-ORANGE', 'online', 'scan-1', 'centernet-coco', 'a', 'x'];
const NUMBER_CANDIDATES = [1795000000000, 1, 0, 0.5, 100, 1000];

/** A value the schema accepts, made from the schema alone (null when none of the usual candidates fits). */
export function generate(schema: unknown): Json {
  const { schema: inner } = core(schema);
  const def = defOf(inner);
  switch (kindOf(inner)) {
    case 'object': {
      const out: Record<string, Json> = {};
      for (const [key, field] of Object.entries(def.shape as Record<string, unknown>)) setOwn(out, key, generate(field));
      return out;
    }
    case 'array':
      return [generate(def.element)];
    case 'record':
      return { k: generate(def.valueType) };
    case 'union':
      return generate((def.options as unknown[])[0]);
    case 'choice':
      return choices(inner)[0] ?? null;
    case 'boolean':
      return true;
    case 'number':
      return NUMBER_CANDIDATES.find((n) => parses(inner, n)) ?? 0;
    case 'string':
      return STRING_CANDIDATES.find((s) => parses(inner, s)) ?? 'a';
    default:
      return null;
  }
}

/** Fills `target` with `source`'s values wherever the two share a key, so a generated variant looks like the example. */
function overlay(target: Json, source: Json): Json {
  if (target === null || source === null || typeof target !== 'object' || typeof source !== 'object') return target;
  if (Array.isArray(target) || Array.isArray(source)) return target;
  const out = clone(target) as Record<string, Json>;
  for (const key of Object.keys(out)) {
    const from = (source as Record<string, Json>)[key];
    if (from === undefined) continue;
    const mine = out[key]!;
    const merged = typeof mine === 'object' && mine !== null && !Array.isArray(mine) ? overlay(mine, from) : from;
    setOwn(out, key, merged);
  }
  return out;
}

/**
 * Valid payloads to mutate: the example, and for a union one per variant (generated, with the
 * example's values where they fit). Every base parses with the schema.
 */
export function bases(schema: unknown, example: Json): Json[] {
  const out: Json[] = [];
  if (parses(schema, example)) out.push(clone(example));
  const { schema: inner } = core(schema);
  const def = defOf(inner);
  const variants = def.type === 'union' ? (def.options as unknown[]) : [inner];
  for (const variant of variants) {
    const made = generate(variant);
    const candidates = [overlay(made, example), made];
    const fit = candidates.find((c) => parses(schema, c));
    if (fit !== undefined && !out.some((b) => JSON.stringify(b) === JSON.stringify(fit))) out.push(fit);
  }
  return out;
}

function variantFor(schema: unknown, value: Json): unknown {
  const def = defOf(schema);
  if (def.type !== 'union') return schema;
  const options = def.options as unknown[];
  return options.find((option) => parses(option, value)) ?? options[0];
}

/** Every field of `value` under `schema`, optional fields it lacks included, depth first. */
export function slots(schema: unknown, value: Json, path: Path = []): Slot[] {
  const { schema: wrapped, optional } = core(schema);
  const inner = variantFor(wrapped, value);
  const kind = kindOf(inner);
  const here: Slot = { path, kind: kind === 'union' ? 'union' : kind, schema: inner, optional };
  const out: Slot[] = [here];
  const def = defOf(inner);
  if (kind === 'object') {
    const current = value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};
    for (const [key, field] of Object.entries(def.shape as Record<string, unknown>)) {
      out.push(...slots(field, (current as Record<string, Json>)[key] ?? generate(field), [...path, key]));
    }
  } else if (kind === 'array') {
    const first = Array.isArray(value) && value.length > 0 ? value[0]! : generate(def.element);
    out.push(...slots(def.element, first, [...path, 0]));
  } else if (kind === 'record') {
    const current = value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};
    const [key, entry] = Object.entries(current as Record<string, Json>)[0] ?? ['k', generate(def.valueType)];
    out.push(...slots(def.valueType, entry, [...path, key]));
  }
  return out;
}

export const DELETE = Symbol('delete');

/** A copy of `base` with the value at `path` replaced (containers on the way made as needed) or deleted. */
export function setAt(base: Json, path: Path, value: Json | typeof DELETE): Json {
  if (path.length === 0) return value === DELETE ? null : clone(value);
  const root = clone(base);
  let node: Json = root;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    const container = node as Record<string | number, Json>;
    let next = container[key];
    if (next === null || typeof next !== 'object') {
      next = typeof path[i + 1] === 'number' ? [] : {};
      setOwn(container as Record<string, Json>, String(key), next);
    }
    node = next;
  }
  const last = path[path.length - 1]!;
  const container = node as Record<string, Json>;
  if (value === DELETE) delete container[last];
  else if (Array.isArray(container) && typeof last === 'number') (container as Json[])[last] = clone(value);
  else setOwn(container, String(last), clone(value));
  return root;
}

export function getAt(value: Json, path: Path): Json | undefined {
  let node: Json | undefined = value;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, Json>)[key];
  }
  return node;
}

/** Hostile replacements for a field of this kind (and, for a required field, its absence). */
export function hostileFor(slot: Slot, base: Json): Array<Json | typeof DELETE> {
  const current = getAt(base, slot.path);
  const out: Array<Json | typeof DELETE> = [];
  if (slot.path.length > 0 && !slot.optional) out.push(DELETE);
  switch (slot.kind) {
    case 'number':
      out.push(...hostileNumbers);
      if (typeof current === 'number') out.push(current + 0.5, -current, current * 1e6);
      break;
    case 'string':
      out.push(...hostileStrings);
      if (typeof current === 'string') out.push(current.toUpperCase(), ` ${current}`, `${current}\u0000`, current.repeat(50));
      break;
    case 'boolean':
      out.push(...hostileBooleans);
      break;
    case 'choice':
      for (const choice of choices(slot.schema)) {
        if (typeof choice === 'string') out.push(choice.toUpperCase(), `${choice} `, `${choice}\u200B`);
      }
      out.push('', '__proto__', 'toString', 0, null, [], {});
      break;
    case 'union':
    case 'other':
    case 'record':
      out.push(...hostileStrings.slice(0, 12), ...hostileNumbers.slice(0, 12));
      break;
    case 'array': {
      const element = Array.isArray(current) && current.length > 0 ? current[0]! : null;
      out.push(
        [],
        [null],
        {},
        'array',
        0,
        null,
        deepArray(5000),
        Array.from({ length: 1001 }, () => clone(element)),
        Array.from({ length: 20_000 }, () => 0),
      );
      break;
    }
    case 'object':
      out.push(null, [], 'object', 0, true, {}, deepObject(5000), deepArray(5000));
      break;
  }
  return out;
}

/** Objects along a base where a prototype key or an unknown key can be added. */
export function withExtraKey(base: Json, slot: Slot, key: string): Json | null {
  if (slot.kind !== 'object' && slot.kind !== 'record') return null;
  const target = getAt(base, slot.path);
  if (target === null || typeof target !== 'object' || Array.isArray(target)) return null;
  const extended = clone(target) as Record<string, Json>;
  setOwn(extended, key, prototypeKeys.includes(key) ? pollution(key) : 'fuzz');
  return setAt(base, slot.path, extended);
}

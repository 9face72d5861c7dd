import type { Channel } from '@sightline/schemas';
import { audioWav, corruptJpegs, corruptWavs, frameJpeg } from './media.ts';
import type { Random } from './random.ts';
import { bases, DELETE, getAt, hostileFor, setAt, slots, withExtraKey, type Path, type Slot } from './schema-walk.ts';
import { clone, deepArray, deepObject, hostileTopicLevels, prototypeKeys, RawJson, setOwn, writeJson, type Json } from './values.ts';

/**
 * Hostile messages for one channel: its schema's fields mutated one at a time, prototype keys,
 * broken documents, valid-looking messages under ever new ids, hostile topic levels, and (for
 * JPEG and WAV channels) corrupt media.
 */

export type CaseKind = 'field' | 'extra-key' | 'document' | 'ids' | 'topic' | 'media';

export interface BusCase {
  channel: string;
  kind: CaseKind;
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  /** What was done, for a replay or a finding: `field capturedAt = 8640000000000001`. */
  note: string;
}

const MiB = 1024 * 1024;
/** Sizes of the big valid-looking frames and clips sent under new ids. */
const FRAME_SIZES = [64 * 1024, 512 * 1024, 1 * MiB, 2 * MiB, 2 * MiB, 3.5 * MiB];
const AUDIO_SIZES = [64 * 1024, 512 * 1024, 2 * MiB - 16 * 1024];
/**
 * The largest message sent on the harness's own connection: over the broker's payload limit
 * (4 MiB, acknowledged and dropped) but within the room it allows for the topic (64 KiB). A
 * PUBLISH beyond that room closes the connection, and mqtt.js would send the same QoS 1 message
 * again after every reconnect, stalling the run (the flood phase sends those on sockets of its own).
 */
export const MAX_CASE_BYTES = 4 * MiB + 32 * 1024;

function describe(value: Json | typeof DELETE): string {
  if (value === DELETE) return '(absent)';
  const text = writeJson(value);
  return text.length > 60 ? `${text.slice(0, 40)}… (${text.length} chars)` : text;
}

function pathText(path: Path): string {
  return path.length === 0 ? '(root)' : path.join('.');
}

export class ChannelFuzzer {
  readonly channel: Channel<unknown, string>;
  readonly #prefix: string;
  readonly #random: Random;
  readonly #bases: Json[];
  readonly #slots: Slot[][];
  /** [base, slot, value] triples; cycled, so every pair is sent once the count allows. */
  readonly #fieldPlan: Array<[number, number, number]> = [];
  readonly #hostile: Array<Array<Array<Json | typeof DELETE>>>;
  #fieldNext = 0;
  #extraNext = 0;
  #documentNext = 0;
  #mediaNext = 0;
  #topicNext = 0;
  #ids = 0;
  readonly #documents: Array<{ name: string; bytes: Buffer }>;
  readonly #media: Array<{ name: string; bytes: Buffer }>;

  constructor(channel: Channel<unknown, string>, prefix: string, random: Random) {
    this.channel = channel;
    this.#prefix = prefix;
    this.#random = random;
    const example = channel.encoding === 'jpeg' || channel.encoding === 'wav' ? (channel.example as { meta: Json }).meta : (channel.example as Json);
    this.#bases = bases(channel.schema, example);
    if (this.#bases.length === 0) throw new Error(`channel ${channel.name}: its example does not parse with its schema`);
    this.#slots = this.#bases.map((base) => slots(channel.schema, base));
    this.#hostile = this.#slots.map((list, b) => list.map((slot) => hostileFor(slot, this.#bases[b]!)));
    // Value-major: round v sends every field its v-th hostile value (the most telling come first),
    // so even a short run tries the worst values on every field of every variant.
    const rounds = Math.max(...this.#hostile.flatMap((list) => list.map((values) => values.length)));
    for (let v = 0; v < rounds; v++) {
      const round: Array<[number, number, number]> = [];
      for (let b = 0; b < this.#bases.length; b++) {
        for (let s = 0; s < this.#slots[b]!.length; s++) if (v < this.#hostile[b]![s]!.length) round.push([b, s, v]);
      }
      this.#fieldPlan.push(...random.shuffle(round));
    }
    this.#documents = this.#makeDocuments();
    this.#media = this.#makeMedia();
  }

  /** How many distinct field mutations this channel has (its schema's fields times their hostile values). */
  get fieldCases(): number {
    return this.#fieldPlan.length;
  }

  get hasMedia(): boolean {
    return this.#media.length > 0;
  }

  topic(params: Record<string, string>): string {
    let levels = this.channel.template;
    for (const name of this.channel.params) levels = levels.replace(`{${name}}`, params[name] ?? 'x');
    return `${this.#prefix}/${levels}`;
  }

  /** The topic parameters of a base: taken from same-named payload fields when it has them. */
  #paramsOf(base: Json): Record<string, string> {
    const params: Record<string, string> = {};
    for (const name of this.channel.params) {
      const own = getAt(base, [name]);
      params[name] = typeof own === 'string' ? own : name === 'service' ? 'checkout' : `${name === 'camera' ? 'demo' : 'lane-1'}`;
    }
    return params;
  }

  #encode(value: Json, size = 0): Buffer {
    switch (this.channel.encoding) {
      case 'jpeg':
        return frameJpeg(writeJson(value), this.#random, size);
      case 'wav':
        return audioWav(writeJson(value), size || 4410);
      case 'text':
        return Buffer.from(typeof value === 'string' ? value : writeJson(value), 'utf8');
      case 'json':
        return Buffer.from(writeJson(value), 'utf8');
    }
  }

  #case(kind: CaseKind, base: Json, payload: Buffer, note: string, params = this.#paramsOf(base)): BusCase {
    return { channel: this.channel.name, kind, topic: this.topic(params), payload, qos: this.channel.qos, note };
  }

  next(kind: CaseKind): BusCase {
    switch (kind) {
      case 'field':
        return this.#field();
      case 'extra-key':
        return this.#extraKey();
      case 'document':
        return this.#document();
      case 'ids':
        return this.#newIds();
      case 'topic':
        return this.#hostileTopic();
      case 'media':
        return this.#mediaCase();
    }
  }

  /** A valid payload (a base, its times set to now), encoded as the channel carries it. */
  valid(random: Random): Buffer {
    return this.#encode(this.#freshen(random.pick(this.#bases)));
  }

  /** One field or extra-key case picked by `random` (for HTTP bodies), leaving the channel's own sequence alone. */
  sample(random: Random): BusCase {
    return random.chance(0.8) ? this.#field(random.int(this.#fieldPlan.length)) : this.#extraKey(random.int(1 << 20));
  }

  #field(index = this.#fieldNext++): BusCase {
    const [b, s, v] = this.#fieldPlan[index % this.#fieldPlan.length]!;
    const base = this.#bases[b]!;
    const slot = this.#slots[b]![s]!;
    const value = this.#hostile[b]![s]![v]!;
    const mutated = setAt(base, slot.path, value);
    return this.#case('field', base, this.#encode(mutated), `${pathText(slot.path)} = ${describe(value)}`);
  }

  #extraKey(n = this.#extraNext++): BusCase {
    const b = n % this.#bases.length;
    const base = this.#bases[b]!;
    const objects = this.#slots[b]!.filter((slot) => slot.kind === 'object' || slot.kind === 'record');
    const keys = [...prototypeKeys, 'unknownField'];
    const slot = objects[Math.floor(n / this.#bases.length) % Math.max(1, objects.length)];
    const key = keys[Math.floor(n / this.#bases.length / Math.max(1, objects.length)) % keys.length]!;
    const mutated = slot === undefined ? null : withExtraKey(base, slot, key);
    if (mutated === null) return this.#field();
    return this.#case('extra-key', base, this.#encode(mutated), `${pathText(slot!.path)}.${key} added`);
  }

  #makeDocuments(): Array<{ name: string; bytes: Buffer }> {
    const base = this.#bases[0]!;
    const text = writeJson(base);
    const max = this.channel.maxBytes;
    const padded = (bytes: number): Buffer => {
      // The base with one extra string field grown to make the whole document `bytes` long.
      const holder = clone(base);
      if (holder === null || typeof holder !== 'object' || Array.isArray(holder)) return Buffer.alloc(bytes, 0x20);
      setOwn(holder as Record<string, Json>, 'pad', '');
      const overhead = Buffer.byteLength(writeJson(holder));
      setOwn(holder as Record<string, Json>, 'pad', 'p'.repeat(Math.max(0, bytes - overhead)));
      return Buffer.from(writeJson(holder));
    };
    const docs: Array<{ name: string; value: Json | Buffer }> = [
      { name: 'empty', value: Buffer.alloc(0) },
      { name: 'null', value: null },
      { name: 'array', value: [] },
      { name: 'string', value: 'fuzz' },
      { name: 'number', value: new RawJson('1e999') },
      { name: 'empty-object', value: {} },
      { name: 'deep-array-120k', value: deepArray(120_000) },
      { name: 'deep-object-50k', value: deepObject(50_000) },
      { name: 'wide-object-20k-keys', value: Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i])) },
      { name: 'max-bytes', value: padded(max) },
      { name: 'max-bytes-plus-1', value: padded(max + 1) },
      { name: 'five-mib', value: padded(5 * MiB) },
      { name: 'truncated', value: Buffer.from(text.slice(0, Math.floor(text.length / 2))) },
      { name: 'trailing-garbage', value: Buffer.from(`${text}}}garbage`) },
      { name: 'duplicate-keys', value: Buffer.from(text.replace(/^\{/, `{"${Object.keys(base ?? {})[0] ?? 'a'}":null,`)) },
      { name: 'bom', value: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]) },
      { name: 'utf16', value: Buffer.from(text, 'utf16le') },
      { name: 'invalid-utf8', value: Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0xa0, 0xa1, 0xed, 0xa0, 0x80, 0x22, 0x7d]) },
      { name: 'nul-bytes', value: Buffer.alloc(1024, 0) },
      { name: 'random-bytes', value: this.#random.bytes(4096) },
    ];
    return docs.map(({ name, value }) => ({
      name,
      bytes: Buffer.isBuffer(value) && this.channel.encoding !== 'jpeg' && this.channel.encoding !== 'wav' ? value : this.#encodeDocument(value),
    }));
  }

  /** A whole document inside the channel's container: the JSON is the frame comment or the slmd chunk. */
  #encodeDocument(value: Json | Buffer): Buffer {
    const text = Buffer.isBuffer(value) ? value.toString('latin1') : writeJson(value);
    if (this.channel.encoding === 'jpeg') return frameJpeg(text, this.#random);
    if (this.channel.encoding === 'wav') return audioWav(text);
    return Buffer.from(text, 'utf8');
  }

  #document(): BusCase {
    const doc = this.#documents[this.#documentNext++ % this.#documents.length]!;
    return this.#case('document', this.#bases[0]!, doc.bytes, `document ${doc.name} (${doc.bytes.length} bytes)`);
  }

  #makeMedia(): Array<{ name: string; bytes: Buffer }> {
    const metaText = writeJson(this.#freshen(this.#bases[0]!));
    if (this.channel.encoding === 'jpeg') return corruptJpegs(frameJpeg(metaText, this.#random), this.#random);
    if (this.channel.encoding === 'wav') return corruptWavs(metaText);
    return [];
  }

  #mediaCase(): BusCase {
    if (this.#media.length === 0) return this.#document();
    const media = this.#media[this.#mediaNext++ % this.#media.length]!;
    return this.#case('media', this.#bases[0]!, media.bytes, `${this.channel.encoding} ${media.name} (${media.bytes.length} bytes)`);
  }

  /** Times that look like epoch milliseconds set to now, so a valid-looking message is also a fresh one. */
  #freshen(value: Json): Json {
    let out = value;
    for (const slot of this.#slots[0]!) {
      const current = getAt(out, slot.path);
      if (slot.kind === 'number' && typeof current === 'number' && current > 1e12 && current < 1e13) out = setAt(out, slot.path, Date.now());
    }
    return out;
  }

  /**
   * A valid-looking message under ids never used before: new topic parameters (and the same-named
   * fields), or the usual parameters with a new value in another id-like field (a label, a model).
   */
  #newIds(): BusCase {
    const n = this.#ids++;
    const b = n % this.#bases.length;
    const id = `fz${n.toString(36)}${this.#random.int(1296).toString(36)}`;
    let value = this.#freshen(this.#bases[b]!);
    const params = this.#paramsOf(value);
    const idLike = this.#slots[b]!.filter(
      (slot) =>
        slot.kind === 'string' &&
        slot.path.length > 0 &&
        !this.channel.params.includes(String(slot.path.at(-1))) &&
        (slot.schema as { safeParse(v: unknown): { success: boolean } }).safeParse(id).success,
    );
    let note: string;
    if (this.channel.params.length > 0 && (idLike.length === 0 || n % 2 === 0)) {
      for (const name of this.channel.params) {
        params[name] = id;
        if (getAt(value, [name]) !== undefined) value = setAt(value, [name], id);
      }
      note = `new ${this.channel.params.join('/')} ${id}`;
    } else if (idLike.length > 0) {
      const slot = idLike[Math.floor(n / 2) % idLike.length]!;
      value = setAt(value, slot.path, id);
      note = `new ${pathText(slot.path)} ${id}`;
    } else {
      note = `valid ${this.channel.name}`;
    }
    if (this.channel.encoding === 'wav' && getAt(value, ['interruptible']) !== undefined) value = setAt(value, ['interruptible'], this.#random.chance(0.5));
    const size = this.channel.encoding === 'jpeg' ? this.#random.pick(FRAME_SIZES) : this.channel.encoding === 'wav' ? this.#random.pick(AUDIO_SIZES) : 0;
    const payload = this.#encode(value, size);
    return this.#case('ids', value, payload, `${note}${size ? ` (${payload.length} bytes)` : ''}`, params);
  }

  #hostileTopic(): BusCase {
    const n = this.#topicNext++;
    const base = this.#freshen(this.#bases[0]!);
    const params = this.#paramsOf(base);
    const level = hostileTopicLevels[n % hostileTopicLevels.length]!;
    if (this.channel.params.length === 0) {
      // No parameter: the same channel with a level added or its last level changed.
      const topic = n % 2 === 0 ? `${this.topic(params)}/${level}` : `${this.topic(params).replace(/[^/]+$/, '')}${level}`;
      return { channel: this.channel.name, kind: 'topic', topic, payload: this.#encode(base), qos: this.channel.qos, note: `topic ${JSON.stringify(topic)}` };
    }
    for (const name of this.channel.params) params[name] = level;
    return this.#case('topic', base, this.#encode(base), `topic level ${JSON.stringify(level)}`, params);
  }
}

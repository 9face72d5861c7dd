import { performance } from 'node:perf_hooks';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';

/**
 * The one way a service keeps state per id that arrives from the network (a camera, a lane, a
 * label, a service name): a map with a bound on entries and on bytes, idle entries expired by
 * the service's own clock (never by a timestamp inside a message), least recently used evicted
 * first, and every eviction counted (`sightline_bounded_map_evictions_total{map,reason}`) and
 * logged. Without it, made-up ids grow memory without end.
 */

/** `refused`: a new key turned away because the map is full and `whenFull` is `refuse-new`. */
export type EvictionReason = 'entries' | 'bytes' | 'idle' | 'too-large' | 'refused';

export interface BoundedMapOptions<K, V> {
  /** Metrics label and log name, e.g. `inference-waiting-frames`. */
  name: string;
  maxEntries: number;
  /** Bound on the sum of `sizeOf` over all entries. */
  maxBytes?: number;
  /** Bytes an entry holds (its payload; a rough figure is enough). */
  sizeOf?: (value: V, key: K) => number;
  /** An entry neither read with `get` nor written for this long is dropped. */
  idleMs?: number;
  /**
   * What `set` does with a new key while `maxEntries` are held: evict the least recently used
   * (`evict-oldest`, the default), or keep the ids already admitted and refuse the newcomer
   * (`refuse-new`: a flood of made-up ids cannot push out the real ones; room comes back as
   * entries expire). The byte bound always evicts the least recently used.
   */
  whenFull?: 'evict-oldest' | 'refuse-new';
  /** Milliseconds; the service's own monotonic clock by default. */
  now?: () => number;
  registry?: Registry;
  logger?: Pick<Logger, 'warn' | 'debug'>;
  /** Called for every entry dropped by a bound or expiry (not for `delete` or `clear`). */
  onEvict?: (key: K, value: V, reason: EvictionReason) => void;
  /** Capacity evictions are logged at most this often, with the count since the last line. */
  logEveryMs?: number;
}

interface Entry<V> {
  value: V;
  bytes: number;
  touched: number;
}

const metricsByRegistry = new WeakMap<Registry, { evictions: Counter<'map' | 'reason'>; entries: Gauge<'map'> }>();
const unregistered = {
  evictions: new Counter({
    name: 'sightline_bounded_map_evictions_total',
    help: 'Entries dropped from bounded per-id maps',
    labelNames: ['map', 'reason'],
    registers: [],
  }),
  entries: new Gauge({ name: 'sightline_bounded_map_entries', help: 'Entries held in bounded per-id maps', labelNames: ['map'], registers: [] }),
};

function metricsFor(registry: Registry | undefined) {
  if (registry === undefined) return unregistered;
  let metrics = metricsByRegistry.get(registry);
  if (metrics === undefined) {
    const existing = registry.getSingleMetric('sightline_bounded_map_evictions_total') as Counter<'map' | 'reason'> | undefined;
    metrics = {
      evictions:
        existing ??
        new Counter({
          name: 'sightline_bounded_map_evictions_total',
          help: 'Entries dropped from bounded per-id maps',
          labelNames: ['map', 'reason'],
          registers: [registry],
        }),
      entries:
        (registry.getSingleMetric('sightline_bounded_map_entries') as Gauge<'map'> | undefined) ??
        new Gauge({ name: 'sightline_bounded_map_entries', help: 'Entries held in bounded per-id maps', labelNames: ['map'], registers: [registry] }),
    };
    metricsByRegistry.set(registry, metrics);
  }
  return metrics;
}

export class BoundedMap<K, V> {
  readonly name: string;
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly idleMs: number;
  #entries = new Map<K, Entry<V>>();
  #bytes = 0;
  #now: () => number;
  #sizeOf: (value: V, key: K) => number;
  #onEvict: BoundedMapOptions<K, V>['onEvict'];
  #logger: BoundedMapOptions<K, V>['logger'];
  #metrics: ReturnType<typeof metricsFor>;
  #logEveryMs: number;
  #refuseNew: boolean;
  #lastLog = Number.NEGATIVE_INFINITY;
  #unlogged = new Map<EvictionReason, number>();

  constructor(options: BoundedMapOptions<K, V>) {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 1) throw new RangeError(`${options.name}: maxEntries must be a positive integer`);
    this.name = options.name;
    this.maxEntries = options.maxEntries;
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.idleMs = options.idleMs ?? Number.POSITIVE_INFINITY;
    this.#now = options.now ?? (() => performance.now());
    this.#sizeOf = options.sizeOf ?? (() => 0);
    this.#onEvict = options.onEvict;
    this.#logger = options.logger;
    this.#metrics = metricsFor(options.registry);
    this.#logEveryMs = options.logEveryMs ?? 10_000;
    this.#refuseNew = options.whenFull === 'refuse-new';
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Sum of `sizeOf` over the entries held. */
  get bytes(): number {
    return this.#bytes;
  }

  has(key: K): boolean {
    this.expire();
    return this.#entries.has(key);
  }

  /** The value, marking it as used (it moves to the back of the eviction order). */
  get(key: K): V | undefined {
    this.expire();
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    entry.touched = this.#now();
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** The value without marking it as used. */
  peek(key: K): V | undefined {
    return this.#entries.get(key)?.value;
  }

  /**
   * Stores the value, evicting the least recently used entries to make room. Returns false (and
   * counts a `too-large` eviction) when the value alone exceeds `maxBytes`, or (counting `refused`)
   * when the key is new, the map full and `whenFull` is `refuse-new`; the key is then absent.
   */
  set(key: K, value: V): boolean {
    this.expire();
    if (this.#refuseNew && this.#entries.size >= this.maxEntries && !this.#entries.has(key)) {
      this.#evicted(key, value, 'refused');
      return false;
    }
    const bytes = this.#sizeOf(value, key);
    this.#remove(key);
    if (bytes > this.maxBytes) {
      this.#evicted(key, value, 'too-large');
      return false;
    }
    this.#entries.set(key, { value, bytes, touched: this.#now() });
    this.#bytes += bytes;
    while (this.#entries.size > this.maxEntries) this.#evictOldest('entries');
    while (this.#bytes > this.maxBytes) this.#evictOldest('bytes');
    this.#metrics.entries.set({ map: this.name }, this.#entries.size);
    return true;
  }

  /** Re-measures an entry whose value was changed in place. */
  resize(key: K): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.set(key, entry.value);
  }

  delete(key: K): boolean {
    const had = this.#remove(key);
    if (had) this.#metrics.entries.set({ map: this.name }, this.#entries.size);
    return had;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
    this.#metrics.entries.set({ map: this.name }, 0);
  }

  /** Drops entries idle for longer than `idleMs`. Runs on every access; call it from a timer when a map may sit untouched. */
  expire(): number {
    if (this.idleMs === Number.POSITIVE_INFINITY) return 0;
    const cutoff = this.#now() - this.idleMs;
    let dropped = 0;
    for (const [key, entry] of this.#entries) {
      if (entry.touched > cutoff) break;
      this.#remove(key);
      this.#evicted(key, entry.value, 'idle');
      dropped += 1;
    }
    if (dropped > 0) this.#metrics.entries.set({ map: this.name }, this.#entries.size);
    return dropped;
  }

  keys(): IterableIterator<K> {
    this.expire();
    return this.#entries.keys();
  }

  *values(): IterableIterator<V> {
    this.expire();
    for (const entry of this.#entries.values()) yield entry.value;
  }

  *entries(): IterableIterator<[K, V]> {
    this.expire();
    for (const [key, entry] of this.#entries) yield [key, entry.value];
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  #remove(key: K): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
    return true;
  }

  #evictOldest(reason: EvictionReason): void {
    const first = this.#entries.entries().next();
    if (first.done === true) return;
    const [key, entry] = first.value;
    this.#remove(key);
    this.#evicted(key, entry.value, reason);
  }

  #evicted(key: K, value: V, reason: EvictionReason): void {
    this.#metrics.evictions.inc({ map: this.name, reason });
    if (reason === 'idle') {
      this.#logger?.debug({ map: this.name, key: String(key) }, 'idle entry expired');
    } else {
      this.#unlogged.set(reason, (this.#unlogged.get(reason) ?? 0) + 1);
      const now = this.#now();
      if (now - this.#lastLog >= this.#logEveryMs) {
        this.#lastLog = now;
        const counts = Object.fromEntries(this.#unlogged);
        this.#unlogged.clear();
        this.#logger?.warn(
          {
            map: this.name,
            key: String(key),
            evicted: counts,
            maxEntries: this.maxEntries,
            maxBytes: Number.isFinite(this.maxBytes) ? this.maxBytes : undefined,
          },
          this.#refuseNew
            ? 'bounded map full: new ids refused or least recently used entries evicted'
            : 'bounded map full: evicted the least recently used entries',
        );
      }
    }
    this.#onEvict?.(key, value, reason);
  }
}

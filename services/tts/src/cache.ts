import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { BoundedMap, type Logger } from '@sightline/kit';
import { buildWav, parseWav, type Pcm } from '@sightline/schemas';

/** Everything that changes the sound of a sentence; two requests with equal parts sound the same. */
export interface CacheKeyParts {
  provider: string;
  voice: string;
  locale: string;
  /** The provider's rate, pitch and output format. */
  soundKey: string;
  text: string;
}

export function cacheKey(parts: CacheKeyParts): string {
  const canonical = JSON.stringify([parts.provider, parts.voice, parts.locale, parts.soundKey, parts.text]);
  return createHash('sha256').update(canonical).digest('hex');
}

export interface CacheEvents {
  hit(tier: 'memory' | 'disk'): void;
  miss(): void;
  evicted(tier: 'memory' | 'disk', count: number): void;
}

const noEvents: CacheEvents = { hit() {}, miss() {}, evicted() {} };

/** Sentences held in memory at most (the byte cap is the bound that usually applies). */
export const MEMORY_CACHE_ENTRIES = 10_000;

export interface MemoryLruOptions {
  registry?: Registry;
  logger?: Pick<Logger, 'warn' | 'debug'>;
}

/**
 * Least recently used first, on the kit's BoundedMap: its keys are hashes of sentences made from
 * network input (product names, labels), so it is bounded in entries and bytes and its evictions
 * are counted. Every scan sentence differs (weights, prices), so a full cache is normal: its
 * evictions are logged at most every 10 minutes.
 */
export class MemoryLru {
  readonly maxBytes: number;
  readonly #map: BoundedMap<string, Pcm>;
  #evicted = 0;
  constructor(maxBytes: number, options: MemoryLruOptions = {}) {
    this.maxBytes = maxBytes;
    this.#map = new BoundedMap<string, Pcm>({
      name: 'tts-memory-cache',
      maxEntries: MEMORY_CACHE_ENTRIES,
      maxBytes,
      sizeOf: (value) => value.samples.length,
      logEveryMs: 600_000,
      onEvict: () => {
        this.#evicted += 1;
      },
      ...(options.registry ? { registry: options.registry } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }
  get bytes(): number {
    return this.#map.bytes;
  }
  get size(): number {
    return this.#map.size;
  }
  get(key: string): Pcm | undefined {
    return this.#map.get(key);
  }
  /** Stores and returns how many entries were evicted to make room (none for a value larger than the cache: it is not kept). */
  set(key: string, value: Pcm): number {
    if (value.samples.length > this.maxBytes) {
      this.#map.delete(key);
      return 0;
    }
    const before = this.#evicted;
    this.#map.set(key, value);
    return this.#evicted - before;
  }
}

const FILE_PATTERN = /^([0-9a-f]{64})\.wav$/;

/**
 * WAV files named by their key (playable as they are): parsed when read, built when written.
 * Recency is the file's mtime, touched on every hit, so the order survives a restart without an
 * index file that could go stale.
 */
export class DiskLru {
  readonly dir: string;
  readonly maxBytes: number;
  #sizes = new Map<string, number>();
  #bytes = 0;
  constructor(dir: string, maxBytes: number) {
    this.dir = dir;
    this.maxBytes = maxBytes;
  }
  get bytes(): number {
    return this.#bytes;
  }
  get size(): number {
    return this.#sizes.size;
  }
  #file(key: string): string {
    return join(this.dir, `${key}.wav`);
  }
  /** Reads the folder: existing files in least recently used order; returns evictions. */
  async load(): Promise<number> {
    await mkdir(this.dir, { recursive: true });
    const found: Array<{ key: string; size: number; mtimeMs: number }> = [];
    for (const name of await readdir(this.dir)) {
      const match = FILE_PATTERN.exec(name);
      if (!match) {
        if (name.endsWith('.tmp')) await unlink(join(this.dir, name)).catch(() => {});
        continue;
      }
      const info = await stat(join(this.dir, name)).catch(() => null);
      if (info?.isFile()) found.push({ key: match[1]!, size: info.size, mtimeMs: info.mtimeMs });
    }
    found.sort((a, b) => a.mtimeMs - b.mtimeMs);
    this.#sizes.clear();
    this.#bytes = 0;
    for (const entry of found) {
      this.#sizes.set(entry.key, entry.size);
      this.#bytes += entry.size;
    }
    return this.#evict();
  }
  async get(key: string): Promise<Pcm | undefined> {
    if (!this.#sizes.has(key)) return undefined;
    try {
      const { pcm } = parseWav(await readFile(this.#file(key)));
      const size = this.#sizes.get(key)!;
      this.#sizes.delete(key);
      this.#sizes.set(key, size);
      const now = new Date();
      await utimes(this.#file(key), now, now).catch(() => {});
      return pcm;
    } catch {
      // vanished or corrupt: forget it and let the caller synthesise again
      await this.#remove(key);
      return undefined;
    }
  }
  async set(key: string, pcm: Pcm): Promise<number> {
    const value = buildWav(pcm.samples, pcm.format);
    if (value.length > this.maxBytes) return 0;
    const tmp = `${this.#file(key)}.${process.pid}.tmp`;
    await writeFile(tmp, value);
    await rename(tmp, this.#file(key));
    const previous = this.#sizes.get(key);
    if (previous !== undefined) {
      this.#sizes.delete(key);
      this.#bytes -= previous;
    }
    this.#sizes.set(key, value.length);
    this.#bytes += value.length;
    return this.#evict();
  }
  async #remove(key: string): Promise<void> {
    const size = this.#sizes.get(key);
    if (size === undefined) return;
    this.#sizes.delete(key);
    this.#bytes -= size;
    await unlink(this.#file(key)).catch(() => {});
  }
  async #evict(): Promise<number> {
    let evicted = 0;
    for (const key of [...this.#sizes.keys()]) {
      if (this.#bytes <= this.maxBytes) break;
      await this.#remove(key);
      evicted += 1;
    }
    return evicted;
  }
}

export interface AudioCacheOptions {
  memoryBytes: number;
  /** Where the memory tier reports its size and evictions, and logs them. */
  memory?: MemoryLruOptions;
  /** Null: no disk cache. */
  disk: { dir: string; maxBytes: number } | null;
  events?: CacheEvents;
}

/** Memory in front of disk; a disk hit is promoted to memory. */
export class AudioCache {
  readonly memory: MemoryLru;
  readonly disk: DiskLru | null;
  #events: CacheEvents;
  constructor(options: AudioCacheOptions) {
    this.memory = new MemoryLru(options.memoryBytes, options.memory);
    this.disk = options.disk ? new DiskLru(options.disk.dir, options.disk.maxBytes) : null;
    this.#events = options.events ?? noEvents;
  }
  async load(): Promise<void> {
    if (!this.disk) return;
    const evicted = await this.disk.load();
    if (evicted > 0) this.#events.evicted('disk', evicted);
  }
  async get(key: string): Promise<Pcm | undefined> {
    const fromMemory = this.memory.get(key);
    if (fromMemory) {
      this.#events.hit('memory');
      return fromMemory;
    }
    const fromDisk = await this.disk?.get(key);
    if (fromDisk) {
      this.#events.hit('disk');
      this.#remember(key, fromDisk);
      return fromDisk;
    }
    this.#events.miss();
    return undefined;
  }
  async set(key: string, pcm: Pcm): Promise<void> {
    this.#remember(key, pcm);
    if (this.disk) {
      const evicted = await this.disk.set(key, pcm);
      if (evicted > 0) this.#events.evicted('disk', evicted);
    }
  }
  #remember(key: string, pcm: Pcm): void {
    const evicted = this.memory.set(key, pcm);
    if (evicted > 0) this.#events.evicted('memory', evicted);
  }
}

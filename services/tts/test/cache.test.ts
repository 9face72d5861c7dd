import assert from 'node:assert/strict';
import { readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildWav, type Pcm } from '@sightline/schemas';
import { AudioCache, cacheKey, DiskLru, MemoryLru, type CacheEvents } from '../src/cache.ts';
import { tempDir } from './helpers.ts';

const pcm = (bytes: number, fill = 1): Pcm => ({ samples: Buffer.alloc(bytes, fill), format: { sampleRate: 16000, channels: 1 } });
/** What one entry takes on disk: a WAV (44-byte header) around the samples. */
const onDisk = (audio: Pcm) => 44 + audio.samples.length;

function counting(): CacheEvents & { hits: Record<string, number>; misses: number; evictions: Record<string, number> } {
  const state = {
    hits: { memory: 0, disk: 0 } as Record<string, number>,
    misses: 0,
    evictions: { memory: 0, disk: 0 } as Record<string, number>,
    hit: (tier: string) => void (state.hits[tier]! += 1),
    miss: () => void (state.misses += 1),
    evicted: (tier: string, n: number) => void (state.evictions[tier]! += n),
  };
  return state;
}

test('the key changes with everything that changes the sound', () => {
  const base = { provider: 'espeak', voice: 'gmw/en-US', locale: 'en-US', soundKey: 'wpm=175;pitch=50;pcm16/22050/mono', text: 'Hello.' };
  const keys = new Set([
    cacheKey(base),
    cacheKey({ ...base, provider: 'azure' }),
    cacheKey({ ...base, voice: 'gmw/en' }),
    cacheKey({ ...base, locale: 'en-GB' }),
    cacheKey({ ...base, soundKey: 'wpm=200;pitch=50;pcm16/22050/mono' }),
    cacheKey({ ...base, text: 'Hello!' }),
  ]);
  assert.equal(keys.size, 6);
  assert.match(cacheKey(base), /^[0-9a-f]{64}$/);
  assert.equal(cacheKey(base), cacheKey({ ...base }));
});

test('memory LRU: size capped in bytes, least recently used evicted first', () => {
  const lru = new MemoryLru(300);
  assert.equal(lru.set('a', pcm(100)), 0);
  assert.equal(lru.set('b', pcm(100)), 0);
  assert.equal(lru.set('c', pcm(100)), 0);
  lru.get('a');
  assert.equal(lru.set('d', pcm(100)), 1);
  assert.equal(lru.get('b'), undefined, 'b was least recently used');
  assert.ok(lru.get('a') && lru.get('c') && lru.get('d'));
  assert.equal(lru.bytes, 300);
  assert.equal(lru.set('huge', pcm(301)), 0);
  assert.equal(lru.get('huge'), undefined, 'bigger than the whole cache: not kept');
  lru.set('a', pcm(50));
  assert.equal(lru.bytes, 250, 'replacing an entry replaces its size');
});

test('disk LRU: capped, evicts by recency, and the order survives a restart', async (t) => {
  const dir = tempDir(t);
  const one = pcm(1000);
  const disk = new DiskLru(dir, onDisk(one) * 3);
  await disk.load();
  const keys = ['a', 'b', 'c', 'd'].map((k) => k.repeat(64));
  for (const [i, key] of keys.slice(0, 3).entries()) {
    await disk.set(key, one);
    const old = new Date(Date.now() - (10 - i) * 60_000);
    utimesSync(join(dir, `${key}.wav`), old, old);
  }
  // a restart: recency comes back from the files' mtimes, and a hit refreshes it
  const again = new DiskLru(dir, onDisk(one) * 3);
  assert.equal(await again.load(), 0);
  assert.equal(again.size, 3);
  assert.deepEqual(await again.get(keys[0]!), one);
  assert.equal(await again.set(keys[3]!, one), 1);
  const left = readdirSync(dir).sort();
  assert.deepEqual(left, [keys[0], keys[2], keys[3]].map((k) => `${k}.wav`).sort(), 'b, least recently used, was evicted');
  // a smaller cap at the next start evicts down to it (d is the newest; same-millisecond mtimes would tie)
  const later = new Date(Date.now() + 60_000);
  utimesSync(join(dir, `${keys[3]}.wav`), later, later);
  const smaller = new DiskLru(dir, onDisk(one));
  assert.equal(await smaller.load(), 2);
  assert.deepEqual(readdirSync(dir), [`${keys[3]}.wav`]);
});

test('disk LRU: corrupt, foreign and leftover files do not break it', async (t) => {
  const dir = tempDir(t);
  const key = 'e'.repeat(64);
  writeFileSync(join(dir, `${key}.wav`), 'not a wav at all');
  writeFileSync(join(dir, 'notes.txt'), 'hello');
  writeFileSync(join(dir, `${'f'.repeat(64)}.wav.123.tmp`), 'half written');
  const disk = new DiskLru(dir, 1_000_000);
  await disk.load();
  assert.equal(disk.size, 1);
  assert.equal(await disk.get(key), undefined, 'corrupt audio is a miss');
  assert.equal(disk.size, 0);
  assert.deepEqual(readdirSync(dir), ['notes.txt']);
});

test('audio cache: memory in front of disk, hits misses and evictions counted', async (t) => {
  const dir = tempDir(t);
  const events = counting();
  const audio = pcm(1000);
  const cache = new AudioCache({ memoryBytes: audio.samples.length, disk: { dir, maxBytes: onDisk(audio) * 10 }, events });
  await cache.load();
  const [k1, k2] = ['1'.repeat(64), '2'.repeat(64)];
  assert.equal(await cache.get(k1), undefined);
  await cache.set(k1, audio);
  assert.deepEqual(await cache.get(k1), audio);
  await cache.set(k2, pcm(1000, 2));
  assert.equal(events.evictions.memory, 1, 'memory holds one');
  assert.deepEqual(await cache.get(k1), audio, 'still on disk');
  assert.deepEqual(events.hits, { memory: 1, disk: 1 });
  assert.equal(events.misses, 1);
  // On disk it is a plain WAV any player plays, built once when stored and parsed once when read.
  assert.ok(readFileSync(join(dir, `${k2}.wav`)).equals(buildWav(pcm(1000, 2).samples, audio.format)));
  const restarted = new AudioCache({ memoryBytes: audio.samples.length, disk: { dir, maxBytes: onDisk(audio) * 10 }, events });
  await restarted.load();
  assert.deepEqual(await restarted.get(k2), pcm(1000, 2), 'the disk tier survives a restart');
  const memoryOnly = new AudioCache({ memoryBytes: 10_000, disk: null });
  await memoryOnly.load();
  await memoryOnly.set(k1, audio);
  assert.deepEqual(await memoryOnly.get(k1), audio);
});

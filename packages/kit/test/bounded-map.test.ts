import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { BoundedMap, type EvictionReason } from '../src/index.ts';

function clock() {
  let now = 0;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

test('bounded map: a flood of new ids keeps at most maxEntries, evicting the least recently used', async () => {
  const registry = new Registry();
  const evicted: Array<[string, EvictionReason]> = [];
  const map = new BoundedMap<string, number>({ name: 'cameras', maxEntries: 3, registry, onEvict: (key, _v, reason) => evicted.push([key, reason]) });
  map.set('a', 1);
  map.set('b', 2);
  map.set('c', 3);
  assert.equal(map.get('a'), 1); // a is now the most recent
  for (let i = 0; i < 10_000; i++) map.set(`ghost-${i}`, i);
  assert.equal(map.size, 3);
  assert.deepEqual([...map.keys()], ['ghost-9997', 'ghost-9998', 'ghost-9999']);
  assert.deepEqual(evicted.slice(0, 3), [
    ['b', 'entries'],
    ['c', 'entries'],
    ['a', 'entries'],
  ]);
  const text = await registry.metrics();
  assert.match(text, /sightline_bounded_map_evictions_total\{map="cameras",reason="entries"\} 10000/);
  assert.match(text, /sightline_bounded_map_entries\{map="cameras"\} 3/);
});

test('bounded map: a byte bound evicts the oldest until the total fits, and refuses a value larger than the whole bound', () => {
  const evicted: Array<[string, EvictionReason]> = [];
  const map = new BoundedMap<string, Buffer>({
    name: 'frames',
    maxEntries: 100,
    maxBytes: 1000,
    sizeOf: (b) => b.length,
    onEvict: (k, _v, r) => evicted.push([k, r]),
  });
  map.set('a', Buffer.alloc(400));
  map.set('b', Buffer.alloc(400));
  map.set('c', Buffer.alloc(400));
  assert.deepEqual([...map.keys()], ['b', 'c']);
  assert.equal(map.bytes, 800);
  assert.equal(map.set('huge', Buffer.alloc(1001)), false);
  assert.equal(map.has('huge'), false);
  assert.equal(map.bytes, 800);
  // Replacing a key re-measures it instead of counting it twice.
  map.set('b', Buffer.alloc(100));
  assert.equal(map.bytes, 500);
  assert.deepEqual(evicted, [
    ['a', 'bytes'],
    ['huge', 'too-large'],
  ]);
});

test('bounded map: idle entries expire by the service clock; reading an entry keeps it alive, peeking does not', () => {
  const time = clock();
  const expired: string[] = [];
  const map = new BoundedMap<string, string>({
    name: 'lanes',
    maxEntries: 10,
    idleMs: 1000,
    now: time.now,
    onEvict: (k, _v, r) => r === 'idle' && expired.push(k),
  });
  map.set('read', 'x');
  map.set('peeked', 'y');
  time.advance(600);
  map.get('read');
  map.peek('peeked');
  time.advance(600);
  assert.deepEqual([...map.keys()], ['read']);
  assert.deepEqual(expired, ['peeked']);
  time.advance(1001);
  assert.equal(map.expire(), 1);
  assert.equal(map.size, 0);
});

test('bounded map: capacity evictions are logged once per interval with the counts, not once per entry', () => {
  const time = clock();
  const lines: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  const logger = { warn: (obj: object, msg: string) => lines.push({ obj: obj as Record<string, unknown>, msg }), debug: () => undefined };
  const map = new BoundedMap<number, number>({ name: 'labels', maxEntries: 1, now: time.now, logger: logger as never, logEveryMs: 10_000 });
  for (let i = 0; i < 500; i++) map.set(i, i);
  assert.equal(lines.length, 1);
  time.advance(10_000);
  for (let i = 500; i < 600; i++) map.set(i, i);
  assert.equal(lines.length, 2);
  // The 498 not logged in the first interval, and the one that opened the second.
  assert.deepEqual(lines[1]!.obj.evicted, { entries: 499 });
  assert.deepEqual(lines[0]!.obj.evicted, { entries: 1 });
});

test('bounded map: a non-positive bound is refused at construction', () => {
  assert.throws(() => new BoundedMap({ name: 'x', maxEntries: 0 }), /maxEntries must be a positive integer/);
});

test('bounded map: refuse-new keeps the ids already admitted and turns newcomers away, counted, until an entry expires', async () => {
  const registry = new Registry();
  const time = clock();
  const refused: string[] = [];
  const map = new BoundedMap<string, number>({
    name: 'admitted',
    maxEntries: 2,
    idleMs: 1000,
    whenFull: 'refuse-new',
    now: time.now,
    registry,
    onEvict: (key, _v, reason) => reason === 'refused' && refused.push(key),
  });
  assert.equal(map.set('real-1', 1), true);
  assert.equal(map.set('real-2', 2), true);
  for (let i = 0; i < 100; i++) assert.equal(map.set(`ghost-${i}`, i), false);
  assert.deepEqual([...map.keys()], ['real-1', 'real-2']);
  assert.equal(map.set('real-1', 10), true, 'an admitted id is updated while the map is full');
  assert.equal(refused.length, 100);
  assert.match(await registry.metrics(), /sightline_bounded_map_evictions_total\{map="admitted",reason="refused"\} 100/);
  time.advance(600);
  map.set('real-1', 11);
  time.advance(600);
  assert.equal(map.set('late', 3), true, 'real-2 went idle: its room is free again');
  assert.deepEqual([...map.keys()], ['real-1', 'late']);
});

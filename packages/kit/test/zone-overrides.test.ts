import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { writeFileAtomic, ZoneOverrides, ZonesFileError } from '../src/index.ts';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sightline-zones-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const triangle = [
  { x: 0, y: 0 },
  { x: 1, y: 0 },
  { x: 0, y: 1 },
];
const square = [
  { x: 0.2, y: 0.2 },
  { x: 0.8, y: 0.2 },
  { x: 0.8, y: 0.8 },
  { x: 0.2, y: 0.8 },
];

test('writeFileAtomic: replaces the file whole, makes the folder, leaves no temporary file', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'deeper', 'state.json');
  writeFileAtomic(file, 'one');
  writeFileAtomic(file, 'two');
  assert.equal(readFileSync(file, 'utf8'), 'two');
  assert.deepEqual(readdirSync(path.dirname(file)), ['state.json']);
  // A folder where the file should be: the rename fails, the temporary file is removed.
  mkdirSync(path.join(dir, 'taken.json'));
  writeFileSync(path.join(dir, 'taken.json', 'x'), '');
  assert.throws(() => writeFileAtomic(path.join(dir, 'taken.json'), 'three'));
  assert.deepEqual(readdirSync(dir).sort(), ['deeper', 'taken.json']);
});

test('zone overrides: none without a file; a change is on disk before it is kept, and read back by the next start', (t) => {
  const file = path.join(tempDir(t), 'zones.json');
  const targets = new Map([
    ['lane-1', 'cam1'],
    ['lane-2', 'cam2'],
  ]);
  const first = new ZoneOverrides(file);
  assert.throws(() => first.set('lane-1', { camera: 'cam1', zone: square, updatedAt: 1 }), /has not been read yet/);
  assert.deepEqual(first.load(targets), { applied: new Map(), ignored: [] });
  first.set('lane-1', { camera: 'cam1', zone: square, updatedAt: 1000 });
  first.set('lane-2', { camera: 'cam2', zone: triangle, updatedAt: 2000 });
  first.set('lane-1', { camera: 'cam1', zone: triangle, updatedAt: 3000 });
  assert.deepEqual(first.get('lane-1')?.zone, triangle);

  const again = new ZoneOverrides(file);
  const { applied, ignored } = again.load(targets);
  assert.deepEqual(ignored, []);
  assert.deepEqual(Object.fromEntries(applied), {
    'lane-1': { camera: 'cam1', zone: triangle, updatedAt: 3000 },
    'lane-2': { camera: 'cam2', zone: triangle, updatedAt: 2000 },
  });
});

test('zone overrides: a zone for an id no longer configured, or drawn on another camera, is ignored with the reason and dropped at the next change', (t) => {
  const file = path.join(tempDir(t), 'zones.json');
  const first = new ZoneOverrides(file);
  first.load(
    new Map([
      ['a', 'cam1'],
      ['b', 'cam1'],
      ['c', 'cam1'],
    ]),
  );
  for (const id of ['a', 'b', 'c']) first.set(id, { camera: 'cam1', zone: square, updatedAt: 1 });

  const next = new ZoneOverrides(file);
  const { applied, ignored } = next.load(
    new Map([
      ['a', 'cam1'],
      ['b', 'cam2'],
    ]),
  );
  assert.deepEqual([...applied.keys()], ['a']);
  assert.deepEqual(ignored, [
    { id: 'b', reason: 'drawn on camera cam1, and b now watches cam2' },
    { id: 'c', reason: 'no zone of this id is configured' },
  ]);
  next.set('a', { camera: 'cam1', zone: triangle, updatedAt: 2 });
  assert.deepEqual(Object.keys(JSON.parse(readFileSync(file, 'utf8')).zones), ['a']);
});

test('zone overrides: a file that is not ours stops the start with every problem; one that cannot be written changes nothing', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'zones.json');
  const targets = new Map([['lane-1', 'cam1']]);
  const cases: Array<[string, RegExp]> = [
    ['{"zones": ', /zones file: .*zones\.json is not valid JSON/],
    ['', /is empty/],
    ['[]', /\(top level\)/],
    [
      JSON.stringify({
        zones: {
          'lane-1': {
            camera: 'cam1',
            zone: [
              [0, 0],
              [1, 1],
              [1, 0],
              [0, 1],
            ],
            updatedAt: 1,
          },
        },
      }),
      /zones\.lane-1\.zone: edges 0-1 and 2-3 cross/,
    ],
    [JSON.stringify({ zones: { '../x': { camera: 'cam1', zone: square, updatedAt: 1 } } }), /zones\.\.\.\/x/],
    [JSON.stringify({ zones: {}, extra: 1 }), /extra/],
    [`{"zones": {"a": ${'['.repeat(10)}`, /not valid JSON/],
  ];
  for (const [text, message] of cases) {
    writeFileSync(file, text);
    assert.throws(
      () => new ZoneOverrides(file).load(targets),
      (err: unknown) => err instanceof ZonesFileError && message.test(err.message) && /remove it to go back to the configured zones/.test(err.message),
      text,
    );
  }

  rmSync(file);
  const overrides = new ZoneOverrides(file);
  overrides.load(targets);
  overrides.set('lane-1', { camera: 'cam1', zone: square, updatedAt: 1 });
  // A folder in the file's place (it fails for root too, unlike a read-only folder).
  const saved = readFileSync(file, 'utf8');
  rmSync(file);
  mkdirSync(file);
  writeFileSync(path.join(file, 'x'), '');
  assert.throws(() => overrides.set('lane-1', { camera: 'cam1', zone: triangle, updatedAt: 2 }), /EISDIR|ENOTEMPTY|EEXIST/);
  assert.deepEqual(overrides.get('lane-1')?.zone, square, 'kept only once written');
  rmSync(file, { recursive: true });
  writeFileSync(file, saved);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')).zones['lane-1'].zone, square);
});

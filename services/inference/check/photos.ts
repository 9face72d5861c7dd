/**
 * `pnpm check:photos`: the default detector on real photographs, when they are there.
 *
 * The photos live beside the repository (`../shared/fixtures/photos`, or SIGHTLINE_PHOTOS_DIR),
 * never in it: they have no licence to be copied. A fresh clone has none, so this is a separately
 * named check that CI runs when the folder exists, not part of `pnpm test`. Expectations follow
 * the folder's SOURCES.md: what a COCO detector should find, and what it should not.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Prediction } from '../src/decoders/types.ts';
import { prepareInput, UPLOAD_LIMITS } from '../src/pipeline/image.ts';
import { BUILTIN_MODEL_ID, loadModel, type LoadedModel } from '../src/model/loader.ts';

const SCORE = 0.2;

interface Expectation {
  file: string;
  /** Labels that must be found, each at least this score, at least `count` times. */
  finds: Array<{ label: string; minScore: number; count?: number }>;
  /** Labels that must not be found at or above this score. */
  never: Array<{ label: string | '*'; minScore: number }>;
}

const expectations: Expectation[] = [
  {
    file: 'fruit-still-life.jpg',
    finds: [
      { label: 'banana', minScore: 0.3 },
      { label: 'orange', minScore: 0.3 },
      { label: 'apple', minScore: 0.3 },
    ],
    never: [{ label: 'person', minScore: 0.3 }],
  },
  {
    file: 'fresh-fruits.jpg',
    finds: [
      { label: 'orange', minScore: 0.25 },
      { label: 'banana', minScore: 0.25 },
      { label: 'apple', minScore: 0.25 },
    ],
    never: [{ label: 'person', minScore: 0.3 }],
  },
  {
    file: 'two-players.jpg',
    finds: [
      { label: 'person', minScore: 0.4, count: 2 },
      { label: 'sports ball', minScore: 0.3 },
    ],
    never: [],
  },
  { file: 'empty-park.jpg', finds: [], never: [{ label: '*', minScore: 0.3 }] },
  {
    file: 'desk-objects.jpg',
    finds: [],
    never: ['person', 'banana', 'apple', 'orange', 'broccoli', 'carrot'].map((label) => ({ label, minScore: 0.3 })),
  },
];

/** The photo through the service's own path: decode, resize, tensor, run, decode outputs. */
async function detect(model: LoadedModel, file: string): Promise<Prediction[]> {
  const input = await prepareInput(await readFile(file), model.descriptor.input, UPLOAD_LIMITS);
  return (await model.run(input, SCORE)).predictions;
}

function problemsWith(expectation: Expectation, found: Prediction[]): string[] {
  const problems: string[] = [];
  for (const want of expectation.finds) {
    const hits = found.filter((d) => d.label === want.label && d.score >= want.minScore).length;
    if (hits < (want.count ?? 1)) problems.push(`expected ${want.count ?? 1} x ${want.label} >= ${want.minScore}, found ${hits}`);
  }
  for (const unwanted of expectation.never) {
    const hit = found.find((d) => (unwanted.label === '*' || d.label === unwanted.label) && d.score >= unwanted.minScore);
    if (hit) problems.push(`did not expect ${hit.label} ${hit.score.toFixed(2)}`);
  }
  return problems;
}

const here = path.dirname(new URL(import.meta.url).pathname);
const photos = process.env['SIGHTLINE_PHOTOS_DIR'] ?? path.resolve(here, '..', '..', '..', '..', 'shared', 'fixtures', 'photos');
if (!existsSync(photos)) {
  console.log(`check:photos: no photos at ${photos}; nothing to check (set SIGHTLINE_PHOTOS_DIR to point at them)`);
  process.exit(0);
}

const dataDir = await mkdtemp(path.join(tmpdir(), 'sightline-photos-'));
let failed = 0;
try {
  const model = await loadModel(BUILTIN_MODEL_ID, { threads: 2, dataDir, modelsDir: path.join(dataDir, 'models') });
  for (const expectation of expectations) {
    const file = path.join(photos, expectation.file);
    if (!existsSync(file)) {
      console.log(`✖ ${expectation.file}: missing`);
      failed += 1;
      continue;
    }
    const found = await detect(model, file);
    const summary = found.map((d) => `${d.label} ${d.score.toFixed(2)}`).join(', ') || 'nothing';
    const problems = problemsWith(expectation, found);
    console.log(`${problems.length === 0 ? '✔' : '✖'} ${expectation.file}: ${summary}${problems.length ? `\n    ${problems.join('\n    ')}` : ''}`);
    if (problems.length > 0) failed += 1;
  }
  await model.release();
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
console.log(`check:photos: ${expectations.length - failed} of ${expectations.length} photos as expected`);
process.exit(failed === 0 ? 0 : 1);

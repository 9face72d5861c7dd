/**
 * `pnpm check:photos`: the default detector on real photographs, when they are there.
 *
 * The photos live beside the repository (`../shared/fixtures/photos`, or SIGHTLINE_PHOTOS_DIR),
 * never in it: they have no licence to be copied. A fresh clone has none, so this is a separately
 * named check that CI runs when the folder exists, not part of `pnpm test`. Expectations follow
 * the folder's SOURCES.md: what a COCO detector should find, and what it should not.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { decodeCenterNet, type Detection } from '../src/decoders/centernet.ts';
import { COCO_LABELS } from '../src/models/coco-labels.ts';
import { DEFAULT_MODEL, ensureDefaultModel } from '../src/models/default-model.ts';

const INPUT = 512;
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

async function detect(session: ort.InferenceSession, file: string): Promise<Detection[]> {
  const rgb = await sharp(file).rotate().removeAlpha().resize(INPUT, INPUT, { fit: 'fill' }).raw().toBuffer();
  const input = new ort.Tensor('float32', Float32Array.from(rgb), [1, INPUT, INPUT, 3]);
  const out = await session.run({ [DEFAULT_MODEL.input.name]: input });
  return decodeCenterNet(
    {
      heatmaps: out['tower_0/keypoints']!.data as Float32Array,
      sizes: out['tower_0/wh']!.data as Float32Array,
      gridWidth: 128,
      gridHeight: 128,
      classes: 80,
      inputWidth: INPUT,
      inputHeight: INPUT,
    },
    { labels: COCO_LABELS, scoreThreshold: SCORE },
  );
}

function problemsWith(expectation: Expectation, found: Detection[]): string[] {
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
  const model = await ensureDefaultModel(dataDir);
  const session = await ort.InferenceSession.create(model.onnxPath, { intraOpNumThreads: 2 });
  for (const expectation of expectations) {
    const file = path.join(photos, expectation.file);
    if (!existsSync(file)) {
      console.log(`✖ ${expectation.file}: missing`);
      failed += 1;
      continue;
    }
    const found = await detect(session, file);
    const summary = found.map((d) => `${d.label} ${d.score.toFixed(2)}`).join(', ') || 'nothing';
    const problems = problemsWith(expectation, found);
    console.log(`${problems.length === 0 ? '✔' : '✖'} ${expectation.file}: ${summary}${problems.length ? `\n    ${problems.join('\n    ')}` : ''}`);
    if (problems.length > 0) failed += 1;
  }
  await session.release();
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
console.log(`check:photos: ${expectations.length - failed} of ${expectations.length} photos as expected`);
process.exit(failed === 0 ? 0 : 1);

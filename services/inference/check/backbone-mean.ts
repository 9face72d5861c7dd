/**
 * `pnpm backbone:mean --data <dir>`: writes the recognition backbone's mean vector over a
 * dataset's train split (the Grocery Store Dataset layout: `train.txt` lines `path, ...`) to
 * src/products/backbone-mean.json. Run it again when the backbone changes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { BACKBONE, cropPixels, Embedder, MEAN_FILE, type BackboneMean } from '../src/products/backbone.ts';

const { values } = parseArgs({ options: { data: { type: 'string' }, source: { type: 'string', default: 'the Grocery Store Dataset train split (MIT)' } } });
if (!values.data) {
  console.error('usage: pnpm backbone:mean --data <dir>');
  process.exit(2);
}
const dataDir = path.resolve(values.data);
const files = readFileSync(path.join(dataDir, 'train.txt'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => path.join(dataDir, l.split(',')[0]!.trim()));
const work = await mkdtemp(path.join(tmpdir(), 'sightline-mean-'));
try {
  const embedder = await Embedder.open(work, { threads: 2, centred: false });
  const sum = new Float64Array(embedder.dims);
  for (const file of files) {
    const { data, info } = await sharp(readFileSync(file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const v = await embedder.embed(await cropPixels({ data, width: info.width, height: info.height }, null));
    for (let i = 0; i < v.length; i++) sum[i]! += v[i]!;
  }
  const mean = Float32Array.from(sum, (x) => x / files.length);
  const out: BackboneMean = { backbone: BACKBONE.name, source: values.source!, photos: files.length, values: Buffer.from(mean.buffer).toString('base64') };
  writeFileSync(MEAN_FILE, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote ${MEAN_FILE.pathname}: the mean of ${files.length} photos, ${mean.length} values`);
  await embedder.release();
} finally {
  await rm(work, { recursive: true, force: true });
}

/**
 * Where sync's near-duplicate threshold comes from: the fingerprint difference (grey levels, see
 * services/sync/src/fingerprint.ts) between frames that show the same scene (fresh sensor noise, a
 * coarser JPEG, an exposure drift, a 4-pixel shake) and frames that do not (the object gone, moved,
 * joined by another, swapped, a small one added), on the rendered counter of the checkout demo and on
 * the real photos beside the repository when present (SIGHTLINE_PHOTOS_DIR or ../shared/fixtures/photos).
 * Prints each pair's difference, the largest "same" and the smallest "different", and where the
 * default sits between them. Run: `pnpm bench:similarity`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { DEFAULT_DUPLICATE_DIFFERENCE, difference, fingerprint } from '@sightline/sync';

const WIDTH = 640;
const HEIGHT = 480;
const emojiDir = join(createRequire(import.meta.url).resolve('@lobehub/fluent-emoji-3d/package.json'), '..', 'assets');

interface Item {
  codepoint: string;
  size: number;
  left: number;
  top: number;
}

interface Shot {
  background: Buffer | null;
  items: Item[];
  /** Uniform sensor noise, +- levels per channel; a different seed per shot. */
  noise: number;
  quality: number;
  exposure: number;
}

let seed = 1;
function random(): number {
  // Small deterministic generator: the same figures on every run.
  seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
  return seed / 0x7fffffff;
}

async function render(shot: Shot): Promise<Buffer> {
  const base = shot.background
    ? sharp(shot.background).resize(WIDTH, HEIGHT, { fit: 'cover' })
    : sharp({ create: { width: WIDTH, height: HEIGHT, channels: 3, background: { r: 128, g: 128, b: 128 } } });
  const overlays = await Promise.all(
    shot.items.map(async (item) => ({
      input: await sharp(join(emojiDir, `${item.codepoint}.webp`))
        .resize(item.size, item.size)
        .png()
        .toBuffer(),
      left: item.left,
      top: item.top,
    })),
  );
  const { data, info } = await sharp(await base.composite(overlays).removeAlpha().png().toBuffer())
    .raw()
    .toBuffer({ resolveWithObject: true });
  for (let i = 0; i < data.length; i++) {
    const noisy = data[i]! * shot.exposure + (random() * 2 - 1) * shot.noise;
    data[i] = Math.max(0, Math.min(255, Math.round(noisy)));
  }
  return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } })
    .jpeg({ quality: shot.quality })
    .toBuffer();
}

const orange: Item = { codepoint: '1f34a', size: 260, left: 190, top: 110 };
const plain = { noise: 6, quality: 80, exposure: 1 };

interface Pair {
  scene: string;
  what: string;
  same: boolean;
  a: Shot;
  b: Shot;
}

function pairsOn(scene: string, background: Buffer | null): Pair[] {
  const at = (items: Item[], extra: Partial<Shot> = {}): Shot => ({ background, items, ...plain, ...extra });
  const one = at([orange]);
  return [
    { scene, what: 'fresh sensor noise', same: true, a: one, b: at([orange]) },
    { scene, what: 'JPEG quality 80 -> 50', same: true, a: one, b: at([orange], { quality: 50 }) },
    { scene, what: 'exposure +8 %', same: true, a: one, b: at([orange], { exposure: 1.08 }) },
    { scene, what: 'a 4-pixel shake', same: true, a: one, b: at([{ ...orange, left: orange.left + 4, top: orange.top + 2 }]) },
    { scene, what: 'empty counter, fresh noise', same: true, a: at([]), b: at([]) },
    { scene, what: 'the object gone', same: false, a: one, b: at([]) },
    { scene, what: 'the object moved 60 px', same: false, a: one, b: at([{ ...orange, left: orange.left + 60 }]) },
    { scene, what: 'a second object joins', same: false, a: one, b: at([orange, { codepoint: '1f34c', size: 160, left: 460, top: 300 }]) },
    { scene, what: 'another object instead', same: false, a: one, b: at([{ ...orange, codepoint: '1f9f8' }]) },
    { scene, what: 'a small object (96 px) added', same: false, a: at([]), b: at([{ codepoint: '1f34e', size: 96, left: 60, top: 60 }]) },
  ];
}

function photosDir(): string | null {
  const dir = process.env.SIGHTLINE_PHOTOS_DIR ?? resolve(import.meta.dirname, '..', '..', 'shared', 'fixtures', 'photos');
  return existsSync(dir) ? dir : null;
}

async function main(): Promise<void> {
  const pairs = pairsOn('grey counter', null);
  const dir = photosDir();
  if (dir !== null) {
    const photos = readdirSync(dir).filter((f) => f.endsWith('.jpg'));
    for (const photo of photos) pairs.push(...pairsOn(photo, readFileSync(join(dir, photo))));
    // Different photos are different scenes.
    for (let i = 1; i < photos.length; i++) {
      const shot = (file: string): Shot => ({ background: readFileSync(join(dir, file)), items: [], ...plain });
      pairs.push({ scene: `${photos[i - 1]} vs ${photos[i]}`, what: 'another scene', same: false, a: shot(photos[i - 1]!), b: shot(photos[i]!) });
    }
  }
  const threshold = Number(process.env.SIGHTLINE_SYNC_DUPLICATE_DIFFERENCE ?? DEFAULT_DUPLICATE_DIFFERENCE);
  let largestSame = 0;
  let smallestDifferent = Number.POSITIVE_INFINITY;
  let wrong = 0;
  console.log('scene | pair | should be | difference (hundredths of a deviation) | called');
  for (const pair of pairs) {
    const [a, b] = await Promise.all([render(pair.a), render(pair.b)]);
    const d = difference(await fingerprint(a), await fingerprint(b));
    const called = d <= threshold ? 'duplicate' : 'new';
    if ((called === 'duplicate') !== pair.same) wrong += 1;
    if (pair.same) largestSame = Math.max(largestSame, d);
    else smallestDifferent = Math.min(smallestDifferent, d);
    console.log(`${pair.scene} | ${pair.what} | ${pair.same ? 'duplicate' : 'new'} | ${d.toFixed(2)} | ${called}`);
  }
  console.log(`\npairs: ${pairs.length} (${dir === null ? 'rendered counter only: no photos beside the repository' : `with the photos in ${dir}`})`);
  console.log(`largest difference between pictures of the same scene: ${largestSame.toFixed(2)}`);
  console.log(`smallest difference between different scenes: ${smallestDifferent.toFixed(2)}`);
  console.log(
    `threshold ${threshold}: ${(threshold / largestSame).toFixed(1)}x the largest same, ${(smallestDifferent / threshold).toFixed(1)}x below the smallest different; ${wrong} pair(s) called wrong`,
  );
  if (wrong > 0) process.exitCode = 1;
}

await main();

/**
 * How alike two frames look. Each frame becomes a 32 x 24 grey thumbnail (libvips decodes the JPEG
 * at a reduced scale, so a 1080p frame costs about as little as a VGA one), softened by a 3 x 3 blur
 * and expressed in its own contrast: each cell's distance from the thumbnail's mean brightness, in
 * standard deviations. Two frames differ by the mean of their largest 1 % of cell differences
 * (8 of 768 cells), in hundredths of a standard deviation.
 * - Averaging 20 x 20 pixels into a cell keeps sensor noise and JPEG requantisation to a few hundredths.
 * - Taking away the mean and dividing by the deviation keeps an exposure drift from making a new picture.
 * - The blur keeps a camera's shake of a few pixels small; looking at the cells that changed most, not
 *   at all of them, keeps a small object that comes, goes or moves from being averaged away.
 * `pnpm bench:similarity` measures both sides (pictures of the same scene, different scenes, rendered
 * and real photos) and where the default threshold sits between them.
 */
import { BoundedMap, type Logger } from '@sightline/kit';
import type { Registry } from 'prom-client';
import type { Sharp, SharpOptions } from 'sharp';

export const FINGERPRINT_WIDTH = 32;
export const FINGERPRINT_HEIGHT = 24;

/** A frame's thumbnail, row by row, in standard deviations from its mean (see `normalise`). */
export type Fingerprint = Float32Array;

/** 1 % of the cells. */
const TOP_CELLS = Math.round((FINGERPRINT_WIDTH * FINGERPRINT_HEIGHT) / 100);
/** Grey levels: the least contrast a picture is taken to have. */
const MIN_DEVIATION = 8;

/** Decoding a frame is never allowed to allocate more than a 50-megapixel image's worth (a hostile header). */
const MAX_INPUT_PIXELS = 50_000_000;

let sharpModule: Promise<(input: Buffer, options: SharpOptions) => Sharp> | undefined;

/** libvips is loaded at the first fingerprint: a stack that never selects an image never pays for it. */
function loadSharp(): Promise<(input: Buffer, options: SharpOptions) => Sharp> {
  sharpModule ??= import('sharp').then((m) => {
    // One libvips thread per fingerprint: they are small, and the cores belong to inference.
    m.default.concurrency(1);
    m.default.cache(false);
    return m.default;
  });
  return sharpModule;
}

/** The frame's fingerprint; rejects when the JPEG cannot be decoded (the caller decides what that means). */
export async function fingerprint(jpeg: Buffer): Promise<Fingerprint> {
  const sharp = await loadSharp();
  const data = await sharp(jpeg, { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS, sequentialRead: true })
    .grayscale()
    .resize(FINGERPRINT_WIDTH, FINGERPRINT_HEIGHT, { fit: 'fill' })
    .raw()
    .toBuffer();
  if (data.length !== FINGERPRINT_WIDTH * FINGERPRINT_HEIGHT)
    throw new Error(`thumbnail has ${data.length} bytes, expected ${FINGERPRINT_WIDTH * FINGERPRINT_HEIGHT}`);
  return normalise(new Uint8Array(data));
}

/** The thumbnail blurred (weights 1-2-1 in both directions) and in standard deviations from its mean. */
function normalise(grey: Uint8Array): Float32Array {
  const blurred = new Float32Array(grey.length);
  for (let y = 0; y < FINGERPRINT_HEIGHT; y++) {
    for (let x = 0; x < FINGERPRINT_WIDTH; x++) {
      let sum = 0;
      let weights = 0;
      for (let dy = -1; dy <= 1; dy++) {
        const row = y + dy;
        if (row < 0 || row >= FINGERPRINT_HEIGHT) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const column = x + dx;
          if (column < 0 || column >= FINGERPRINT_WIDTH) continue;
          const weight = (dx === 0 ? 2 : 1) * (dy === 0 ? 2 : 1);
          sum += weight * grey[row * FINGERPRINT_WIDTH + column]!;
          weights += weight;
        }
      }
      blurred[y * FINGERPRINT_WIDTH + x] = sum / weights;
    }
  }
  let total = 0;
  for (const value of blurred) total += value;
  const mean = total / blurred.length;
  let squares = 0;
  for (const value of blurred) squares += (value - mean) ** 2;
  // A flat picture (a bare counter) has almost no contrast: its noise must not be magnified into some.
  const deviation = Math.max(MIN_DEVIATION, Math.sqrt(squares / blurred.length));
  for (let i = 0; i < blurred.length; i++) blurred[i] = (blurred[i]! - mean) / deviation;
  return blurred;
}

/** Mean of the largest 1 % of cell differences, in hundredths of a standard deviation. */
export function difference(a: Fingerprint, b: Fingerprint): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  // The largest few differences, kept in descending order as they come.
  const largest = new Float64Array(TOP_CELLS);
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d <= largest[TOP_CELLS - 1]!) continue;
    let at = TOP_CELLS - 1;
    while (at > 0 && largest[at - 1]! < d) {
      largest[at] = largest[at - 1]!;
      at -= 1;
    }
    largest[at] = d;
  }
  let sum = 0;
  for (const d of largest) sum += d;
  return (100 * sum) / TOP_CELLS;
}

/**
 * Frames at most this different are near-duplicates. Measured by `pnpm bench:similarity`: pictures of
 * one scene differ by up to 40 (a 4-pixel shake of the rendered counter), different scenes by at least
 * 51 (a 96-pixel object added to a busy photo); 45 sits between them.
 */
export const DEFAULT_DUPLICATE_DIFFERENCE = 45;

interface Remembered {
  /** The labels of the picture, sorted and joined: pictures with other labels are never duplicates. */
  labels: string;
  print: Fingerprint;
  at: number;
}

/**
 * The pictures selected lately, per camera, to tell whether a new one adds anything: a picture is a
 * near-duplicate when one selected within `windowMs` on the same camera, with the same labels,
 * differs from it by at most `maxDifference`. Bounded per camera (the most recent `perCamera`) and in
 * cameras; a camera quiet for the window has nothing left to compare with.
 */
export class RecentPictures {
  private readonly cameras: BoundedMap<string, Remembered[]>;
  private readonly settings: { windowMs: number; maxDifference: number };
  private readonly perCamera: number;

  constructor(settings: { windowMs: number; maxDifference: number }, limits: { cameras: number; perCamera?: number; registry?: Registry; logger?: Logger }) {
    this.settings = settings;
    this.perCamera = limits.perCamera ?? 64;
    this.cameras = new BoundedMap<string, Remembered[]>({
      name: 'sync-recent-pictures',
      maxEntries: limits.cameras,
      idleMs: Math.max(1, settings.windowMs),
      ...(limits.registry !== undefined ? { registry: limits.registry } : {}),
      ...(limits.logger !== undefined ? { logger: limits.logger } : {}),
    });
  }

  get enabled(): boolean {
    return this.settings.windowMs > 0;
  }

  /** The difference to the closest picture this one duplicates, or null when it is new. */
  match(camera: string, labels: readonly string[], print: Fingerprint, at: number): number | null {
    const key = labelsKey(labels);
    let closest: number | null = null;
    for (const seen of this.cameras.peek(camera) ?? []) {
      if (seen.labels !== key || at - seen.at > this.settings.windowMs) continue;
      const d = difference(seen.print, print);
      if (d <= this.settings.maxDifference && (closest === null || d < closest)) closest = d;
    }
    return closest;
  }

  remember(camera: string, labels: readonly string[], print: Fingerprint, at: number): void {
    const list = (this.cameras.get(camera) ?? []).filter((seen) => at - seen.at <= this.settings.windowMs);
    list.push({ labels: labelsKey(labels), print, at });
    if (list.length > this.perCamera) list.splice(0, list.length - this.perCamera);
    this.cameras.set(camera, list);
  }
}

function labelsKey(labels: readonly string[]): string {
  return [...new Set(labels)].sort().join('\n');
}

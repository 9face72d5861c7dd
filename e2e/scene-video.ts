import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';

const run = promisify(execFile);

/**
 * Videos of a counter for the selection bench (e2e/selection.bench.ts), in the style of
 * e2e/item-video.ts (the grey 640x480 counter, the 3D emoji of @lobehub/fluent-emoji-3d) but with
 * light temporal sensor noise (ffmpeg `noise=alls=6:allf=t`), so no two frames of a still scene
 * are byte-identical, as with a real camera. Every video begins and ends with an empty counter:
 * the lead-in covers the stack's start (sync subscribes last), and the tail lets whatever decides
 * "an event ended" see it end, and keeps the counter empty while the bench waits for uploads.
 */

/** One appearance of an object: the emoji `codepoint`, `size` px square, centred at (`x`, `y`) (fractions of the frame), from `from` to `to` s. */
export interface SceneItem {
  name: string;
  codepoint: string;
  /** What the default detector calls it (measured, see SCENE_ITEMS). */
  label: string;
  size: number;
  x: number;
  y: number;
  from: number;
  to: number;
}

export interface SceneVideo {
  path: string;
  fps: number;
  /** The appearances, in seconds of the video (lead-in included). */
  items: SceneItem[];
  /** When the last object leaves, s. */
  contentEnd: number;
  /** The whole file, s (capture loops it). */
  duration: number;
}

/**
 * The changing scene, in seconds after the lead-in: eight objects come and go at different places
 * and sizes, four pairs overlapping in time, the counter empty between the pairs. Each emoji was
 * chosen because the default detector (`centernet-coco`, a MobileNetV3 CenterNet) names it
 * rightly at a mid score, measured on noisy still frames like these at capture's JPEG quality:
 * tangerine "orange" 0.35-0.39 (0.44-0.47 without the noise), mobile phone "cell phone"
 * 0.41-0.49, hot beverage "cup" 0.55-0.58, laptop 0.72-0.76, amphora "vase" 0.42-0.55, teddy bear
 * 0.63-0.66, bagel "donut" 0.27-0.44, briefcase "suitcase" 0.44-0.54 (the bench prints what each
 * appearance scored through the stack). Orange, cup and donut are sold by the sample catalog
 * (scans); the others are not (unknown-item alerts, with a snapshot).
 */
export const SCENE_ITEMS: readonly SceneItem[] = [
  { name: 'tangerine', codepoint: '1f34a', label: 'orange', size: 260, x: 0.35, y: 0.5, from: 0, to: 16 },
  { name: 'mobile phone', codepoint: '1f4f1', label: 'cell phone', size: 260, x: 0.75, y: 0.45, from: 10, to: 28 },
  { name: 'hot beverage', codepoint: '2615', label: 'cup', size: 220, x: 0.3, y: 0.4, from: 34, to: 50 },
  { name: 'laptop', codepoint: '1f4bb', label: 'laptop', size: 220, x: 0.68, y: 0.58, from: 44, to: 60 },
  { name: 'amphora', codepoint: '1f3fa', label: 'vase', size: 240, x: 0.7, y: 0.55, from: 66, to: 80 },
  { name: 'teddy bear', codepoint: '1f9f8', label: 'teddy bear', size: 220, x: 0.28, y: 0.45, from: 74, to: 88 },
  { name: 'bagel', codepoint: '1f96f', label: 'donut', size: 260, x: 0.36, y: 0.5, from: 94, to: 108 },
  { name: 'briefcase', codepoint: '1f4bc', label: 'suitcase', size: 260, x: 0.74, y: 0.5, from: 102, to: 114 },
];
/** The scene's own length after the lead-in: the last object leaves at 114 s, then the counter stays empty. */
export const SCENE_SECONDS = 120;

const WIDTH = 640;
const HEIGHT = 480;
/** The source's own frame rate (a camera's, above capture's 5 fps, as e2e/item-video.ts). */
const FPS = 10;
/** ffmpeg's noise strength (0-100): a few grey levels, a still sensor's grain. */
const NOISE = 6;

function emojiDir(): string {
  const require = createRequire(import.meta.url);
  return join(require.resolve('@lobehub/fluent-emoji-3d/package.json'), '..', 'assets');
}

interface Segment {
  seconds: number;
  /** Times relative to the segment. */
  items: SceneItem[];
  /** The same clip this many times over (the static object: one short clip, not minutes of encoding). */
  repeat?: number;
}

/** One clip: the counter, the items overlaid in their time windows, then the noise (over the items too: it is the sensor's). */
async function renderClip(dir: string, name: string, segment: Segment): Promise<string> {
  const inputs: string[] = [];
  const steps: string[] = [];
  let last = '0';
  for (const [i, item] of segment.items.entries()) {
    const png = join(dir, `${name}-${i}.png`);
    await sharp(join(emojiDir(), `${item.codepoint}.webp`))
      .resize(item.size, item.size)
      .png()
      .toFile(png);
    inputs.push('-i', png);
    const x = Math.round(item.x * WIDTH - item.size / 2);
    const y = Math.round(item.y * HEIGHT - item.size / 2);
    // Half-open [from, to): a frame at `to` already shows the counter without it.
    steps.push(`[${last}][${i + 1}]overlay=x=${x}:y=${y}:enable='gte(t,${item.from})*lt(t,${item.to})'[v${i}]`);
    last = `v${i}`;
  }
  steps.push(`[${last}]noise=alls=${NOISE}:allf=t[out]`);
  const file = join(dir, `${name}.mp4`);
  await run('ffmpeg', [
    '-nostdin',
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `color=c=0x808080:size=${WIDTH}x${HEIGHT}:rate=${FPS}:duration=${segment.seconds}`,
    ...inputs,
    '-filter_complex',
    steps.join(';'),
    '-map',
    '[out]',
    // The codec and quality of e2e/item-video.ts; capture re-encodes to its own JPEG quality anyway.
    '-c:v',
    'mpeg4',
    '-q:v',
    '3',
    '-pix_fmt',
    'yuv420p',
    file,
  ]);
  return file;
}

/** The segments one after another, stream-copied (every clip starts on a key frame). */
async function renderSegments(dir: string, name: string, segments: Segment[]): Promise<string> {
  const lines: string[] = [];
  for (const [i, segment] of segments.entries()) {
    const clip = await renderClip(dir, `${name}-part${i}`, segment);
    for (let n = 0; n < (segment.repeat ?? 1); n++) lines.push(`file '${clip.replace(/'/g, "'\\''")}'`);
  }
  const list = join(dir, `${name}.txt`);
  await writeFile(list, `${lines.join('\n')}\n`);
  const file = join(dir, `${name}.mp4`);
  await run('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'concat', '-safe', '0', '-i', list, '-c', 'copy', file]);
  return file;
}

/**
 * The changing scene (SCENE_ITEMS) after `leadSeconds` of empty counter, then `tailSeconds` of
 * empty counter. Capture loops the file; the bench measures well before the loop comes back.
 */
export async function makeSceneVideo(dir: string, options: { leadSeconds: number; tailSeconds: number }): Promise<SceneVideo> {
  const lead = options.leadSeconds;
  const items = SCENE_ITEMS.map((item) => ({ ...item, from: item.from + lead, to: item.to + lead }));
  const path = await renderSegments(dir, 'scene', [
    { seconds: lead + SCENE_SECONDS, items },
    { seconds: options.tailSeconds, items: [] },
  ]);
  return { path, fps: FPS, items, contentEnd: Math.max(...items.map((i) => i.to)), duration: lead + SCENE_SECONDS + options.tailSeconds };
}

/**
 * One object still on the counter for `seconds` (a short clip of it repeated, so its noise repeats
 * every 10 s), between `leadSeconds` and `tailSeconds` of empty counter. A clip looped by capture
 * would never show the object leave; this one does, once, at the end.
 */
export async function makeStillVideo(
  dir: string,
  options: { seconds: number; leadSeconds: number; tailSeconds: number; item: Omit<SceneItem, 'from' | 'to'> },
): Promise<SceneVideo> {
  const clip = Math.min(10, options.seconds);
  const whole = Math.floor(options.seconds / clip);
  const rest = Math.round((options.seconds - whole * clip) * FPS) / FPS;
  const still = (seconds: number): Segment => ({ seconds, items: [{ ...options.item, from: 0, to: seconds }] });
  const segments: Segment[] = [
    { seconds: options.leadSeconds, items: [] },
    { ...still(clip), repeat: whole },
  ];
  if (rest > 0) segments.push(still(rest));
  segments.push({ seconds: options.tailSeconds, items: [] });
  const path = await renderSegments(dir, 'still', segments);
  const item = { ...options.item, from: options.leadSeconds, to: options.leadSeconds + options.seconds };
  return { path, fps: FPS, items: [item], contentEnd: item.to, duration: options.leadSeconds + options.seconds + options.tailSeconds };
}

/**
 * Whether a frame shows anything on the counter: a cell of a 32x24 thumbnail (the noise averages
 * out over its 20x20 pixels) strays from the counter's grey in any channel. Objects are large and
 * coloured or dark; the bench checks its clock against this.
 */
export async function showsSomething(jpeg: Buffer): Promise<boolean> {
  const { data, info } = await sharp(jpeg).resize(32, 24, { fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  for (let i = 0; i < data.length; i += info.channels) {
    if (Math.abs(data[i]! - 128) > 24 || Math.abs(data[i + 1]! - 128) > 24 || Math.abs(data[i + 2]! - 128) > 24) return true;
  }
  return false;
}

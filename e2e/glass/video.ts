import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';

const run = promisify(execFile);

export interface ItemVideo {
  path: string;
  fps: number;
  /** Frames of the empty counter at the start of each loop; the item is in frame `emptyFrames` onward. */
  emptyFrames: number;
  itemFrames: number;
  /** One loop, ms. */
  periodMs: number;
}

/**
 * The looping video the bench plays into capture: `emptySeconds` of an empty grey counter, then
 * the 3D tangerine emoji (which the default detector calls an orange) for `itemSeconds`, at `fps`.
 * Every frame is a key frame, so the first frame with the item shows it whole, not a predicted
 * frame half way there. Same scene as e2e/item-video.ts, at the bench's frame rate.
 */
export async function renderItemVideo(
  dir: string,
  options: { fps: number; emptySeconds: number; itemSeconds: number; codepoint?: string },
): Promise<ItemVideo> {
  const { fps } = options;
  const emptyFrames = Math.round(options.emptySeconds * fps);
  const itemFrames = Math.round(options.itemSeconds * fps);
  const require = createRequire(import.meta.url);
  const emojiDir = join(require.resolve('@lobehub/fluent-emoji-3d/package.json'), '..', 'assets');
  const overlay = join(dir, 'item.png');
  await sharp(join(emojiDir, `${options.codepoint ?? '1f34a'}.webp`))
    .resize(260, 260)
    .png()
    .toFile(overlay);
  const path = join(dir, 'glass-item.avi');
  const total = emptyFrames + itemFrames;
  await run('ffmpeg', [
    '-nostdin',
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `color=c=0x808080:size=640x480:rate=${fps}`,
    '-i',
    overlay,
    // Frame numbers, not times: the item is in frame `emptyFrames` exactly.
    '-filter_complex',
    `[0][1]overlay=x=(W-w)/2:y=(H-h)/2:enable='gte(n,${emptyFrames})'`,
    '-frames:v',
    String(total),
    // Intra-only MPEG-4 at q 3 as e2e/item-video.ts encodes (scored orange 0.40, apple 0.27 below
    // the catalog's 0.3 after capture's re-encoding; MJPEG at q 3 put the apple at 0.30).
    '-c:v',
    'mpeg4',
    '-q:v',
    '3',
    '-g',
    '1',
    '-pix_fmt',
    'yuv420p',
    path,
  ]);
  return { path, fps, emptyFrames, itemFrames, periodMs: (total * 1000) / fps };
}

/** Frame `index` of the video as a JPEG, through the same filters and quality as capture's output. */
export async function extractFrame(video: ItemVideo, index: number, filters: string[], qscale: number, out: string): Promise<string> {
  await run('ffmpeg', [
    '-nostdin',
    '-v',
    'error',
    '-y',
    '-i',
    video.path,
    '-vf',
    [`select=eq(n\\,${index})`, ...filters.filter((f) => !f.startsWith('fps='))].join(','),
    '-frames:v',
    '1',
    '-c:v',
    'mjpeg',
    '-q:v',
    String(qscale),
    out,
  ]);
  return out;
}

/**
 * Whether a frame shows the item: the middle of the picture is coloured (the grey counter has
 * no colour at all). The JPEG is decoded at 1/8 scale (shrink-on-load), about a millisecond.
 */
export async function showsItem(jpeg: Buffer): Promise<boolean> {
  const { data, info } = await sharp(jpeg).resize(16, 12, { fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let chroma = 0;
  let n = 0;
  for (let y = 4; y < 8; y++) {
    for (let x = 6; x < 10; x++) {
      const i = (y * info.width + x) * info.channels;
      const r = data[i]!;
      const g = data[i + 1]!;
      const b = data[i + 2]!;
      chroma += Math.max(r, g, b) - Math.min(r, g, b);
      n++;
    }
  }
  return chroma / n > 40;
}

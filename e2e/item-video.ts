import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';

const run = promisify(execFile);

/**
 * A looping video of a shopper's item: `emptySeconds` of an empty grey counter, then the 3D
 * tangerine emoji in the middle for `itemSeconds`. The default detector calls that tangerine an
 * orange (about 0.48), so the checkout's sample catalog sells it as one.
 */
export async function makeItemVideo(dir: string, options: { emptySeconds?: number; itemSeconds?: number; codepoint?: string } = {}): Promise<string> {
  const empty = options.emptySeconds ?? 2;
  const item = options.itemSeconds ?? 6;
  const require = createRequire(import.meta.url);
  const emojiDir = join(require.resolve('@lobehub/fluent-emoji-3d/package.json'), '..', 'assets');
  const overlay = join(dir, 'item.png');
  await sharp(join(emojiDir, `${options.codepoint ?? '1f34a'}.webp`))
    .resize(260, 260)
    .png()
    .toFile(overlay);
  const video = join(dir, 'item.mp4');
  const total = empty + item;
  await run('ffmpeg', [
    '-nostdin',
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `color=c=0x808080:size=640x480:rate=10:duration=${total}`,
    '-i',
    overlay,
    '-filter_complex',
    `[0][1]overlay=x=(W-w)/2:y=(H-h)/2:enable='gte(t,${empty})'`,
    '-c:v',
    'mpeg4',
    '-q:v',
    '3',
    '-pix_fmt',
    'yuv420p',
    video,
  ]);
  return video;
}

// `pnpm demo:video [dir]`: the same video for trying the checkout story on the dev stack.
if (import.meta.main) {
  const { mkdirSync } = await import('node:fs');
  const { resolve } = await import('node:path');
  const dir = resolve(process.argv[2] ?? '.data/demo');
  mkdirSync(dir, { recursive: true });
  const video = await makeItemVideo(dir);
  console.log(`wrote ${video}\nnow: SIGHTLINE_CAPTURE_SOURCE=${video} pnpm start`);
}

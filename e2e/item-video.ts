import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';

const run = promisify(execFile);

/** An item shown before the main one: the emoji `codepoint` for `seconds`, then an empty counter again. */
export interface FirstItem {
  codepoint: string;
  seconds: number;
}

/**
 * A looping video of a shopper's item: `emptySeconds` of an empty grey counter, then the 3D
 * tangerine emoji in the middle for `itemSeconds`. The default detector calls that tangerine an
 * orange (about 0.48), so the checkout's sample catalog sells it as one. With `first`, another
 * item comes and goes before it (the teddy bear 1f9f8 is a "teddy bear" at about 0.79, which the
 * sample catalog does not sell), each followed by `emptySeconds` of empty counter. `tailSeconds`
 * of empty counter end the video.
 */
export async function makeItemVideo(
  dir: string,
  options: { emptySeconds?: number; itemSeconds?: number; codepoint?: string; first?: FirstItem; tailSeconds?: number } = {},
): Promise<string> {
  const empty = options.emptySeconds ?? 2;
  const item = options.itemSeconds ?? 6;
  // An empty counter after the item, when the video must not show it again soon (it loops).
  const tail = options.tailSeconds ?? 0;
  const require = createRequire(import.meta.url);
  const emojiDir = join(require.resolve('@lobehub/fluent-emoji-3d/package.json'), '..', 'assets');
  const overlay = async (codepoint: string, name: string): Promise<string> => {
    const file = join(dir, name);
    await sharp(join(emojiDir, `${codepoint}.webp`))
      .resize(260, 260)
      .png()
      .toFile(file);
    return file;
  };
  const inputs = ['-i', await overlay(options.codepoint ?? '1f34a', 'item.png')];
  const centre = 'x=(W-w)/2:y=(H-h)/2';
  let filter: string;
  let total: number;
  if (options.first) {
    const { seconds } = options.first;
    inputs.push('-i', await overlay(options.first.codepoint, 'first-item.png'));
    const itemStart = empty + seconds + empty;
    total = itemStart + item + tail;
    filter = `[0][2]overlay=${centre}:enable='between(t,${empty},${empty + seconds})'[a];[a][1]overlay=${centre}:enable='between(t,${itemStart},${itemStart + item})'`;
  } else {
    total = empty + item + tail;
    filter = `[0][1]overlay=${centre}:enable='between(t,${empty},${empty + item})'`;
  }
  const video = join(dir, 'item.mp4');
  await run('ffmpeg', [
    '-nostdin',
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `color=c=0x808080:size=640x480:rate=10:duration=${total}`,
    ...inputs,
    '-filter_complex',
    filter,
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

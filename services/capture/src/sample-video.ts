import { execFile } from 'node:child_process';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

export const SAMPLE_FILE = 'sample.mp4';

/**
 * The default source: a six-second loop made by ffmpeg itself (testsrc2 with an orange square
 * gliding across it), so the stack shows moving content with no camera. MPEG-4 part 2 in MP4 is
 * encoded by every ffmpeg build (no libx264 needed), the bundled 4.1 one included.
 */
export const SAMPLE_GRAPH =
  'testsrc2=size=640x480:rate=15:duration=6[bg];color=c=0xff8800:size=120x120:rate=15:duration=6[box];' +
  "[bg][box]overlay=x='(W-w)*abs(sin(t*PI/6))':y='(H-h)*abs(sin(t*PI/3))':shortest=1";

function run(file: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 1024 * 1024 }, (err, _stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, stderr: String(stderr) });
    });
  });
}

/** True when ffmpeg decodes the whole file without an error. */
export async function isPlayableVideo(ffmpegPath: string, file: string): Promise<boolean> {
  try {
    if ((await stat(file)).size === 0) return false;
  } catch {
    return false;
  }
  const { code, stderr } = await run(ffmpegPath, ['-nostdin', '-v', 'error', '-i', file, '-f', 'null', '-'], 30_000);
  return code === 0 && stderr.trim() === '';
}

const verified = new Map<string, Promise<string>>();

/**
 * Returns the path of the sample video in `dataDir`, making it first when it is missing or does
 * not decode. Written to a temporary name and renamed, so a crash never leaves half a file.
 * Checked once per process; a file deleted later is made again.
 */
export function ensureSampleVideo(ffmpegPath: string, dataDir: string, log?: (msg: string) => void): Promise<string> {
  const file = path.join(dataDir, SAMPLE_FILE);
  const known = verified.get(file);
  if (known) {
    return known.then(
      async (p) => {
        try {
          await stat(p);
          return p;
        } catch {
          verified.delete(file);
          return ensureSampleVideo(ffmpegPath, dataDir, log);
        }
      },
      () => {
        verified.delete(file);
        return ensureSampleVideo(ffmpegPath, dataDir, log);
      },
    );
  }
  const made = (async () => {
    if (await isPlayableVideo(ffmpegPath, file)) return file;
    log?.(`generating the sample video ${file}`);
    await mkdir(dataDir, { recursive: true });
    const temp = `${file}.${process.pid}.tmp.mp4`;
    const { code, stderr } = await run(
      ffmpegPath,
      [
        '-nostdin',
        '-v',
        'error',
        '-y',
        '-f',
        'lavfi',
        '-i',
        SAMPLE_GRAPH,
        '-c:v',
        'mpeg4',
        '-q:v',
        '5',
        '-pix_fmt',
        'yuv420p',
        '-movflags',
        '+faststart',
        temp,
      ],
      60_000,
    );
    if (code !== 0) {
      await rm(temp, { force: true });
      throw new Error(`ffmpeg could not make the sample video (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    }
    await rename(temp, file);
    return file;
  })();
  verified.set(file, made);
  made.catch(() => verified.delete(file));
  return made;
}

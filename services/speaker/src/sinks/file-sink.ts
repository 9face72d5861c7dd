import { mkdir, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildWav } from '@sightline/schemas';
import { bytesForMs } from '../pcm.ts';
import { abortableDelay, SinkError, type AudioSink, type Clip, type ClipLabel, type PlayOptions, type Played } from './sink.ts';

export interface FileSinkOptions {
  dir: string;
  /** Oldest files are deleted beyond this many. */
  maxFiles: number;
  /** Oldest files are deleted beyond this many bytes in all. */
  maxBytes: number;
  /** Take as long as the clip lasts, like a loudspeaker (default), so queueing and cuts behave the same. */
  realtime?: boolean;
  now?: () => number;
}

/** `2025-11-22T05-04-12.345Z`: sorts by time as text, and is a valid file name everywhere. */
function stamp(at: number): string {
  return new Date(at).toISOString().replace(/:/g, '-');
}

function safePart(text: string): string {
  return text.replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 64) || 'x';
}

export function clipFileName(at: number, label: ClipLabel): string {
  return `${stamp(at)}_${safePart(label.lane)}_${safePart(label.kind)}_${safePart(label.id)}.wav`;
}

/**
 * A folder of WAVs, one per clip played, named `<time>_<lane>_<kind>_<id>.wav` so a listing is
 * in playing order. A cut clip is rewritten with only what was "played". For tests, demos, and
 * lanes whose audio is picked up by something else.
 */
export class FileSink implements AudioSink {
  readonly name = 'file';
  private readonly options: FileSinkOptions;
  private readonly now: () => number;

  constructor(options: FileSinkOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  async open(): Promise<void> {
    try {
      await mkdir(this.options.dir, { recursive: true });
    } catch (err) {
      throw new SinkError(this.name, `cannot create ${this.options.dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  }

  async play(clip: Clip, options: PlayOptions = {}): Promise<Played> {
    const startedAt = this.now();
    if (options.signal?.aborted) return { startedAt, endedAt: startedAt, interrupted: true };
    const file = path.join(this.options.dir, clipFileName(startedAt, clip.label));
    await this.write(file, clip.samples, clip);
    options.onStarted?.(startedAt);
    const interrupted = this.options.realtime === false ? false : await abortableDelay(clip.durationMs, options.signal);
    const endedAt = this.now();
    if (interrupted) {
      const played = Math.min(clip.samples.length, bytesForMs(endedAt - startedAt, clip.format));
      await this.write(file, clip.samples.subarray(0, played), clip);
    }
    await this.prune().catch(() => {});
    return { startedAt, endedAt, interrupted };
  }

  private async write(file: string, samples: Buffer, clip: Clip): Promise<void> {
    const partial = `${file}.partial`;
    try {
      await mkdir(this.options.dir, { recursive: true });
      await writeFile(partial, buildWav(samples, clip.format));
      await rename(partial, file);
    } catch (err) {
      throw new SinkError(this.name, `cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  }

  /** Deletes the oldest clips until both caps hold. */
  async prune(): Promise<void> {
    const names = (await readdir(this.options.dir)).filter((name) => name.endsWith('.wav')).sort();
    const sizes = await Promise.all(names.map(async (name) => (await stat(path.join(this.options.dir, name)).catch(() => null))?.size ?? 0));
    let count = names.length;
    let bytes = sizes.reduce((a, b) => a + b, 0);
    for (let i = 0; i < names.length && (count > this.options.maxFiles || bytes > this.options.maxBytes); i++) {
      await unlink(path.join(this.options.dir, names[i]!)).catch(() => {});
      count -= 1;
      bytes -= sizes[i]!;
    }
  }

  async close(): Promise<void> {}
}

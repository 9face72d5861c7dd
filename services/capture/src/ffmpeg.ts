import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import ffmpeg from 'fluent-ffmpeg';

export type FfmpegOrigin = 'FFMPEG_PATH' | 'system' | 'bundled';

export interface FfmpegBinary {
  path: string;
  origin: FfmpegOrigin;
}

function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `ffmpeg` on the PATH, like `which`. */
export function systemFfmpeg(searchPath: string | undefined = process.env['PATH']): string | null {
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, 'ffmpeg');
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

/** The static ffmpeg 4.1 shipped inside the @ffmpeg-installer npm package, if it is there. */
export function bundledFfmpeg(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const found = (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
    return isExecutableFile(found) ? found : null;
  } catch {
    return null;
  }
}

/**
 * FFMPEG_PATH when set, else the system ffmpeg (newer, and the one a distro keeps patched),
 * else the bundled binary, so a fresh clone runs with no apt step.
 */
export function selectFfmpeg(override: string | undefined, searchPath?: string): FfmpegBinary {
  if (override !== undefined) {
    if (!isExecutableFile(override)) throw new Error(`FFMPEG_PATH ${override} is not an executable file`);
    return { path: override, origin: 'FFMPEG_PATH' };
  }
  const system = systemFfmpeg(searchPath);
  if (system !== null) return { path: system, origin: 'system' };
  const bundled = bundledFfmpeg();
  if (bundled !== null) return { path: bundled, origin: 'bundled' };
  throw new Error('no ffmpeg found: install ffmpeg, set SIGHTLINE_CAPTURE_FFMPEG_PATH, or reinstall @ffmpeg-installer/ffmpeg');
}

/** What ffmpeg reads: the input (`-i`) and the options that go before it. */
export interface FfmpegInput {
  input: string;
  options: string[];
}

/** What ffmpeg writes to stdout: the video filter chain and the output options. */
export interface FfmpegOutput {
  filters: string[];
  options: string[];
}

export interface FfmpegRunOptions {
  ffmpegPath: string;
  input: FfmpegInput;
  output: FfmpegOutput;
  onData: (chunk: Buffer) => void;
  /** Called once with the ffmpeg pid when the process is up. */
  onStart?: (pid: number, commandLine: string) => void;
  onStderr?: (line: string) => void;
  /** Called exactly once when the process is gone; `error` is null on a clean exit. */
  onExit: (error: Error | null) => void;
}

export interface FfmpegProcess {
  /** The pid, once the process has started. */
  pid(): number | undefined;
  /** Kills ffmpeg (SIGKILL by default) and resolves once it has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Runs ffmpeg through fluent-ffmpeg with stdout streamed to `onData`. stdout is always read as
 * fast as it comes (the caller must not block), so ffmpeg never stalls on a full pipe.
 */
export function runFfmpeg(options: FfmpegRunOptions): FfmpegProcess {
  const command = ffmpeg({ stdoutLines: 20 })
    .setFfmpegPath(options.ffmpegPath)
    .input(options.input.input)
    .inputOptions(options.input.options)
    .videoFilters(options.output.filters)
    .outputOptions(['-nostdin', '-hide_banner', '-loglevel', 'error', ...options.output.options]);

  let exited = false;
  let pid: number | undefined;
  const waiters: Array<() => void> = [];
  const finish = (error: Error | null) => {
    if (exited) return;
    exited = true;
    options.onExit(error);
    for (const waiter of waiters.splice(0)) waiter();
  };

  command.on('start', (commandLine: string) => {
    const proc = (command as unknown as { ffmpegProc?: { pid?: number } }).ffmpegProc;
    pid = proc?.pid;
    if (pid !== undefined) options.onStart?.(pid, commandLine);
  });
  if (options.onStderr) command.on('stderr', options.onStderr);
  command.on('error', (err: Error) => finish(err));
  command.on('end', () => finish(null));

  const stdout = command.pipe();
  stdout.on('data', (chunk: Buffer) => options.onData(chunk));
  stdout.on('error', () => {});

  return {
    pid: () => pid,
    stop(signal: NodeJS.Signals = 'SIGKILL') {
      if (exited) return Promise.resolve();
      const done = new Promise<void>((resolve) => waiters.push(resolve));
      const proc = (command as unknown as { ffmpegProc?: { kill(signal: NodeJS.Signals): boolean } }).ffmpegProc;
      if (proc) proc.kill(signal);
      else {
        // Not spawned yet (fluent-ffmpeg checks capabilities first): kill it as soon as it starts.
        command.once('start', () => (command as unknown as { ffmpegProc?: { kill(signal: NodeJS.Signals): boolean } }).ffmpegProc?.kill(signal));
      }
      return done;
    },
  };
}

import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import type { PcmFormat } from '../pcm.ts';
import { LineTail, readLines } from './lines.ts';
import { pulseClientArgs } from './pulse-stream.ts';
import { SinkError, type AudioSink, type Clip, type PlayOptions, type Played } from './sink.ts';

export interface ProcessSinkOptions {
  name: string;
  command: string;
  /** Arguments for a clip of this format; the raw samples arrive on stdin. */
  args: (format: PcmFormat) => string[];
  /** A line on stderr that marks the real start; without one, the start is when the process runs. */
  startedLine?: RegExp;
  /** What to tell the operator when the command is missing. */
  missingHint: string;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  /** Extra time allowed beyond the clip's length before the player is killed as stuck. */
  slackMs?: number;
}

/**
 * A player process per clip (`paplay`, `aplay`): nothing is kept open between clips, so nothing
 * can go stale, at the price of starting a process (and a connection) for every clip. A cut
 * kills the process.
 */
export class ProcessSink implements AudioSink {
  readonly name: string;
  private readonly options: ProcessSinkOptions;
  private readonly now: () => number;
  private readonly running = new Set<ReturnType<typeof spawn>>();

  constructor(options: ProcessSinkOptions) {
    this.options = options;
    this.name = options.name;
    this.now = options.now ?? Date.now;
  }

  /**
   * Checks the output works: the command is there, and it accepts an empty clip (which opens
   * the device or connects to the server, and plays nothing).
   */
  async open(): Promise<void> {
    const { command } = this.options;
    const env = this.options.env ?? process.env;
    const candidates = command.includes('/')
      ? [command]
      : (env.PATH ?? '')
          .split(':')
          .filter(Boolean)
          .map((dir) => path.join(dir, command));
    let found = false;
    for (const candidate of candidates) {
      try {
        await access(candidate, constants.X_OK);
        found = true;
        break;
      } catch {
        // try the next folder of the PATH
      }
    }
    if (!found) throw new SinkError(this.name, `${command} not found: ${this.options.missingHint}`);
    await this.play({ samples: Buffer.alloc(0), format: { sampleRate: 22050, channels: 1 }, durationMs: 0, label: { lane: '-', kind: 'probe', id: '-' } });
  }

  play(clip: Clip, options: PlayOptions = {}): Promise<Played> {
    const { signal } = options;
    const { command } = this.options;
    return new Promise<Played>((resolve, reject) => {
      const requestedAt = this.now();
      if (signal?.aborted) return resolve({ startedAt: requestedAt, endedAt: requestedAt, interrupted: true });
      const child = spawn(command, this.options.args(clip.format), { env: this.options.env ?? process.env, stdio: ['pipe', 'ignore', 'pipe'] });
      this.running.add(child);
      const tail = new LineTail();
      let startedAt: number | null = null;
      let interrupted = false;
      let failure: SinkError | null = null;
      const markStarted = (at: number) => {
        if (startedAt !== null) return;
        startedAt = at;
        options.onStarted?.(at);
      };
      const onAbort = () => {
        interrupted = true;
        child.kill('SIGKILL');
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const stuck = setTimeout(
        () => {
          failure = new SinkError(
            this.name,
            `${command} still running ${clip.durationMs + (this.options.slackMs ?? 5000)} ms after a ${Math.round(clip.durationMs)} ms clip: killed`,
          );
          child.kill('SIGKILL');
        },
        clip.durationMs + (this.options.slackMs ?? 5000),
      );
      child.on('spawn', () => {
        if (!this.options.startedLine) markStarted(this.now());
      });
      readLines(child.stderr, (line) => {
        if (line.startsWith('Time:')) return;
        if (this.options.startedLine?.test(line)) markStarted(this.now());
        else tail.push(line);
      });
      child.stdin.on('error', () => {});
      const settle = (err: SinkError | null) => {
        clearTimeout(stuck);
        signal?.removeEventListener('abort', onAbort);
        this.running.delete(child);
        const endedAt = this.now();
        if (err) return reject(err);
        resolve({ startedAt: startedAt ?? endedAt, endedAt, interrupted });
      };
      child.on('error', (err: NodeJS.ErrnoException) => {
        const why = err.code === 'ENOENT' ? `${command} not found: ${this.options.missingHint}` : `${command} failed to start: ${err.message}`;
        settle(new SinkError(this.name, why, { cause: err }));
      });
      child.on('close', (code, exitSignal) => {
        if (failure) return settle(failure);
        if (interrupted) return settle(null);
        if (code === 0) return settle(null);
        settle(new SinkError(this.name, `${command} exited (${exitSignal ?? `code ${code}`}): ${tail.text() || 'no message'}`));
      });
      child.stdin.end(clip.samples);
    });
  }

  async close(): Promise<void> {
    for (const child of this.running) child.kill('SIGKILL');
  }
}

export interface PaplayOptions {
  command?: string;
  device?: string | undefined;
  server?: string | undefined;
  latencyMs: number;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

/** PulseAudio with one `paplay` per clip; the server's "Stream started." marks the start. */
export function createPaplaySink(options: PaplayOptions): ProcessSink {
  return new ProcessSink({
    name: 'pulse-paplay',
    command: options.command ?? 'paplay',
    args: (format) => ['--verbose', ...pulseClientArgs(options, format)],
    startedLine: /^Stream started/,
    missingHint: 'install pulseaudio-utils',
    ...(options.env ? { env: options.env } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
}

export interface AplayOptions {
  command?: string;
  /** ALSA PCM name, e.g. `default`, `plughw:1,0`. */
  device: string;
  /** Size of ALSA's buffer in ms (aplay --buffer-time). */
  bufferMs: number;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

export function aplayArgs(options: AplayOptions, format: PcmFormat): string[] {
  return [
    '-q',
    '-D',
    options.device,
    '-t',
    'raw',
    '-f',
    'S16_LE',
    '-r',
    String(format.sampleRate),
    '-c',
    String(format.channels),
    `--buffer-time=${Math.round(options.bufferMs * 1000)}`,
  ];
}

/**
 * ALSA with one `aplay` per clip. aplay does not say when the device starts, so the start is when
 * the process runs (early by aplay's set-up time, a few ms to open a local device).
 */
export function createAlsaSink(options: AplayOptions): ProcessSink {
  return new ProcessSink({
    name: 'alsa',
    command: options.command ?? 'aplay',
    args: (format) => aplayArgs(options, format),
    missingHint: 'install alsa-utils',
    ...(options.env ? { env: options.env } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
}

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { convertPcm, silence, type PcmFormat } from '../pcm.ts';
import { LineTail, readLines } from './lines.ts';
import { SinkError, type AudioSink, type Clip, type PlayOptions, type Played } from './sink.ts';

export interface PulseOptions {
  /** pacat/paplay to run (default from the PATH). */
  command?: string;
  /** PulseAudio sink (device) name; the server's default when absent. */
  device?: string | undefined;
  /** Server address (`unix:/path`, `tcp:host`); PULSE_SERVER or the user's server when absent. */
  server?: string | undefined;
  /** Target buffer length: lower starts sooner and cuts sooner, too low crackles. */
  latencyMs: number;
  /** How long the server may take to start a clip before it counts as failed. */
  startTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

/**
 * How far from `started + the clip's length` the underrun that ends a clip is expected. Measured:
 * a 70 ms clip's underrun is reported 60-62 ms after its "started" (both are stamped when pacat's
 * messages arrive). Earlier, it is a hiccup mid-clip; later, pacat itself may have stalled, and
 * then the underrun is only reported once it runs again: either way, what pacat still holds may
 * be shorter than the pre-buffer and would wait for the next clip.
 */
const END_EARLY_MS = 25;
const END_LATE_MS = 25;

/** What `pacat` and `paplay` both take: raw 16-bit PCM of `format`, the buffer, the sink and server. */
export function pulseClientArgs(options: Pick<PulseOptions, 'latencyMs' | 'device' | 'server'>, format: PcmFormat): string[] {
  const args = [
    '--raw',
    '--format=s16le',
    `--rate=${format.sampleRate}`,
    `--channels=${format.channels}`,
    `--latency-msec=${options.latencyMs}`,
    '--client-name=sightline-speaker',
  ];
  if (options.device !== undefined) args.push(`--device=${options.device}`);
  if (options.server !== undefined) args.push(`--server=${options.server}`);
  return args;
}

export function pulseArgs(options: PulseOptions, format: PcmFormat, verbose = true): string[] {
  return [...(verbose ? ['--verbose'] : []), '--playback', ...pulseClientArgs(options, format), '--stream-name=announcements'];
}

interface Stream {
  child: ChildProcessWithoutNullStreams;
  events: EventEmitter;
  ready: Promise<void>;
  alive: boolean;
  tail: LineTail;
}

/**
 * PulseAudio through one long-lived `pacat --raw` stream: the connection and stream are set up
 * once (at `open`, or again after a failure or a cut), so a clip only has to be written. pacat's
 * verbose messages come from the server: "Stream started." when the first sample is played and
 * "Stream underrun." when the buffer ran dry, i.e. the clip has ended. A cut kills pacat, which
 * makes the server drop what is still buffered; a fresh stream is opened at once for the next clip.
 */
export class PulseStreamSink implements AudioSink {
  readonly name = 'pulse';
  private readonly options: PulseOptions;
  private readonly format: PcmFormat;
  private readonly now: () => number;
  private stream: Stream | null = null;
  private closed = false;

  constructor(options: PulseOptions, format: PcmFormat = { sampleRate: 22050, channels: 1 }) {
    this.options = options;
    this.format = format;
    this.now = options.now ?? Date.now;
  }

  async open(): Promise<void> {
    await this.ensureStream();
  }

  private ensureStream(): Promise<void> {
    if (this.closed) return Promise.reject(new SinkError(this.name, 'closed'));
    if (this.stream?.alive) return this.stream.ready;
    const command = this.options.command ?? 'pacat';
    const child = spawn(command, pulseArgs(this.options, this.format), { env: this.options.env ?? process.env, stdio: 'pipe' });
    const events = new EventEmitter();
    const tail = new LineTail();
    const stream: Stream = { child, events, alive: true, tail, ready: Promise.resolve() };
    stream.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new SinkError(this.name, `no stream after ${this.startTimeoutMs()} ms (${tail.text() || 'pacat said nothing'})`));
        this.kill(stream);
      }, this.startTimeoutMs());
      events.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
      events.once('gone', (err: SinkError) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    stream.ready.catch(() => {});
    child.stdin.on('error', () => {});
    child.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' ? `${command} not found: install pulseaudio-utils` : err.message;
      this.gone(stream, new SinkError(this.name, why, { cause: err }));
    });
    child.on('exit', (code, signal) => {
      this.gone(stream, new SinkError(this.name, `pacat exited (${signal ?? `code ${code}`}): ${tail.text() || 'no message'}`));
    });
    readLines(child.stderr, (line) => {
      if (line.startsWith('Time:')) return;
      if (line.startsWith('Stream successfully created')) events.emit('ready');
      else if (line.startsWith('Stream started')) events.emit('started', this.now());
      else if (line.startsWith('Stream underrun')) events.emit('underrun', this.now());
      else tail.push(line);
    });
    this.stream = stream;
    return stream.ready;
  }

  private startTimeoutMs(): number {
    return this.options.startTimeoutMs ?? 3000;
  }

  private gone(stream: Stream, err: SinkError): void {
    if (!stream.alive) return;
    stream.alive = false;
    if (this.stream === stream) this.stream = null;
    stream.events.emit('gone', err);
  }

  private kill(stream: Stream): void {
    stream.child.kill('SIGKILL');
    this.gone(stream, new SinkError(this.name, 'stream closed'));
  }

  async play(clip: Clip, options: PlayOptions = {}): Promise<Played> {
    const { signal } = options;
    await this.ensureStream();
    const stream = this.stream;
    if (!stream) throw new SinkError(this.name, 'stream closed while opening');
    // No silence after a clip, so the next one (the sentence after its earcon) follows at once.
    // The server starts (and restarts, after an underrun) a stream only on a full pre-buffer
    // (half the latency, measured), so a clip shorter than the buffer is padded to its length, and a
    // clip interrupted by an underrun mid-way gets a buffer of silence then (see onUnderrun).
    const padMs = Math.max(0, this.options.latencyMs - clip.durationMs);
    const samples = Buffer.concat([convertPcm(clip.samples, clip.format, this.format), silence(padMs, this.format)]);
    const durationMs = clip.durationMs;
    const startTimeoutMs = this.startTimeoutMs();
    return new Promise<Played>((resolve, reject) => {
      let startedAt: number | null = null;
      let timer: NodeJS.Timeout | undefined;
      const cleanup = () => {
        clearTimeout(timer);
        stream.events.off('started', onStarted);
        stream.events.off('underrun', onUnderrun);
        stream.events.off('gone', onGone);
        signal?.removeEventListener('abort', onAbort);
      };
      const finish = (interrupted: boolean) => {
        cleanup();
        const endedAt = this.now();
        resolve({ startedAt: startedAt ?? endedAt, endedAt, interrupted });
      };
      const onStarted = (at: number) => {
        if (startedAt !== null) return;
        startedAt = at;
        options.onStarted?.(at);
        clearTimeout(timer);
        // The server says when the buffer runs dry; this only guards against never hearing it.
        timer = setTimeout(() => finish(false), durationMs + padMs + 3000);
      };
      let hiccupPadMs = 0;
      const onUnderrun = (at: number) => {
        if (startedAt === null) return;
        const early = at < startedAt + durationMs - END_EARLY_MS;
        const late = at > startedAt + durationMs + padMs + END_LATE_MS;
        if (!early && (!late || hiccupPadMs > 0)) return finish(false);
        // A buffer of silence lets out whatever is left of the clip; its end is the next underrun.
        hiccupPadMs += this.options.latencyMs;
        stream.child.stdin.write(silence(this.options.latencyMs, this.format));
        clearTimeout(timer);
        timer = setTimeout(() => finish(false), durationMs + padMs + hiccupPadMs + 3000);
      };
      const onGone = (err: SinkError) => {
        cleanup();
        reject(err);
      };
      const onAbort = () => {
        cleanup();
        this.kill(stream);
        finish(true);
        if (!this.closed) this.ensureStream().catch(() => {});
      };
      if (signal?.aborted) {
        cleanup();
        const at = this.now();
        return resolve({ startedAt: at, endedAt: at, interrupted: true });
      }
      stream.events.on('started', onStarted);
      stream.events.on('underrun', onUnderrun);
      stream.events.once('gone', onGone);
      signal?.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(() => {
        cleanup();
        this.kill(stream);
        reject(new SinkError(this.name, `the server did not start the clip within ${startTimeoutMs} ms`));
      }, startTimeoutMs);
      stream.child.stdin.write(samples);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const stream = this.stream;
    if (!stream) return;
    const exited = new Promise<void>((resolve) => stream.child.once('exit', () => resolve()));
    this.kill(stream);
    if (stream.child.pid !== undefined && stream.child.exitCode === null && stream.child.signalCode === null) {
      await Promise.race([exited, new Promise<void>((resolve) => setTimeout(resolve, 1000).unref())]);
    }
  }
}

import type { Logger } from '@sightline/kit';
import { MAX_FRAME_BYTES, toPlainText, type FrameMeta, type JpegHeader } from '@sightline/schemas';
import type { CameraConfig } from './config.ts';
import { runFfmpeg, type FfmpegInput, type FfmpegOutput, type FfmpegProcess } from './ffmpeg.ts';
import { JpegSplitter } from './jpeg-splitter.ts';
import type { CaptureMetrics, DropReason } from './metrics.ts';
import { describeSource } from './sources.ts';
import { FrameRate } from './status.ts';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** A run that delivered frames for this long resets the backoff. */
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, resetAfterMs: 30_000 };

/** Where frames go: the bus in the app, anything in a test. */
export interface FramePublisher {
  connected(): boolean;
  /** Resolves with the bytes published. `header`: the JPEG's header as the splitter read it. */
  publish(camera: string, jpeg: Buffer, meta: FrameMeta, header: JpegHeader): Promise<number>;
}

export interface CameraOptions {
  config: CameraConfig;
  ffmpegPath: string;
  /** What ffmpeg reads, worked out at each start (the sample video is made again if it went). */
  input: () => Promise<FfmpegInput>;
  output: FfmpegOutput;
  publisher: FramePublisher;
  /** Called after the camera's state, reason or frame size changed. */
  onChange?: (camera: Camera) => void;
  metrics: CaptureMetrics;
  logger: Logger;
  now: () => number;
  backoff: BackoffOptions;
  /** No frame for this long means the source stalled: ffmpeg is killed and restarted. */
  stallMs: number;
  maxFrameBytes?: number;
}

export type CameraState = 'stopped' | 'starting' | 'online' | 'offline';

export interface CameraReport {
  camera: string;
  source: string;
  state: CameraState;
  online: boolean;
  /** Why it is offline (null while online). */
  reason: string | null;
  /** When it went online, or offline (starting and stopped count as offline). */
  since: number;
  /** Frames published per second, lately. */
  fps: number;
  /** Size of the last frame (the configured size before the first). */
  width: number;
  height: number;
  pid: number | null;
  restarts: number;
  /** The seq the next published frame gets. */
  nextSeq: number;
  lastFrameAt: number | null;
  /** Delay before the next restart while offline. */
  retryInMs: number | null;
}

interface PendingFrame {
  jpeg: Buffer;
  header: JpegHeader;
  capturedAt: number;
}

/**
 * One camera: runs ffmpeg, splits its MJPEG output, stamps and publishes frames. When ffmpeg
 * exits or stalls the camera goes offline and ffmpeg is restarted with exponential backoff.
 * Publishing never holds frames back from ffmpeg: one frame in flight, and one waiting which a
 * newer frame replaces (latest wins); nothing is queued while the broker is away.
 */
export class Camera {
  readonly id: string;
  readonly #o: CameraOptions;
  readonly #log: Logger;
  #state: CameraState = 'stopped';
  #reason: string | null = 'not started';
  #proc: FfmpegProcess | null = null;
  #splitter: JpegSplitter | null = null;
  #stopped = true;
  #seq = 0;
  #restarts = 0;
  #failures = 0;
  #runStartedAt = 0;
  #onlineSince: number | null = null;
  /** When the camera last went online or offline. */
  #since: number;
  #lastFrameAt: number | null = null;
  #width: number;
  #height: number;
  readonly #rate: FrameRate;
  #retryTimer: NodeJS.Timeout | null = null;
  #retryInMs: number | null = null;
  #watchdog: NodeJS.Timeout | null = null;
  #stallKill = false;
  #inFlight = false;
  #pending: PendingFrame | null = null;
  #stderr: string[] = [];
  #launching: Promise<void> | null = null;

  constructor(options: CameraOptions) {
    this.#o = options;
    this.id = options.config.id;
    this.#log = options.logger.child({ module: 'camera', camera: options.config.id });
    this.#since = options.now();
    this.#width = options.config.width;
    this.#height = options.config.height;
    this.#rate = new FrameRate(options.config.fps);
  }

  get online(): boolean {
    return this.#state === 'online';
  }

  get lastFrameAt(): number | null {
    return this.#lastFrameAt;
  }

  status(): CameraReport {
    return {
      camera: this.id,
      source: describeSource(this.#o.config.source),
      state: this.#state,
      online: this.#state === 'online',
      reason: this.#state === 'online' ? null : this.#reason,
      since: this.#since,
      fps: this.#state === 'online' ? this.#rate.perSecond(this.#o.now()) : 0,
      width: this.#width,
      height: this.#height,
      pid: this.#proc?.pid() ?? null,
      restarts: this.#restarts,
      nextSeq: this.#seq,
      lastFrameAt: this.#lastFrameAt,
      retryInMs: this.#retryInMs,
    };
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#reason = 'starting';
    this.#since = this.#o.now();
    this.#o.metrics.online.set({ camera: this.id }, 0);
    this.#log.info(
      {
        source: describeSource(this.#o.config.source),
        fps: this.#o.config.fps,
        size: `${this.#o.config.width}x${this.#o.config.height}`,
        motion: this.#o.config.motion,
      },
      'camera starting',
    );
    this.#launch();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#retryInMs = null;
    this.#stopWatchdog();
    await this.#launching;
    await this.#proc?.stop();
    this.#proc = null;
    this.#pending = null;
    if (this.#state === 'online') this.#since = this.#o.now();
    this.#state = 'stopped';
    this.#reason = 'stopped';
    this.#rate.reset();
    this.#o.metrics.online.set({ camera: this.id }, 0);
    this.#o.onChange?.(this);
  }

  #launch(): void {
    this.#launching = this.#spawn().finally(() => (this.#launching = null));
  }

  async #spawn(): Promise<void> {
    if (this.#stopped) return;
    this.#state = 'starting';
    this.#retryInMs = null;
    this.#runStartedAt = this.#o.now();
    this.#onlineSince = null;
    this.#stderr = [];
    this.#o.onChange?.(this);
    let input: FfmpegInput;
    try {
      input = await this.#o.input();
    } catch (err) {
      this.#exited(err as Error);
      return;
    }
    if (this.#stopped) return;
    const splitter = new JpegSplitter({
      maxBytes: this.#o.maxFrameBytes ?? MAX_FRAME_BYTES,
      onFrame: (jpeg, header) => this.#onFrame(jpeg, header),
      onDrop: (reason, bytes, detail) => {
        this.#o.metrics.dropped.inc({ camera: this.id, reason });
        this.#o.metrics.skippedBytes.inc({ camera: this.id }, bytes);
        this.#log.warn({ reason, bytes, detail }, 'dropped bad ffmpeg output');
      },
    });
    this.#splitter = splitter;
    this.#stallKill = false;
    this.#proc = runFfmpeg({
      ffmpegPath: this.#o.ffmpegPath,
      input,
      output: this.#o.output,
      onData: (chunk) => splitter.push(chunk),
      onStart: (pid, commandLine) => this.#log.debug({ pid, commandLine }, 'ffmpeg started'),
      onStderr: (line) => {
        this.#stderr.push(line);
        if (this.#stderr.length > 8) this.#stderr.shift();
      },
      onExit: (err) => {
        splitter.end();
        this.#exited(err);
      },
    });
    this.#startWatchdog();
  }

  #startWatchdog(): void {
    this.#stopWatchdog();
    const every = Math.max(50, Math.min(1000, this.#o.stallMs / 4));
    this.#watchdog = setInterval(() => {
      const lastActivity = Math.max(this.#runStartedAt, this.#lastFrameAt ?? 0);
      if (this.#o.now() - lastActivity < this.#o.stallMs || this.#proc === null || this.#stallKill) return;
      this.#stallKill = true;
      this.#log.warn({ stallMs: this.#o.stallMs }, 'no frame from ffmpeg in time: the source stalled, killing ffmpeg');
      this.#proc.stop().catch((err: unknown) => this.#log.error({ err }, 'cannot stop the stalled ffmpeg'));
    }, every);
    this.#watchdog.unref();
  }

  #stopWatchdog(): void {
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#watchdog = null;
  }

  #exited(err: Error | null): void {
    this.#stopWatchdog();
    this.#proc = null;
    this.#splitter = null;
    if (this.#stopped) return;
    const now = this.#o.now();
    const reason = this.#stallKill ? `stalled: no frame for ${Math.round(this.#o.stallMs / 100) / 10} s` : err ? oneLine(err.message) : 'ffmpeg ended';
    const healthy = this.#onlineSince !== null && now - this.#onlineSince >= this.#o.backoff.resetAfterMs;
    if (healthy) this.#failures = 0;
    const delay = Math.min(this.#o.backoff.maxMs, this.#o.backoff.initialMs * 2 ** this.#failures);
    this.#failures = Math.min(this.#failures + 1, 30);
    this.#setOffline(reason);
    this.#log.warn({ reason, retryInMs: delay, stderr: this.#stderr.length > 0 ? this.#stderr : undefined }, 'camera offline, restarting ffmpeg after a pause');
    this.#retryInMs = delay;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.#stopped) return;
      this.#restarts += 1;
      this.#o.metrics.restarts.inc({ camera: this.id });
      this.#launch();
    }, delay);
  }

  #setOffline(reason: string): void {
    const wasOnline = this.#state === 'online';
    this.#state = 'offline';
    this.#reason = reason;
    this.#onlineSince = null;
    if (wasOnline) this.#since = this.#o.now();
    this.#rate.reset();
    this.#o.metrics.online.set({ camera: this.id }, 0);
    if (wasOnline) this.#log.warn({ reason }, 'camera offline');
    this.#o.onChange?.(this);
  }

  #onFrame(jpeg: Buffer, header: JpegHeader): void {
    const capturedAt = this.#o.now();
    this.#lastFrameAt = capturedAt;
    const resized = header.width !== this.#width || header.height !== this.#height;
    this.#width = header.width;
    this.#height = header.height;
    if (this.#state !== 'online') {
      this.#state = 'online';
      this.#reason = null;
      this.#onlineSince = capturedAt;
      this.#since = capturedAt;
      this.#o.metrics.online.set({ camera: this.id }, 1);
      this.#log.info({ pid: this.#proc?.pid() }, 'camera online');
      this.#o.onChange?.(this);
    } else if (resized) {
      this.#o.onChange?.(this);
    }
    if (!this.#o.publisher.connected()) return this.#drop('disconnected');
    const frame = { jpeg, header, capturedAt };
    if (this.#inFlight) {
      if (this.#pending) this.#drop('busy');
      this.#pending = frame;
      return;
    }
    this.#send(frame);
  }

  #drop(reason: DropReason): void {
    this.#o.metrics.dropped.inc({ camera: this.id, reason });
  }

  #send(frame: PendingFrame): void {
    const meta: FrameMeta = { camera: this.id, seq: this.#seq, capturedAt: frame.capturedAt, width: frame.header.width, height: frame.header.height };
    this.#inFlight = true;
    this.#o.publisher
      .publish(this.id, frame.jpeg, meta, frame.header)
      .then(
        (bytes) => {
          // seq only advances for frames that went out, so subscribers see it grow by exactly 1.
          this.#seq += 1;
          this.#rate.record(this.#o.now());
          this.#o.metrics.published.inc({ camera: this.id });
          this.#o.metrics.bytes.inc({ camera: this.id }, bytes);
        },
        (err: unknown) => {
          this.#drop('disconnected');
          this.#log.debug({ err }, 'publish failed');
        },
      )
      .finally(() => {
        this.#inFlight = false;
        const next = this.#pending;
        this.#pending = null;
        if (next === null || this.#stopped) return;
        if (!this.#o.publisher.connected()) return this.#drop('disconnected');
        this.#send(next);
      });
  }
}

/** A reason fit for a log line and the status message: one line, no control or bidi characters. */
/** An error as one line of plain text (the shared rule), for the camera's status. */
function oneLine(text: string): string {
  return toPlainText(text, 300) || 'unknown';
}

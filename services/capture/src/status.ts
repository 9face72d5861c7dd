import type { Logger } from '@sightline/kit';
import type { CameraStatus as CameraStatusMessage } from '@sightline/schemas';
import type { Camera } from './camera.ts';

/**
 * Frames per second from the times frames went out, over a sliding window: the rate between the
 * first and the last frame in it, so a window that is not yet full (just online) is not read low.
 */
export class FrameRate {
  readonly #windowMs: number;
  /** Times in the window, oldest first; at most `#cap` of them. */
  #times: number[] = [];
  readonly #cap: number;

  /** `fps`: the configured rate; the window holds at least three of its frames. */
  constructor(fps: number, windowMs = 10_000) {
    this.#windowMs = Math.max(windowMs, 3000 / fps);
    // 60 fps (the highest configurable) over the window, with room for bursts.
    this.#cap = Math.ceil((this.#windowMs / 1000) * 120);
  }

  record(at: number): void {
    this.#times.push(at);
    if (this.#times.length > this.#cap) this.#times.shift();
  }

  perSecond(now: number): number {
    while (this.#times.length > 0 && this.#times[0]! <= now - this.#windowMs) this.#times.shift();
    const n = this.#times.length;
    if (n < 2) return 0;
    const span = this.#times[n - 1]! - this.#times[0]!;
    return span <= 0 ? 0 : Math.round(((n - 1) / (span / 1000)) * 100) / 100;
  }

  reset(): void {
    this.#times = [];
  }
}

/** A rate that moved by more than this share of the last published one is published again. */
const FPS_CHANGE = 0.1;
/** How often the rates are looked at. */
const CHECK_MS = 1000;

export interface StatusReporterOptions {
  cameras: readonly Camera[];
  /** Resolves once the broker has the status (QoS 1), rejects when it could not be sent. */
  publish: (status: CameraStatusMessage) => Promise<unknown>;
  connected: () => boolean;
  /** An unchanged status is published again this often, with its fresh rate and time. */
  heartbeatMs: number;
  now: () => number;
  logger: Logger;
}

/**
 * Publishes `cameras/<camera>/status` (retained): on every change of state, reason or size, when
 * the rate moves by more than 10 %, at each heartbeat, for every camera on each (re)connect (a
 * consumer forgets the statuses of a capture that went offline), and `offline` on stop.
 */
export class StatusReporter {
  readonly #o: StatusReporterOptions;
  readonly #log: Logger;
  /** The last status sent per configured camera (their number is capped by the config). */
  readonly #sent = new Map<string, CameraStatusMessage>();
  readonly #sending = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | null = null;

  constructor(options: StatusReporterOptions) {
    this.#o = options;
    this.#log = options.logger.child({ module: 'camera-status' });
  }

  start(): void {
    this.#timer = setInterval(() => {
      for (const camera of this.#o.cameras) this.changed(camera);
    }, CHECK_MS);
    this.#timer.unref();
  }

  /** A camera may have changed: its status goes out when it differs from the one last sent. */
  changed(camera: Camera): void {
    if (!this.#o.connected()) return;
    const status = statusMessage(camera, this.#o.now());
    if (!this.#due(this.#sent.get(camera.id), status)) return;
    // A failure is logged by #send and retried at the next check.
    const done = (): void => {
      this.#sending.delete(sending);
    };
    const sending: Promise<void> = this.#send(status).then(done, done);
    this.#sending.add(sending);
  }

  /** Every camera's status again, on each (re)connect. */
  republish(): void {
    this.#sent.clear();
    for (const camera of this.#o.cameras) this.changed(camera);
  }

  /** Once the cameras are stopped: their final statuses go out, waited for at most `timeoutMs`. */
  async stop(timeoutMs = 2000): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    for (const camera of this.#o.cameras) this.changed(camera);
    await Promise.race([Promise.allSettled([...this.#sending]), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
  }

  #due(last: CameraStatusMessage | undefined, next: CameraStatusMessage): boolean {
    if (last === undefined) return true;
    if (last.state !== next.state || last.reason !== next.reason || last.width !== next.width || last.height !== next.height) return true;
    if (Math.abs(next.fps - last.fps) > FPS_CHANGE * Math.max(last.fps, next.fps)) return true;
    return next.at - last.at >= this.#o.heartbeatMs;
  }

  async #send(status: CameraStatusMessage): Promise<void> {
    this.#sent.set(status.camera, status);
    try {
      await this.#o.publish(status);
    } catch (err) {
      // Sent again at the next check (or on reconnect).
      if (this.#sent.get(status.camera) === status) this.#sent.delete(status.camera);
      this.#log.debug({ err, camera: status.camera }, 'camera status not published');
      throw err;
    }
  }
}

/** A camera's status as it goes on the bus: online while it delivers frames, offline with why otherwise. */
export function statusMessage(camera: Camera, now: number): CameraStatusMessage {
  const s = camera.status();
  const base = { camera: s.camera, fps: s.online ? s.fps : 0, width: s.width, height: s.height, since: s.since, at: now };
  return s.online ? { ...base, state: 'online' } : { ...base, state: 'offline', reason: s.reason ?? s.state };
}

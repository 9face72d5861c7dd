import type { PcmFormat } from '../pcm.ts';

/** What is being played, for sinks that keep or name what they play (the file sink). */
export interface ClipLabel {
  lane: string;
  /** `earcon`, `speech`, `fallback`, or the announced source kind. */
  kind: string;
  id: string;
}

export interface Clip {
  /** Signed 16-bit little-endian PCM, interleaved. */
  samples: Buffer;
  format: PcmFormat;
  durationMs: number;
  label: ClipLabel;
}

export interface PlayOptions {
  /** Aborting stops the clip as soon as the output allows (kill or flush). */
  signal?: AbortSignal;
  /** Called once, when the first sample actually leaves (as far as the output can tell). */
  onStarted?: (at: number) => void;
}

export interface Played {
  /** Epoch ms the first sample went out. */
  startedAt: number;
  /** Epoch ms the last sample went out, or the clip was cut. */
  endedAt: number;
  interrupted: boolean;
}

/** Why a clip did not play: the output is missing, refused it, or went away. */
export class SinkError extends Error {
  readonly sink: string;
  constructor(sink: string, message: string, options?: { cause?: unknown }) {
    super(`${sink}: ${message}`, options);
    this.name = 'SinkError';
    this.sink = sink;
  }
}

/**
 * One audio output. `play` resolves when the clip has finished or was cut, and rejects with a
 * SinkError when it could not be played; one failure never poisons the next `play`, which tries
 * again from scratch. Clips are played one at a time: the caller waits for one before the next.
 */
export interface AudioSink {
  readonly name: string;
  /** Optional warm-up (open a stream, check the device), so the first clip starts without delay. */
  open(): Promise<void>;
  play(clip: Clip, options?: PlayOptions): Promise<Played>;
  close(): Promise<void>;
}

/** Resolves after `ms`, or early (with true) when the signal aborts. */
export function abortableDelay(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(true);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(false);
      },
      Math.max(0, ms),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

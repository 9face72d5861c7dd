import { abortableDelay, type AudioSink, type Clip, type PlayOptions, type Played } from './sink.ts';

/**
 * No output: clips are counted and thrown away. By default it still takes as long as each clip,
 * so a silent speaker queues, orders and cuts exactly like a real one (and its metrics mean the same).
 */
export class NoneSink implements AudioSink {
  readonly name = 'none';
  clips = 0;
  playedMs = 0;
  private readonly realtime: boolean;
  private readonly now: () => number;

  constructor(options: { realtime?: boolean; now?: () => number } = {}) {
    this.realtime = options.realtime ?? true;
    this.now = options.now ?? Date.now;
  }

  async open(): Promise<void> {}

  async play(clip: Clip, options: PlayOptions = {}): Promise<Played> {
    const startedAt = this.now();
    options.onStarted?.(startedAt);
    const interrupted = options.signal?.aborted ? true : this.realtime ? await abortableDelay(clip.durationMs, options.signal) : false;
    const endedAt = this.now();
    this.clips += 1;
    this.playedMs += interrupted ? endedAt - startedAt : clip.durationMs;
    return { startedAt, endedAt, interrupted };
  }

  async close(): Promise<void> {}
}

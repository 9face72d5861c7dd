import type { Logger } from '@sightline/kit';
import type { DropReason, SpeakerMetrics } from './metrics.ts';
import { SinkError, type AudioSink, type Clip } from './sinks/sink.ts';

export type ItemKind = 'earcon' | 'speech' | 'fallback';

/** One thing to play on a lane: an earcon, an utterance, or a fallback announcement. */
export interface Announcement {
  lane: string;
  kind: ItemKind;
  clip: Clip;
  /** What it is about: `scan`, a lane event type, `speech-unavailable`, `speech-restored`. */
  sourceKind: string;
  sourceId: string;
  /** When that scan or event happened (epoch ms): age and staleness are measured from it. */
  sourceAt: number;
  /** False for totals (and fallback announcements): never cut, never dropped. */
  interruptible: boolean;
  text?: string;
}

export interface PlayedSummary {
  kind: ItemKind;
  sourceKind: string;
  sourceId: string;
  text?: string;
  startedAt: number;
  endedAt: number;
  interrupted: boolean;
}

export interface LaneStatus {
  lane: string;
  playing: { kind: ItemKind; sourceKind: string; sourceId: string; text?: string; startedAt: number | null } | null;
  queued: number;
  lastPlayed: PlayedSummary | null;
  played: number;
  interrupted: number;
  dropped: number;
}

export interface PlayerOptions {
  sink: AudioSink;
  metrics: SpeakerMetrics;
  logger: Logger;
  now?: () => number;
  /** Interruptible clips whose source is older than this are dropped. */
  maxAgeMs: number;
  /** A newer scan cuts the lane's stale, interruptible announcement. */
  interruptOnScan: boolean;
  /** Interruptible clips beyond this many waiting on one lane push out the oldest. */
  maxQueuePerLane: number;
  /** Tries for a clip that must not be lost (interruptible false) when the output fails. */
  mustPlayAttempts?: number;
  retryDelayMs?: number;
}

interface LaneState {
  lane: string;
  latestScanAt: number;
  lastPlayed: PlayedSummary | null;
  played: number;
  interrupted: number;
  dropped: number;
  /** When each recent scan's earcon ended, for the earcon-to-speech gap. */
  earconEnded: Map<string, number>;
}

interface Current {
  item: Announcement;
  controller: AbortController;
  startedAt: number | null;
}

const EARCONS_REMEMBERED = 32;

/**
 * The queue in front of one output. Clips play one at a time in arrival order (all lanes share
 * the output, so lanes never talk over each other), with the lane rules applied on the way in,
 * at the head of the queue, and when a newer scan arrives.
 */
export class Player {
  private readonly options: PlayerOptions;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly queue: Announcement[] = [];
  private readonly lanes = new Map<string, LaneState>();
  private current: Current | null = null;
  private pumping: Promise<void> | null = null;
  private stopped = false;
  private sinkProblem: string | null = null;
  private idleWaiters: Array<() => void> = [];

  constructor(options: PlayerOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.log = options.logger.child({ module: 'player' });
  }

  /** Why the output is failing (the last clip or check failed), or null. */
  outputProblem(): string | null {
    return this.sinkProblem;
  }

  /** The result of checking the output from outside (the app's probe); a clip that plays clears it too. */
  setOutputProblem(problem: string | null): void {
    this.sinkProblem = problem;
  }

  laneState(lane: string): LaneState {
    let state = this.lanes.get(lane);
    if (!state) {
      state = { lane, latestScanAt: 0, lastPlayed: null, played: 0, interrupted: 0, dropped: 0, earconEnded: new Map() };
      this.lanes.set(lane, state);
    }
    return state;
  }

  /**
   * A scan (or a new try after not-recognised) at `at`: it makes every older interruptible
   * announcement of the lane stale: the one playing is cut, waiting ones are dropped.
   */
  newerScan(lane: string, at: number): void {
    const state = this.laneState(lane);
    state.latestScanAt = Math.max(state.latestScanAt, at);
    if (!this.options.interruptOnScan) return;
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const item = this.queue[i]!;
      if (item.lane === lane && item.interruptible && item.sourceAt < at) {
        this.queue.splice(i, 1);
        this.drop(item, 'superseded');
      }
    }
    const current = this.current;
    if (current && current.item.lane === lane && current.item.interruptible && current.item.sourceAt < at && !current.controller.signal.aborted) {
      this.log.debug({ lane, kind: current.item.kind, source: current.item.sourceId }, 'newer scan: cutting the announcement');
      current.controller.abort();
    }
  }

  /**
   * Queues a clip unless the lane rules say it is too late for it. Returns the drop reason, if
   * dropped. `ahead` places it before the first waiting clip it matches instead of last.
   */
  enqueue(item: Announcement, ahead?: (waiting: Announcement) => boolean): DropReason | null {
    if (this.stopped) return this.drop(item, 'shutdown');
    const state = this.laneState(item.lane);
    if (item.interruptible) {
      if (this.now() - item.sourceAt > this.options.maxAgeMs) return this.drop(item, 'stale');
      if (this.options.interruptOnScan && item.sourceAt < state.latestScanAt) return this.drop(item, 'superseded');
      const waiting = this.queue.filter((q) => q.lane === item.lane);
      if (waiting.length >= this.options.maxQueuePerLane) {
        const oldest = waiting.find((q) => q.interruptible);
        if (oldest) {
          this.queue.splice(this.queue.indexOf(oldest), 1);
          this.drop(oldest, 'overflow');
        } else {
          return this.drop(item, 'overflow');
        }
      }
    }
    const position = ahead ? this.queue.findIndex(ahead) : -1;
    if (position >= 0) this.queue.splice(position, 0, item);
    else this.queue.push(item);
    this.pump();
    return null;
  }

  private drop(item: Announcement, reason: DropReason): DropReason {
    this.options.metrics.dropped.inc({ lane: item.lane, reason });
    this.laneState(item.lane).dropped += 1;
    this.log.info({ lane: item.lane, kind: item.kind, source: item.sourceKind, id: item.sourceId, reason }, 'announcement dropped');
    return reason;
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = (async () => {
      while (!this.stopped && this.queue.length > 0) {
        const item = this.queue.shift()!;
        if (item.interruptible && this.now() - item.sourceAt > this.options.maxAgeMs) {
          this.drop(item, 'stale');
          continue;
        }
        await this.playOne(item);
      }
    })().finally(() => {
      this.pumping = null;
      if (this.queue.length > 0 && !this.stopped) this.pump();
      else for (const resolve of this.idleWaiters.splice(0)) resolve();
    });
  }

  private async playOne(item: Announcement): Promise<void> {
    const { sink, metrics } = this.options;
    const state = this.laneState(item.lane);
    const attempts = item.interruptible ? 1 : (this.options.mustPlayAttempts ?? 3);
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const controller = new AbortController();
      const current: Current = { item, controller, startedAt: null };
      this.current = current;
      const requestedAt = this.now();
      try {
        const played = await sink.play(item.clip, {
          signal: controller.signal,
          onStarted: (at) => {
            current.startedAt = at;
            metrics.startLatency.observe({ sink: sink.name }, Math.max(0, at - requestedAt) / 1000);
          },
        });
        this.current = null;
        if (this.sinkProblem !== null) this.log.info({ sink: sink.name }, 'audio output works again');
        this.sinkProblem = null;
        this.recordPlayed(item, state, played.startedAt, played.endedAt, played.interrupted);
        return;
      } catch (err) {
        this.current = null;
        const message = err instanceof SinkError ? err.message : `${sink.name}: ${(err as Error).message}`;
        metrics.sinkErrors.inc({ sink: sink.name });
        this.sinkProblem = message;
        this.log.error({ lane: item.lane, kind: item.kind, id: item.sourceId, attempt, attempts, reason: message }, `audio output failed: ${message}`);
        if (attempt < attempts && !this.stopped) await new Promise((resolve) => setTimeout(resolve, this.options.retryDelayMs ?? 300));
        if (this.stopped) break;
      }
    }
    this.drop(item, this.stopped ? 'shutdown' : 'sink-error');
  }

  private recordPlayed(item: Announcement, state: LaneState, startedAt: number, endedAt: number, interrupted: boolean): void {
    const { metrics } = this.options;
    metrics.played.inc({ lane: item.lane, kind: item.kind });
    state.played += 1;
    if (interrupted) {
      metrics.interrupted.inc({ lane: item.lane, kind: item.kind });
      state.interrupted += 1;
    }
    if (item.kind === 'earcon' && item.sourceKind === 'scan') {
      state.earconEnded.set(item.sourceId, endedAt);
      if (state.earconEnded.size > EARCONS_REMEMBERED) state.earconEnded.delete(state.earconEnded.keys().next().value!);
    }
    if (item.kind === 'speech' && item.sourceKind === 'scan') {
      const earconEnd = state.earconEnded.get(item.sourceId);
      if (earconEnd !== undefined) {
        metrics.earconToSpeechGap.observe(Math.max(0, startedAt - earconEnd) / 1000);
        state.earconEnded.delete(item.sourceId);
      }
    }
    state.lastPlayed = {
      kind: item.kind,
      sourceKind: item.sourceKind,
      sourceId: item.sourceId,
      ...(item.text !== undefined ? { text: item.text } : {}),
      startedAt,
      endedAt,
      interrupted,
    };
    this.log.debug({ lane: item.lane, kind: item.kind, source: item.sourceKind, id: item.sourceId, startedAt, endedAt, interrupted }, 'played');
  }

  status(): LaneStatus[] {
    return [...this.lanes.values()]
      .sort((a, b) => a.lane.localeCompare(b.lane))
      .map((state) => {
        const current = this.current?.item.lane === state.lane ? this.current : null;
        return {
          lane: state.lane,
          playing: current
            ? {
                kind: current.item.kind,
                sourceKind: current.item.sourceKind,
                sourceId: current.item.sourceId,
                ...(current.item.text !== undefined ? { text: current.item.text } : {}),
                startedAt: current.startedAt,
              }
            : null,
          queued: this.queue.filter((q) => q.lane === state.lane).length,
          lastPlayed: state.lastPlayed,
          played: state.played,
          interrupted: state.interrupted,
          dropped: state.dropped,
        };
      });
  }

  queueLengths(): Array<{ lane: string; length: number }> {
    return [...this.lanes.keys()].map((lane) => ({ lane, length: this.queue.filter((q) => q.lane === lane).length }));
  }

  /** Resolves once nothing plays and nothing waits. */
  idle(): Promise<void> {
    if (!this.pumping && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Cuts what plays, drops what waits (counted as shutdown), and waits for the output to let go. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const item of this.queue.splice(0)) this.drop(item, 'shutdown');
    this.current?.controller.abort();
    await this.pumping;
  }
}

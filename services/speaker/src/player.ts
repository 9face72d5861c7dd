import type { Registry } from 'prom-client';
import { BoundedMap, type EvictionReason, type Logger } from '@sightline/kit';
import { EARCONS_REMEMBERED, ITEM_KINDS, laneStatus, newLaneState, type Announcement, type Current, type LaneState, type LaneStatus } from './lane-state.ts';
import { DROP_REASONS, type DropReason, type SpeakerMetrics } from './metrics.ts';
import { SinkError, type AudioSink } from './sinks/sink.ts';

/** How far ahead of this speaker's clock a message's time may be believed. */
export const MAX_CLOCK_AHEAD_MS = 2000;

export interface PlayerOptions {
  sink: AudioSink;
  metrics: SpeakerMetrics;
  logger: Logger;
  now?: () => number;
  /** Interruptible clips whose source is older than this are dropped. */
  maxAgeMs: number;
  /** A newer scan cuts the lane's stale, interruptible announcement. */
  interruptOnScan: boolean;
  /** Clips waiting per lane; beyond it the oldest goes (interruptible ones first). */
  maxQueuePerLane: number;
  /** Audio waiting per lane, milliseconds; the same rule as the clip count. */
  maxQueueMsPerLane: number;
  /** A longer clip is refused: it would hold the shared output (and every other lane) that long. */
  maxClipMs: number;
  /** Lanes tracked at once (state, queue, metrics); the least recently active one is forgotten beyond it. */
  maxLanes: number;
  /** Bytes of samples waiting across all lanes. */
  maxQueuedBytes: number;
  /** A lane not heard from for this long is forgotten (its statistics and locale). */
  laneIdleMs?: number;
  registry?: Registry;
  /** Tries for a clip that must not be lost (interruptible false) when the output fails. */
  mustPlayAttempts?: number;
  retryDelayMs?: number;
}

/**
 * The queue in front of one output. Clips play one at a time (all lanes share the output, so
 * lanes never talk over each other); each lane has its own bounded queue, and the lane that has
 * waited longest since its last turn plays next, so one lane's backlog never holds another lane's
 * fresh announcement for more than one clip. The lane rules apply on the way in, at the head of
 * the queue, and when a newer scan arrives.
 */
export class Player {
  private readonly options: PlayerOptions;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly lanes: BoundedMap<string, LaneState>;
  private current: Current | null = null;
  private pumping: Promise<void> | null = null;
  private turns = 0;
  private stopped = false;
  private sinkProblem: string | null = null;
  private idleWaiters: Array<() => void> = [];

  constructor(options: PlayerOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.log = options.logger.child({ module: 'player' });
    this.lanes = new BoundedMap<string, LaneState>({
      name: 'speaker-lanes',
      maxEntries: options.maxLanes,
      maxBytes: options.maxQueuedBytes,
      sizeOf: (state) => 1024 + state.queuedBytes,
      ...(options.laneIdleMs !== undefined ? { idleMs: options.laneIdleMs } : {}),
      ...(options.registry ? { registry: options.registry } : {}),
      logger: this.log,
      onEvict: (_lane, state, reason) => this.forget(state, reason),
    });
  }

  /** Why the output is failing (the last clip or check failed), or null. */
  outputProblem(): string | null {
    return this.sinkProblem;
  }

  /** The result of checking the output from outside (the app's probe); a clip that plays clears it too. */
  setOutputProblem(problem: string | null): void {
    this.sinkProblem = problem;
  }

  /** The lane's state, taking the lane on (within the bound) when it is new; marks it active. */
  laneState(lane: string): LaneState {
    let state = this.lanes.get(lane);
    if (!state) {
      state = newLaneState(lane);
      this.lanes.set(lane, state);
    }
    return state;
  }

  /** The lane's state when it is tracked, without marking it active. */
  peekLane(lane: string): LaneState | undefined {
    return this.lanes.peek(lane);
  }

  /** The lanes tracked now. */
  laneIds(): string[] {
    return [...this.lanes.keys()];
  }

  /** Counts a clip refused before it became an announcement (a duplicate, a lane mismatch); the caller logs why. */
  refuse(lane: string, reason: DropReason): void {
    this.laneState(lane).dropped += 1;
    this.options.metrics.dropped.inc({ lane, reason });
  }

  /**
   * A scan (or a new try after not-recognised) at `at`: it makes every older interruptible
   * announcement of the lane stale: the one playing is cut, waiting ones are dropped.
   */
  newerScan(lane: string, sentAt: number): void {
    const at = this.believable(sentAt);
    const state = this.laneState(lane);
    state.latestScanAt = Math.max(state.latestScanAt, at);
    if (!this.options.interruptOnScan) return;
    for (let i = state.queue.length - 1; i >= 0; i--) {
      const item = state.queue[i]!;
      if (item.interruptible && item.sourceAt < at) {
        this.take(state, i);
        this.drop(item, 'superseded');
      }
    }
    this.lanes.resize(lane);
    const current = this.current;
    if (current && current.item.lane === lane && current.item.interruptible && current.item.sourceAt < at && !current.controller.signal.aborted) {
      this.log.debug({ lane, kind: current.item.kind, source: current.item.sourceId }, 'newer scan: cutting the announcement');
      current.controller.abort();
    }
  }

  /**
   * A time from a message, no later than this speaker's clock allows. A scan stamped a day ahead
   * would otherwise make every announcement of its lane "older" for a day (silenced as
   * superseded) and itself never stale; clocks of machines on one bus agree within seconds.
   */
  private believable(at: number): number {
    return Math.min(at, this.now() + MAX_CLOCK_AHEAD_MS);
  }

  /**
   * Queues a clip unless the lane rules say it is too late for it. Returns the drop reason, if
   * dropped. `ahead` places it before the first waiting clip of its lane it matches instead of last.
   */
  enqueue(given: Announcement, ahead?: (waiting: Announcement) => boolean): DropReason | null {
    const item = { ...given, sourceAt: this.believable(given.sourceAt) };
    if (this.stopped) return this.drop(item, 'shutdown');
    const state = this.laneState(item.lane);
    const { maxAgeMs, maxClipMs, maxQueueMsPerLane, maxQueuePerLane } = this.options;
    if (item.clip.durationMs > Math.min(maxClipMs, maxQueueMsPerLane)) return this.drop(item, 'too-long');
    if (item.interruptible) {
      if (this.now() - item.sourceAt > maxAgeMs) return this.drop(item, 'stale');
      if (this.options.interruptOnScan && item.sourceAt < state.latestScanAt) return this.drop(item, 'superseded');
    }
    const { queue } = state;
    // A newer total replaces the one still waiting, in its place: 500 totals are not 500 clips.
    const waitingTotal = isTotal(item) ? queue.findIndex(isTotal) : -1;
    if (waitingTotal >= 0) {
      const older = queue[waitingTotal]!;
      if (older.sourceAt > item.sourceAt) return this.drop(item, 'coalesced');
      this.take(state, waitingTotal);
      this.drop(older, 'coalesced');
      this.put(state, item, waitingTotal);
      return null;
    }
    // Over the lane's bound the oldest waiting clip goes, interruptible ones first; an
    // interruptible clip never pushes out one that is not.
    while (queue.length > 0 && (queue.length >= maxQueuePerLane || state.queuedMs + item.clip.durationMs > maxQueueMsPerLane)) {
      const interruptible = queue.findIndex((q) => q.interruptible);
      if (interruptible < 0 && item.interruptible) return this.drop(item, 'overflow');
      this.drop(this.take(state, Math.max(0, interruptible)), 'overflow');
    }
    const position = ahead ? queue.findIndex(ahead) : -1;
    this.put(state, item, position >= 0 ? position : queue.length);
    return null;
  }

  private put(state: LaneState, item: Announcement, position: number): void {
    state.queue.splice(position, 0, item);
    state.queuedMs += item.clip.durationMs;
    state.queuedBytes += item.clip.samples.length;
    this.lanes.resize(state.lane);
    this.pump();
  }

  private take(state: LaneState, index: number): Announcement {
    const [item] = state.queue.splice(index, 1);
    state.queuedMs -= item!.clip.durationMs;
    state.queuedBytes -= item!.clip.samples.length;
    return item!;
  }

  private drop(item: Announcement, reason: DropReason): DropReason {
    const state = this.lanes.peek(item.lane);
    // A lane already forgotten is not counted under its name again (its metrics were removed).
    if (state) {
      state.dropped += 1;
      this.options.metrics.dropped.inc({ lane: item.lane, reason });
    }
    this.log[reason === 'coalesced' ? 'debug' : 'info'](
      { lane: item.lane, kind: item.kind, source: item.sourceKind, id: item.sourceId, reason },
      'announcement dropped',
    );
    return reason;
  }

  /** A lane pushed out of the bound or idle: what it had waiting goes, and so do its metric series. */
  private forget(state: LaneState, reason: EvictionReason): void {
    const waiting = state.queue.splice(0);
    state.queuedMs = 0;
    state.queuedBytes = 0;
    if (waiting.length > 0) this.log.warn({ lane: state.lane, reason, dropped: waiting.length }, 'lane forgotten with clips waiting: dropped');
    const { metrics } = this.options;
    for (const kind of ITEM_KINDS) {
      metrics.played.remove({ lane: state.lane, kind });
      metrics.interrupted.remove({ lane: state.lane, kind });
    }
    for (const dropReason of DROP_REASONS) metrics.dropped.remove({ lane: state.lane, reason: dropReason });
  }

  /** The lane that has waited longest since its last turn, among those with clips waiting. */
  private nextLane(): LaneState | undefined {
    let next: LaneState | undefined;
    for (const state of this.lanes.values()) {
      if (state.queue.length > 0 && (next === undefined || state.lastTurn < next.lastTurn)) next = state;
    }
    return next;
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = (async () => {
      while (!this.stopped) {
        const state = this.nextLane();
        if (!state) break;
        const item = this.take(state, 0);
        state.lastTurn = ++this.turns;
        this.lanes.resize(state.lane);
        if (item.interruptible && this.now() - item.sourceAt > this.options.maxAgeMs) {
          this.drop(item, 'stale');
          continue;
        }
        await this.playOne(item, state);
      }
    })().finally(() => {
      this.pumping = null;
      if (this.nextLane() && !this.stopped) this.pump();
      else for (const resolve of this.idleWaiters.splice(0)) resolve();
    });
  }

  private async playOne(item: Announcement, state: LaneState): Promise<void> {
    const { sink, metrics } = this.options;
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
    const tracked = this.lanes.peek(item.lane) === state;
    if (tracked) metrics.played.inc({ lane: item.lane, kind: item.kind });
    state.played += 1;
    if (interrupted) {
      if (tracked) metrics.interrupted.inc({ lane: item.lane, kind: item.kind });
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
      .map((state) => laneStatus(state, this.current?.item.lane === state.lane ? this.current : null));
  }

  queueLengths(): Array<{ lane: string; length: number }> {
    return [...this.lanes.values()].map((state) => ({ lane: state.lane, length: state.queue.length }));
  }

  /** Resolves once nothing plays and nothing waits. */
  idle(): Promise<void> {
    if (!this.pumping && this.nextLane() === undefined) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Cuts what plays, drops what waits (counted as shutdown), and waits for the output to let go. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const state of this.lanes.values()) while (state.queue.length > 0) this.drop(this.take(state, 0), 'shutdown');
    this.current?.controller.abort();
    await this.pumping;
  }
}

function isTotal(item: Announcement): boolean {
  return item.kind === 'speech' && item.sourceKind === 'total';
}

import type { Registry } from 'prom-client';
import { BoundedMap, type EvictionReason, type Logger } from '@sightline/kit';
import type { Volume } from '@sightline/schemas';
import { ITEM_KINDS, newLaneState, type Announcement, type LaneState } from './lane-state.ts';
import { DROP_REASONS, type DropReason, type SpeakerMetrics } from './metrics.ts';
import { exemptFromAge, isTotal, overflowVictim, placeOf, sameSource } from './queue.ts';
import type { AudioSink } from './sinks/sink.ts';
import { defaultLevel, UNITY_VOLUME, volumeOf, type VolumeSettings } from './volume.ts';

/** How far ahead of this speaker's clock a message's time may be believed. */
export const MAX_CLOCK_AHEAD_MS = 2000;

export interface PlayerOptions {
  /** The loudspeaker. */
  sink: AudioSink;
  /** Lanes that play on a headset instead (private listening), and its output. */
  headsets?: ReadonlyMap<string, AudioSink>;
  /** Volume levels; unity gain for every lane when absent. */
  volume?: VolumeSettings;
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
 * Every lane's state and queue, bounded: the lane rules on the way in, the bounds, the volume,
 * the end of a basket. What plays them, one at a time, is the Player built on it.
 */
export abstract class LaneQueues {
  protected readonly options: PlayerOptions;
  protected readonly now: () => number;
  protected readonly log: Logger;
  protected readonly lanes: BoundedMap<string, LaneState>;
  protected readonly volume: VolumeSettings;
  protected stopped = false;

  constructor(options: PlayerOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.volume = options.volume ?? UNITY_VOLUME;
    this.log = options.logger.child({ module: 'player' });
    this.lanes = new BoundedMap<string, LaneState>({
      name: 'speaker-lanes',
      maxEntries: options.maxLanes,
      maxBytes: options.maxQueuedBytes,
      // The last announcement kept for repeat counts too: a lane's memory is bounded like its queue.
      sizeOf: (state) => 1024 + state.queuedBytes + (state.remembered?.bytes ?? 0),
      ...(options.laneIdleMs !== undefined ? { idleMs: options.laneIdleMs } : {}),
      ...(options.registry ? { registry: options.registry } : {}),
      logger: this.log,
      onEvict: (_lane, state, reason) => this.forget(state, reason),
    });
  }

  /** Starts playing what waits, if nothing plays. */
  protected abstract pump(): void;

  /** The lane's state, taking the lane on (within the bound) when it is new; marks it active. */
  laneState(lane: string): LaneState {
    let state = this.lanes.get(lane);
    if (!state) {
      const output = this.options.headsets?.has(lane) ? 'headset' : 'speaker';
      state = newLaneState(lane, output, defaultLevel(output, this.volume));
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
   * A time from a message, no later than this speaker's clock allows. A scan stamped a day ahead
   * would otherwise make every announcement of its lane "older" for a day (silenced as
   * superseded) and itself never stale; clocks of machines on one bus agree within seconds.
   */
  protected believable(at: number): number {
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
    const { maxAgeMs, maxClipMs, maxQueueMsPerLane } = this.options;
    if (item.clip.durationMs > Math.min(maxClipMs, maxQueueMsPerLane)) return this.drop(item, 'too-long');
    // Said about something before the shopper's stop (a receipt still being spoken, a scan's late speech).
    if (item.sourceAt < state.stoppedAt) return this.drop(item, 'stopped');
    if (item.interruptible) {
      if (!exemptFromAge(item) && this.now() - item.sourceAt > maxAgeMs) return this.drop(item, 'stale');
      if (this.options.interruptOnScan && item.sourceAt < state.latestScanAt) return this.drop(item, 'superseded');
    }
    const { queue } = state;
    // A newer total replaces the one still waiting (all its parts), in its place: 500 totals are not 500 clips.
    const olderTotals = isTotal(item) ? queue.filter((q) => isTotal(q) && !sameSource(q, item)) : [];
    if (olderTotals.some((q) => q.sourceAt > item.sourceAt)) return this.drop(item, 'coalesced');
    // A newer answer to the same command replaces one still waiting: ten presses of volume-up say the level once or twice, not ten times.
    const olderAnswers =
      item.asked === 'feedback' && item.part === undefined
        ? queue.filter((q) => q.asked === 'feedback' && q.part === undefined && q.command === item.command && !sameSource(q, item))
        : [];
    const replaced = new Set([...olderTotals, ...olderAnswers]);
    // The newer total takes the older one's place: before the clip that followed it.
    const first = olderTotals.length > 0 ? queue.indexOf(olderTotals[0]!) : -1;
    const anchor = first >= 0 ? (queue.slice(first).find((q) => !replaced.has(q)) ?? null) : undefined;
    for (const older of replaced) this.drop(this.take(state, queue.indexOf(older)), 'coalesced');
    if (!this.makeRoom(state, item)) return this.drop(item, 'overflow');
    const position = anchor === null ? queue.length : anchor !== undefined && queue.includes(anchor) ? queue.indexOf(anchor) : placeOf(queue, item, ahead);
    this.put(state, item, position);
    return null;
  }

  /** Over the lane's bounds, waiting clips go (see overflowVictim); false when none may go for this one. */
  protected makeRoom(state: LaneState, item: Announcement): boolean {
    const { queue } = state;
    while (queue.length > 0 && (queue.length >= this.options.maxQueuePerLane || state.queuedMs + item.clip.durationMs > this.options.maxQueueMsPerLane)) {
      const victim = overflowVictim(queue, item);
      if (victim < 0) return false;
      this.drop(this.take(state, victim), 'overflow');
    }
    return true;
  }

  protected put(state: LaneState, item: Announcement, position: number): void {
    state.queue.splice(position, 0, item);
    state.queuedMs += item.clip.durationMs;
    state.queuedBytes += item.clip.samples.length;
    this.lanes.resize(state.lane);
    this.pump();
  }

  protected take(state: LaneState, index: number): Announcement {
    const [item] = state.queue.splice(index, 1);
    state.queuedMs -= item!.clip.durationMs;
    state.queuedBytes -= item!.clip.samples.length;
    return item!;
  }

  protected drop(item: Announcement, reason: DropReason): DropReason {
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

  queueLengths(): Array<{ lane: string; length: number }> {
    return [...this.lanes.values()].map((state) => ({ lane: state.lane, length: state.queue.length }));
  }

  /** Moves the lane's level by `delta` within 1..steps; `changed` false at the end of the range. */
  changeVolume(lane: string, delta: number): { volume: Volume; changed: boolean } {
    const state = this.laneState(lane);
    const level = Math.min(this.volume.steps, Math.max(1, state.volumeLevel + delta));
    const changed = level !== state.volumeLevel;
    state.volumeLevel = level;
    return { volume: volumeOf(state.output, level, this.volume), changed };
  }

  protected resetVolume(state: LaneState): void {
    const level = defaultLevel(state.output, this.volume);
    if (state.volumeLevel !== level) this.log.info({ lane: state.lane, from: state.volumeLevel, to: level }, 'basket over: volume back to the default');
    state.volumeLevel = level;
  }

  /**
   * The lane's basket ended (a total, or the session timed out): the volume goes back to the
   * default once its announcement has played, or at the next scan; a pause is lifted (the shopper
   * asked for the total, or has left).
   */
  basketEnded(lane: string, eventId: string): void {
    const state = this.laneState(lane);
    state.basketEnd = { eventId, volumeReset: false };
    if (state.paused) {
      state.paused = false;
      this.pump();
    }
  }

  /** A scan: after a basket ended, the shopper is a new one: the default volume, and nothing of the last shopper's to repeat. */
  scanned(lane: string): void {
    const state = this.laneState(lane);
    const end = state.basketEnd;
    if (end === null) return;
    if (!end.volumeReset) this.resetVolume(state);
    state.basketEnd = null;
    state.remembered = null;
    state.lastRepeatAt = null;
    this.lanes.resize(lane);
  }
}

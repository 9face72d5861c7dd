import { EARCONS_REMEMBERED, laneStatus, type Announcement, type Current, type LaneState, type LaneStatus } from './lane-state.ts';
import { LaneQueues } from './lane-queues.ts';
import { exemptFromAge, isLastPart, playsWhilePaused, remember, replayOf, restOf, sameSource } from './queue.ts';
import { abortableDelay, SinkError, type AudioSink } from './sinks/sink.ts';
import { applyGain, gainDb } from './volume.ts';

export { MAX_CLOCK_AHEAD_MS, type PlayerOptions } from './lane-queues.ts';

/**
 * The queue in front of one output. Clips play one at a time (all lanes share the output, so
 * lanes never talk over each other); each lane has its own bounded queue, and the lane that has
 * waited longest since its last turn plays next, so one lane's backlog never holds another lane's
 * fresh announcement for more than one clip. The lane rules apply on the way in, at the head of
 * the queue, and when a newer scan arrives.
 */
export class Player extends LaneQueues {
  private current: Current | null = null;
  private pumping: Promise<void> | null = null;
  private turns = 0;
  private readonly sinkProblems = new Map<AudioSink, string>();
  private idleWaiters: Array<() => void> = [];

  /** Why an output is failing (its last clip or check failed), or null. */
  outputProblem(): string | null {
    return this.sinkProblems.size === 0 ? null : [...this.sinkProblems.values()].join('; ');
  }

  /** The result of checking an output (the loudspeaker by default) from outside (the app's probe); a clip that plays clears it too. */
  setOutputProblem(problem: string | null, sink: AudioSink = this.options.sink): void {
    if (problem === null) this.sinkProblems.delete(sink);
    else this.sinkProblems.set(sink, sink === this.options.sink ? problem : `headset: ${problem}`);
  }

  /** Where the lane plays: its headset, or the loudspeaker. */
  sinkOf(lane: string): AudioSink {
    return this.options.headsets?.get(lane) ?? this.options.sink;
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

  /** The lane that has waited longest since its last turn, among those with a clip that may play, and that clip. */
  private nextTurn(): { state: LaneState; index: number } | undefined {
    let next: { state: LaneState; index: number } | undefined;
    for (const state of this.lanes.values()) {
      if (state.queue.length === 0 || (next !== undefined && state.lastTurn >= next.state.lastTurn)) continue;
      const index = state.paused ? state.queue.findIndex((item) => playsWhilePaused(item, state)) : 0;
      if (index >= 0) next = { state, index };
    }
    return next;
  }

  protected pump(): void {
    if (this.pumping) return;
    this.pumping = (async () => {
      while (!this.stopped) {
        const turn = this.nextTurn();
        if (!turn) break;
        const { state } = turn;
        const item = this.take(state, turn.index);
        state.lastTurn = ++this.turns;
        this.lanes.resize(state.lane);
        if (!exemptFromAge(item) && this.now() - item.sourceAt > this.options.maxAgeMs) {
          this.drop(item, 'stale');
          continue;
        }
        await this.playOne(item, state);
      }
    })().finally(() => {
      this.pumping = null;
      if (this.nextTurn() && !this.stopped) this.pump();
      else for (const resolve of this.idleWaiters.splice(0)) resolve();
    });
  }

  private async playOne(item: Announcement, state: LaneState): Promise<void> {
    const { metrics } = this.options;
    const sink = this.sinkOf(item.lane);
    // What a repeat plays: kept as it starts, so a repeat pressed while it plays repeats this one.
    if (item.asked === undefined && item.kind !== 'earcon') {
      remember(state, item, { maxParts: this.options.maxQueuePerLane, maxMs: this.options.maxQueueMsPerLane });
      this.lanes.resize(state.lane);
    }
    // The lane's level applies when the clip plays, so a change reaches what is already waiting.
    const db = gainDb(state.volumeLevel, this.volume);
    const clip = db === 0 ? item.clip : { ...item.clip, samples: applyGain(item.clip.samples, db) };
    const attempts = item.interruptible ? 1 : (this.options.mustPlayAttempts ?? 3);
    // One controller for every try: a cut (a control, a newer scan) between tries ends them.
    const controller = new AbortController();
    const current: Current = { item, controller, startedAt: null };
    this.current = current;
    try {
      for (let attempt = 1; attempt <= attempts; attempt++) {
        const requestedAt = this.now();
        current.startedAt = null;
        try {
          const played = await sink.play(clip, {
            signal: controller.signal,
            onStarted: (at) => {
              current.startedAt = at;
              metrics.startLatency.observe({ sink: sink.name }, Math.max(0, at - requestedAt) / 1000);
            },
          });
          this.current = null;
          if (this.sinkProblems.has(sink)) this.log.info({ sink: sink.name, lane: item.lane }, 'audio output works again');
          this.sinkProblems.delete(sink);
          this.recordPlayed(item, state, played.startedAt, played.endedAt, played.interrupted);
          return;
        } catch (err) {
          const message = err instanceof SinkError ? err.message : `${sink.name}: ${(err as Error).message}`;
          metrics.sinkErrors.inc({ sink: sink.name });
          this.setOutputProblem(message, sink);
          this.log.error({ lane: item.lane, kind: item.kind, id: item.sourceId, attempt, attempts, reason: message }, `audio output failed: ${message}`);
          if (attempt < attempts && !this.stopped) await abortableDelay(this.options.retryDelayMs ?? 300, controller.signal);
          if (this.stopped || controller.signal.aborted) break;
        }
      }
    } finally {
      if (this.current === current) this.current = null;
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
    // The basket's last announcement heard to its end: the next shopper starts at the default level.
    const end = state.basketEnd;
    if (end !== null && !end.volumeReset && !interrupted && item.sourceId === end.eventId && isLastPart(item)) {
      end.volumeReset = true;
      this.resetVolume(state);
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
      .map((state) => laneStatus(state, this.current?.item.lane === state.lane ? this.current : null, this.volume.steps));
  }

  /** Cuts the lane's clip if it is playing; true when it was. */
  cut(lane: string): boolean {
    const current = this.current;
    if (!current || current.item.lane !== lane || current.controller.signal.aborted) return false;
    this.log.debug({ lane, kind: current.item.kind, source: current.item.sourceId }, 'control: cutting the announcement');
    current.controller.abort();
    return true;
  }

  isPaused(lane: string): boolean {
    return this.lanes.peek(lane)?.paused ?? false;
  }

  /**
   * Holds the lane: the clip playing is cut and what was left of it (from a little before the
   * cut) waits at the head of the lane; nothing of the lane plays until resume but the answers to
   * controls given from now on. Other lanes go on.
   */
  pause(lane: string): void {
    const state = this.laneState(lane);
    const current = this.current;
    if (!state.paused) {
      state.paused = true;
      state.pausedAt = this.now();
      const rest = current && current.item.lane === lane && !current.controller.signal.aborted ? restOf(current, this.now()) : null;
      if (rest !== null && this.makeRoom(state, rest)) this.put(state, rest, 0);
    }
    // Paused already, what plays is an answer to a control: it is cut, not kept.
    this.cut(lane);
  }

  /** Lets the lane play again (the rest of the paused clip first); false when it was not paused. */
  resume(lane: string): boolean {
    const state = this.lanes.peek(lane);
    if (!state?.paused) return false;
    state.paused = false;
    this.pump();
    return true;
  }

  /** The shopper's stop: cuts the lane, drops everything waiting for it and anything said about earlier events that arrives later, lifts a pause. */
  stopLane(lane: string): void {
    const state = this.laneState(lane);
    while (state.queue.length > 0) this.drop(this.take(state, 0), 'stopped');
    state.paused = false;
    state.stoppedAt = this.now();
    this.lanes.resize(lane);
    this.cut(lane);
  }

  /**
   * Plays the lane's last announcement again, every part of it, from memory (the PCM it played),
   * at the head of the lane; lifts a pause. Returns what it repeats (its source id), or null.
   */
  replay(lane: string): string | null {
    const state = this.laneState(lane);
    const memory = state.remembered;
    if (memory === null || memory.parts.length === 0) return null;
    const { queue } = state;
    // An earlier repeat still waiting, and the rest of a paused clip of it, are in this one.
    for (let i = queue.length - 1; i >= 0; i--) {
      const q = queue[i]!;
      if (q.asked === 'replay' || (q.asked === 'rest' && sameSource(q, memory))) this.drop(this.take(state, i), 'superseded');
    }
    state.paused = false;
    replayOf(memory, lane).forEach((item, i) => {
      if (this.makeRoom(state, item)) this.put(state, item, i);
      else this.drop(item, 'overflow');
    });
    return memory.sourceId;
  }

  /** Resolves once nothing plays and nothing waits (but on paused lanes). */
  idle(): Promise<void> {
    if (!this.pumping && this.nextTurn() === undefined) return Promise.resolve();
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

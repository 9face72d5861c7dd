import { BoundedMap, type Logger } from '@sightline/kit';
import type { Registry } from 'prom-client';

/**
 * Which frame runs next. Each camera has a slot for one waiting frame: a frame that arrives while
 * another of the same camera waits replaces it (latest wins, the replaced one is counted as
 * dropped), so nothing ever queues up behind a slow model. Cameras with a waiting frame take turns
 * (round-robin in the order of their ids), and one job runs at a time: onnxruntime already spreads
 * one run over the threads. The slots are bounded in count and in bytes (camera ids come from the
 * network): past either bound the frame that has waited longest is dropped ('evicted').
 * Tasks given to `between()` (a model swap) run after the job in flight and before the next one.
 *
 * With a `prepare` step (decoding a JPEG), the next frame is taken and prepared while the current
 * one runs. `prepareDuring` says when: 'run' (the default) as soon as the run starts; 'tail' once
 * the run calls `modelDone` (its model has finished and the cores are free, what is left is e.g.
 * decoding the outputs and publishing them) or ends. At most one frame is being prepared ahead.
 *
 * `pipelined`: the next job's run starts as soon as this one calls `modelDone`, while this one's
 * tail (decoding outputs, publishing) finishes alongside, so the model never waits for it. At most
 * one job is in its tail; each run gets `previous`, settled when the job before it has ended, to
 * keep whatever it must do in order (publishing) in order.
 */

export type SchedulerDropReason = 'replaced' | 'stopped' | 'evicted' | 'reassigned';

export interface Job<T> {
  camera: string;
  item: T;
  /** performance.now() when it was submitted. */
  submittedAt: number;
}

export interface SchedulerOptions<T, P = undefined> {
  /** Work done ahead, overlapping the previous run; what it returns or throws is handed to `run`. */
  prepare?: (job: Job<T>) => Promise<P>;
  /** When the next frame's `prepare` starts: with the run ('run', the default) or at its `modelDone` ('tail'). */
  prepareDuring?: 'run' | 'tail';
  /** Whether the next run may start at this one's `modelDone` (see the class comment). */
  pipelined?: boolean;
  /**
   * `modelDone`: the heavy part of the run is over (used with prepareDuring 'tail' and pipelined;
   * calling it is optional, the run's end counts). `previous`: settles (never rejects) when the job
   * before this one has ended.
   */
  run: (job: Job<T>, prepared: { value: P } | { error: unknown }, modelDone: () => void, previous: Promise<void>) => Promise<void>;
  onDrop: (camera: string, reason: SchedulerDropReason, item: T) => void;
  /** A run that threw, or (no job) the scheduling itself. */
  onError?: (err: unknown, job?: Job<T>) => void;
  /** Bounds on the waiting frames: how many cameras may have one, and their bytes together. */
  waiting?: { maxEntries: number; maxBytes?: number; sizeOf?: (item: T) => number; registry?: Registry; logger?: Logger };
}

export class Scheduler<T, P = undefined> {
  readonly #options: SchedulerOptions<T, P>;
  readonly #slots: BoundedMap<string, Job<T>>;
  /** The camera that ran last: the round-robin resumes with the next id after it. */
  #last: string | undefined;
  #busy = false;
  #stopped = false;
  #between: Array<{ task: () => Promise<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void }> = [];
  #idleWaiters: Array<() => void> = [];

  constructor(options: SchedulerOptions<T, P>) {
    this.#options = options;
    const waiting = options.waiting;
    const sizeOf = waiting?.sizeOf;
    this.#slots = new BoundedMap<string, Job<T>>({
      name: 'inference-waiting-frames',
      maxEntries: waiting?.maxEntries ?? 64,
      ...(waiting?.maxBytes !== undefined ? { maxBytes: waiting.maxBytes } : {}),
      ...(sizeOf !== undefined ? { sizeOf: (job: Job<T>) => sizeOf(job.item) } : {}),
      ...(waiting?.registry !== undefined ? { registry: waiting.registry } : {}),
      ...(waiting?.logger !== undefined ? { logger: waiting.logger } : {}),
      onEvict: (camera, job) => options.onDrop(camera, 'evicted', job.item),
    });
  }

  submit(camera: string, item: T): void {
    if (this.#stopped) {
      this.#options.onDrop(camera, 'stopped', item);
      return;
    }
    const waiting = this.#slots.peek(camera);
    if (waiting) this.#options.onDrop(camera, 'replaced', waiting.item);
    this.#slots.set(camera, { camera, item, submittedAt: performance.now() });
    this.#pump();
  }

  /** Drops the camera's waiting frame, if any (its camera went to another replica). */
  forget(camera: string, reason: SchedulerDropReason): void {
    const waiting = this.#slots.peek(camera);
    if (waiting === undefined) return;
    this.#slots.delete(camera);
    this.#options.onDrop(camera, reason, waiting.item);
  }

  /** Frames waiting (at most one per camera). */
  waiting(): number {
    return this.#slots.size;
  }

  /** Bytes of the frames waiting (by `waiting.sizeOf`). */
  waitingBytes(): number {
    return this.#slots.bytes;
  }

  busy(): boolean {
    return this.#busy;
  }

  /** Runs `task` when no job is in flight, before the next job starts. */
  between<R>(task: () => Promise<R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#between.push({ task, resolve: resolve as (v: unknown) => void, reject });
      this.#pump();
    });
  }

  /** Resolves once nothing runs and nothing waits. */
  idle(): Promise<void> {
    if (!this.#busy && this.#slots.size === 0 && this.#between.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Drops the waiting frames and waits for the job in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const job of this.#slots.values()) this.#options.onDrop(job.camera, 'stopped', job.item);
    this.#slots.clear();
    await this.idle();
  }

  /** The waiting camera whose id comes next after the last one served, wrapping around. */
  #take(): Job<T> | null {
    let first: string | undefined;
    let next: string | undefined;
    for (const camera of this.#slots.keys()) {
      if (first === undefined || camera < first) first = camera;
      if (this.#last !== undefined && camera > this.#last && (next === undefined || camera < next)) next = camera;
    }
    const camera = next ?? first;
    if (camera === undefined) return null;
    const job = this.#slots.peek(camera)!;
    this.#slots.delete(camera);
    this.#last = camera;
    return job;
  }

  #pump(): void {
    if (this.#busy) return;
    this.#busy = true;
    this.#loop().catch((err: unknown) => this.#options.onError?.(err));
  }

  #prepare(job: Job<T>): Promise<{ value: P } | { error: unknown }> {
    const prepare = this.#options.prepare;
    if (!prepare) return Promise.resolve({ value: undefined as P });
    return prepare(job).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
  }

  async #runBetween(): Promise<void> {
    for (let between = this.#between.shift(); between; between = this.#between.shift()) {
      try {
        between.resolve(await between.task());
      } catch (err) {
        between.reject(err);
      }
    }
  }

  async #loop(): Promise<void> {
    try {
      await this.#runBetween();
      let job = this.#take();
      let prepared = job ? this.#prepare(job) : null;
      // The job before this one, while it finishes its tail (pipelined only).
      let previous: Promise<void> = Promise.resolve();
      while (job && prepared) {
        const ready = await prepared;
        const current = job;
        let modelDone!: () => void;
        const tail = new Promise<void>((resolve) => (modelDone = resolve));
        const running = this.#options
          .run(current, ready, modelDone, previous)
          .catch((err: unknown) => this.#options.onError?.(err, current))
          .finally(modelDone);
        if (this.#options.prepareDuring === 'tail') await tail;
        // Get the next frame ready while this one runs (or finishes).
        let next = this.#options.prepare ? this.#take() : null;
        let nextPrepared = next ? this.#prepare(next) : null;
        if (this.#options.pipelined === true) {
          // Only one job in its tail: the one before ends before this one's model is done.
          await Promise.all([tail, previous]);
          previous = running;
        } else await running;
        if (next === null && this.#options.pipelined === true) {
          // Nothing was waiting: this job's tail ends before the loop looks again, as unpipelined.
          await running;
          next = this.#take();
          nextPrepared = next ? this.#prepare(next) : null;
        }
        if (this.#between.length > 0 || this.#stopped) await running;
        if (next && this.#stopped) {
          // Stopped meanwhile: the frame taken ahead is dropped like the waiting ones.
          this.#options.onDrop(next.camera, 'stopped', next.item);
          next = null;
          nextPrepared = null;
        }
        await this.#runBetween();
        job = next ?? this.#take();
        prepared = nextPrepared ?? (job ? this.#prepare(job) : null);
      }
    } finally {
      this.#busy = false;
      // Something may have arrived while the last run finished.
      if (this.#between.length > 0 || (!this.#stopped && this.#slots.size > 0)) this.#pump();
      else for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }
}

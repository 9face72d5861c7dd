import { Worker } from 'node:worker_threads';
import * as ort from '../onnxruntime.ts';

/**
 * An onnxruntime session on a worker thread, behind the part of InferenceSession the service uses.
 *
 * Why: onnxruntime-node's `session.run` holds the calling thread until the model is done (a 35-50
 * ms run blocks the event loop for as long), so nothing else of the frame path (decoding and
 * resizing the next JPEG, decoding outputs, MQTT) could overlap it. On a worker thread the run
 * leaves the main thread free, and the service keeps up with the bare model.
 *
 * Nothing big is copied or allocated per run. An input whose data lies in a SharedArrayBuffer is
 * read in place (the frame path prepares its tensors in shared memory); any other is copied. An
 * output of a fixed shape is written by onnxruntime straight into shared buffers of an output
 * slot, which stays the caller's until it disposes of the output tensors and is then reused;
 * without slots, 5 MB of CenterNet outputs a frame kept the collector busy on both threads.
 * Outputs of a shape known only after the run are moved (transferred), not copied.
 *
 * A worker that dies (it should not: an uncaught error in its script) fails the runs in flight
 * with a clear error, and the next run starts a new one.
 */

export type SessionOptions = ort.InferenceSession.SessionOptions;

/** What the service uses of a session: onnxruntime's own, or one on a worker thread. */
export type ModelSession = Pick<ort.InferenceSession, 'inputNames' | 'outputNames' | 'inputMetadata' | 'outputMetadata' | 'release'> & {
  run(feeds: Record<string, ort.Tensor>, fetches?: string[]): Promise<Record<string, ort.Tensor>>;
};

export interface WireTensor {
  type: ort.Tensor['type'];
  dims: number[];
  data: Float32Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Float64Array | string[] | ArrayBufferView;
}

export interface SessionThreadData {
  /** A path, or the model's bytes. */
  file: string | Uint8Array;
  options: SessionOptions;
}

/** Shared buffers an output slot holds, by output name. */
export type SlotBuffers = Record<string, SharedArrayBuffer>;

export type SessionRequest =
  { kind: 'run'; id: number; feeds: Record<string, WireTensor>; fetches: string[] | undefined; slot: SlotBuffers | null } | { kind: 'release' };

export type SessionReply =
  | {
      kind: 'ready';
      inputNames: string[];
      outputNames: string[];
      inputMetadata: ort.InferenceSession['inputMetadata'];
      outputMetadata: ort.InferenceSession['outputMetadata'];
    }
  | { kind: 'failed'; message: string }
  | { kind: 'result'; id: number; outputs: Record<string, WireTensor>; runMs: number; slot: SlotBuffers | null }
  | { kind: 'error'; id: number; message: string }
  | { kind: 'released' };

type Ready = Extract<SessionReply, { kind: 'ready' }>;

interface Pending {
  resolve: (outputs: Record<string, ort.Tensor>) => void;
  reject: (err: Error) => void;
  slot: OutputSlot | null;
}

/** Shared output buffers for one run at a time; `leases`: its output tensors not yet disposed. */
interface OutputSlot {
  buffers: SlotBuffers;
  leases: number;
}

/**
 * Slots in use at most (a caller that never disposes of its outputs gets them moved instead, as
 * for a model with outputs of no fixed shape): the frame path holds two, HTTP predictions one.
 */
const MAX_SLOTS = 4;

const THREAD = new URL('./session-thread.ts', import.meta.url);

export class WorkerSession implements ModelSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: ort.InferenceSession['inputMetadata'];
  readonly outputMetadata: ort.InferenceSession['outputMetadata'];
  readonly #data: SessionThreadData;
  #worker: Worker | null;
  #starting: Promise<Worker> | null = null;
  readonly #pending = new Map<number, Pending>();
  readonly #slots: OutputSlot[] = [];
  /** Whether any output has a fixed shape (otherwise slots are of no use). */
  readonly #slotted: boolean;
  #nextId = 1;
  #released = false;
  /** Workers started, the first included (a test reads it to see a dead one replaced). */
  #starts = 1;

  private constructor(data: SessionThreadData, worker: Worker, ready: Ready) {
    this.#data = data;
    this.inputNames = ready.inputNames;
    this.outputNames = ready.outputNames;
    this.inputMetadata = ready.inputMetadata;
    this.outputMetadata = ready.outputMetadata;
    this.#slotted = ready.outputMetadata.some((m) => fixedShape(m) !== null);
    this.#worker = worker;
    this.#watch(worker);
  }

  /** Opens `file` (a path or the bytes) on a new worker thread; rejects as InferenceSession.create would. */
  static async create(file: string | Uint8Array, options: SessionOptions): Promise<WorkerSession> {
    const data: SessionThreadData = { file, options };
    const { worker, ready } = await spawn(data);
    return new WorkerSession(data, worker, ready);
  }

  get starts(): number {
    return this.#starts;
  }

  async run(feeds: Record<string, ort.Tensor>, fetches?: string[]): Promise<Record<string, ort.Tensor>> {
    if (this.#released) throw new Error('the session was released');
    const worker = this.#worker ?? (await this.#restart());
    // Typed arrays on a SharedArrayBuffer reach the worker as views of the same memory; others
    // are copied by postMessage.
    const wire: Record<string, WireTensor> = {};
    for (const [name, tensor] of Object.entries(feeds)) wire[name] = { type: tensor.type, dims: [...tensor.dims], data: tensor.data as WireTensor['data'] };
    const id = this.#nextId++;
    const slot = this.#takeSlot();
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, slot });
      worker.postMessage({ kind: 'run', id, feeds: wire, fetches, slot: slot?.buffers ?? null } satisfies SessionRequest);
    });
  }

  /** Output slots made so far (tests: they are reused once outputs are disposed). */
  get slots(): number {
    return this.#slots.length;
  }

  #takeSlot(): OutputSlot | null {
    if (!this.#slotted) return null;
    let slot = this.#slots.find((s) => s.leases === 0);
    if (slot === undefined) {
      if (this.#slots.length >= MAX_SLOTS) return null;
      slot = { buffers: {}, leases: 0 };
      this.#slots.push(slot);
    }
    slot.leases = 1; // held by the run; replaced by the count of its shared outputs
    return slot;
  }

  #outputs(reply: Extract<SessionReply, { kind: 'result' }>, slot: OutputSlot | null): Record<string, ort.Tensor> {
    const outputs: Record<string, ort.Tensor> = {};
    let shared = 0;
    for (const [name, t] of Object.entries(reply.outputs)) {
      const tensor = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
      if (slot !== null && ArrayBuffer.isView(t.data) && t.data.buffer instanceof SharedArrayBuffer) {
        shared++;
        let disposed = false;
        // The slot's memory is written by the next run that takes the slot: it is handed out
        // again only when every output of this run has been disposed of.
        tensor.dispose = () => {
          if (disposed) return;
          disposed = true;
          slot.leases--;
        };
      }
      outputs[name] = tensor;
    }
    if (slot !== null) {
      Object.assign(slot.buffers, reply.slot ?? {});
      slot.leases = shared;
    }
    return outputs;
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    const worker = this.#worker ?? (this.#starting ? await this.#starting.catch(() => null) : null);
    this.#worker = null;
    if (worker === null) return;
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      worker.once('exit', done);
      worker.on('message', (reply: SessionReply) => {
        if (reply.kind === 'released') worker.terminate().catch(() => {});
      });
      // Handled after the runs already posted. Never terminate a worker inside a run: onnxruntime
      // returning into a terminated thread aborts the whole process.
      worker.postMessage({ kind: 'release' } satisfies SessionRequest);
    });
  }

  /** Ends an idle worker as a crash would (tests); refused while a run is in flight (see release). */
  async kill(): Promise<void> {
    if (this.#pending.size > 0) throw new Error('a run is in flight');
    await this.#worker?.terminate();
  }

  #watch(worker: Worker): void {
    worker.on('message', (reply: SessionReply) => {
      if (reply.kind !== 'result' && reply.kind !== 'error') return;
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return;
      this.#pending.delete(reply.id);
      if (reply.kind === 'error') {
        if (pending.slot !== null) pending.slot.leases = 0;
        pending.reject(new Error(reply.message));
      } else pending.resolve(this.#outputs(reply, pending.slot));
    });
    const fail = (err: Error) => {
      if (this.#worker === worker) this.#worker = null;
      for (const [id, pending] of this.#pending) {
        this.#pending.delete(id);
        if (pending.slot !== null) pending.slot.leases = 0;
        pending.reject(err);
      }
    };
    worker.on('error', (err) => fail(new Error(`the model's worker thread failed: ${err.message}`)));
    worker.on('exit', (code) => fail(new Error(`the model's worker thread ended (exit code ${code})`)));
  }

  #restart(): Promise<Worker> {
    this.#starting ??= spawn(this.#data)
      .then(({ worker }) => {
        this.#starts++;
        if (this.#released) {
          worker.terminate().catch(() => {});
          throw new Error('the session was released');
        }
        this.#worker = worker;
        this.#watch(worker);
        return worker;
      })
      .finally(() => (this.#starting = null));
    return this.#starting;
  }
}

function spawn(data: SessionThreadData): Promise<{ worker: Worker; ready: Ready }> {
  const worker = new Worker(THREAD, { workerData: data, stdout: false, stderr: false });
  return new Promise((resolve, reject) => {
    const onMessage = (reply: SessionReply) => {
      if (reply.kind === 'ready') {
        settle();
        resolve({ worker, ready: reply });
      } else if (reply.kind === 'failed') {
        settle();
        worker.terminate().catch(() => {});
        reject(new Error(reply.message));
      }
    };
    const onError = (err: Error) => {
      settle();
      reject(err);
    };
    const onExit = (code: number) => {
      settle();
      reject(new Error(`the model's worker thread ended before the session opened (exit code ${code})`));
    };
    const settle = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

/** The dims of an output whose shape the model fixes, or null (dynamic, or not a tensor). */
export function fixedShape(meta: ort.InferenceSession.ValueMetadata): number[] | null {
  if (!meta.isTensor || !(meta.type in SHARED_ARRAYS)) return null;
  const shape = meta.shape as readonly unknown[];
  return shape.every((d) => typeof d === 'number' && d > 0) ? (shape as number[]) : null;
}

/** Output element types that can be placed in shared memory, with the typed array of each. */
export const SHARED_ARRAYS = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
} as const;
export type SharedType = keyof typeof SHARED_ARRAYS;

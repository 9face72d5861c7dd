import type { Detections } from '@sightline/schemas';

/** An object as the frame's detections message carried it. */
export type RecentObject = Detections['objects'][number];

/** A frame the lane saw: the JPEG as received, and what was found in it. */
export interface RecentFrame {
  camera: string;
  seq: number;
  capturedAt: number;
  /** The JPEG exactly as it came off the bus (metadata segment included): never decoded here. */
  jpeg: Buffer;
  /** The objects published for it, in their order (best score first). */
  objects: RecentObject[];
}

export interface RecentFramesLimits {
  /** Frames kept per camera (0: none, learning from recent frames is off). */
  framesPerCamera: number;
  /** Bytes of all cameras' frames together. */
  maxBytes: number;
}

interface Held {
  frame: RecentFrame;
  bytes: number;
  /** Insertion order across all cameras: the byte bound drops the oldest frame of any camera. */
  order: number;
}

/** What an object costs beside its JPEG: its label strings, numbers and object overhead, roughly. */
const OBJECT_BYTES = 256;
const FRAME_OVERHEAD_BYTES = 256;

/**
 * The last frames of each camera the service ran, with the objects found in them, so a frame the
 * lane talked about (a scan, a "not recognised") can be taught to a product afterwards by its
 * camera and seq. Cheap: the JPEG buffer is kept as received, nothing is decoded.
 *
 * Bounded by `framesPerCamera` per camera and by `maxBytes` for all cameras together (past it the
 * oldest frame of any camera goes first). The cameras are the ones the service serves, which are
 * bounded already; the service calls `forget` when it stops serving one. A camera whose seq goes
 * backwards restarted: its earlier frames are another stream, and are dropped.
 */
export class RecentFrames {
  readonly #limits: RecentFramesLimits;
  readonly #cameras = new Map<string, Held[]>();
  #bytes = 0;
  #count = 0;
  #order = 0;

  constructor(limits: RecentFramesLimits) {
    this.#limits = limits;
  }

  get limits(): RecentFramesLimits {
    return this.#limits;
  }

  /** Frames held, all cameras. */
  get count(): number {
    return this.#count;
  }

  /** Bytes held (JPEGs plus a rough figure for their objects), all cameras. */
  get bytes(): number {
    return this.#bytes;
  }

  cameras(): string[] {
    return [...this.#cameras.keys()];
  }

  /** Keeps the frame; false when it alone is over the byte bound, or frames are off. */
  add(frame: RecentFrame): boolean {
    const bytes = frameBytes(frame);
    if (this.#limits.framesPerCamera === 0 || bytes > this.#limits.maxBytes) return false;
    // The JPEG may be a view into a larger buffer the MQTT client read several packets into:
    // holding the view would hold all of it, unaccounted. Such a frame is copied (a memcpy).
    const jpeg = frame.jpeg.byteOffset === 0 && frame.jpeg.buffer.byteLength === frame.jpeg.length ? frame.jpeg : ownCopy(frame.jpeg);
    let held = this.#cameras.get(frame.camera);
    const last = held?.at(-1);
    if (held !== undefined && last !== undefined && frame.seq <= last.frame.seq) {
      this.#drop(frame.camera, held.length);
      held = undefined;
    }
    if (held === undefined) {
      held = [];
      this.#cameras.set(frame.camera, held);
    }
    held.push({ frame: { ...frame, jpeg }, bytes, order: this.#order++ });
    this.#bytes += bytes;
    this.#count += 1;
    if (held.length > this.#limits.framesPerCamera) this.#drop(frame.camera, held.length - this.#limits.framesPerCamera);
    while (this.#bytes > this.#limits.maxBytes) this.#dropOldest();
    return true;
  }

  /** The frame of that camera and seq, while it is held. */
  get(camera: string, seq: number): RecentFrame | undefined {
    const held = this.#cameras.get(camera);
    if (held === undefined) return undefined;
    // Seqs only grow within a camera's ring: a binary search.
    let lo = 0;
    let hi = held.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const at = held[mid]!.frame.seq;
      if (at === seq) return held[mid]!.frame;
      if (at < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** The seqs held for a camera, oldest first (for messages and tests). */
  range(camera: string): { first: number; last: number; frames: number } | null {
    const held = this.#cameras.get(camera);
    if (held === undefined || held.length === 0) return null;
    return { first: held[0]!.frame.seq, last: held.at(-1)!.frame.seq, frames: held.length };
  }

  /** Drops every frame of a camera the service no longer serves. */
  forget(camera: string): void {
    const held = this.#cameras.get(camera);
    if (held !== undefined) this.#drop(camera, held.length);
  }

  clear(): void {
    this.#cameras.clear();
    this.#bytes = 0;
    this.#count = 0;
  }

  /** Drops the `n` oldest frames of a camera (and the camera, when none is left). */
  #drop(camera: string, n: number): void {
    const held = this.#cameras.get(camera);
    if (held === undefined) return;
    for (const gone of held.splice(0, n)) {
      this.#bytes -= gone.bytes;
      this.#count -= 1;
    }
    if (held.length === 0) this.#cameras.delete(camera);
  }

  /** The oldest frame of any camera: each camera's first is its oldest, so one look per camera. */
  #dropOldest(): void {
    let oldest: string | undefined;
    let order = Number.POSITIVE_INFINITY;
    for (const [camera, held] of this.#cameras) {
      const first = held[0];
      if (first !== undefined && first.order < order) {
        order = first.order;
        oldest = camera;
      }
    }
    if (oldest === undefined) return;
    this.#drop(oldest, 1);
  }
}

/** A copy with an ArrayBuffer of its own (Buffer.from may place a small one in the shared pool). */
function ownCopy(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}

function frameBytes(frame: RecentFrame): number {
  return frame.jpeg.length + FRAME_OVERHEAD_BYTES + frame.objects.length * OBJECT_BYTES;
}

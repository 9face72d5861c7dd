import { BoundedMap, type EvictionReason, type Logger } from '@sightline/kit';
import type { Detections } from '@sightline/schemas';
import type { Registry } from 'prom-client';

export type Reason = 'alert' | 'uncertain' | 'sample';
export const REASONS: readonly Reason[] = ['alert', 'uncertain', 'sample'];
const HOUR_MS = 3600_000;

/** What the selection keeps of a detections message: enough for the decision and the blob's metadata. */
export interface DetectionSummary {
  labels: string[];
  /** Each label's best score in the frame, in the order of `labels`. */
  scores: number[];
  bestScore: number | null;
  model: { id: string; version: string };
}

export function summarize(detections: Detections): DetectionSummary {
  const best = new Map<string, number>();
  for (const { label, score } of detections.objects) best.set(label, Math.max(score, best.get(label) ?? 0));
  return { labels: [...best.keys()], scores: [...best.values()], bestScore: bestScore(detections), model: detections.model };
}

/** Rough bytes a summary holds (strings at two bytes a character, plus the objects). */
export function summaryBytes(summary: DetectionSummary): number {
  let chars = summary.model.id.length + summary.model.version.length;
  for (const label of summary.labels) chars += label.length;
  return 2 * chars + 72 * (summary.labels.length + 2);
}

export interface RingFrame {
  camera: string;
  seq: number;
  capturedAt: number;
  jpeg: Buffer;
  detections?: DetectionSummary;
}

export interface RingLimits {
  /** Frames kept per camera. */
  frames: number;
  /** Bytes kept per camera. */
  bytes: number;
  /** Cameras held at once: a camera beyond them is refused until one goes idle. */
  cameras?: number;
  /** Bytes of all cameras together: past it, the ring of the camera that sent least recently goes. */
  totalBytes?: number;
  /** A camera that sent nothing for this long is forgotten, its ring with it. */
  idleMs?: number;
  now?: () => number;
  registry?: Registry;
  logger?: Logger;
  /** A camera's ring was dropped (idle, or the total byte bound); not called for refused cameras. */
  onForget?: (camera: string, reason: EvictionReason) => void;
  /** A camera was refused: the cap was reached. */
  onRefuse?: (camera: string) => void;
}

interface Ring {
  frames: RingFrame[];
  bytes: number;
}

/**
 * The last frames of each camera, bounded by count and by bytes per camera, so detections and
 * alert snapshots (which arrive after their frame) can be paired with the JPEG by seq. The
 * cameras themselves are bounded too (the ids come from the network): at most `cameras` at
 * once, forgotten after `idleMs` without a frame, and all rings together within `totalBytes`.
 */
export class FrameRing {
  private readonly cameras: BoundedMap<string, Ring>;
  private readonly maxFrames: number;
  private readonly maxBytes: number;

  constructor(limits: RingLimits) {
    this.maxFrames = limits.frames;
    this.maxBytes = limits.bytes;
    this.cameras = new BoundedMap<string, Ring>({
      name: 'sync-frame-rings',
      maxEntries: limits.cameras ?? 64,
      maxBytes: limits.totalBytes ?? Number.POSITIVE_INFINITY,
      sizeOf: (ring) => ring.bytes,
      idleMs: limits.idleMs ?? Number.POSITIVE_INFINITY,
      whenFull: 'refuse-new',
      ...(limits.now !== undefined ? { now: limits.now } : {}),
      ...(limits.registry !== undefined ? { registry: limits.registry } : {}),
      ...(limits.logger !== undefined ? { logger: limits.logger } : {}),
      onEvict: (camera, _ring, reason) => (reason === 'refused' ? limits.onRefuse?.(camera) : limits.onForget?.(camera, reason)),
    });
  }

  /** Keeps the frame; false when its camera is new and the cameras are at their cap. */
  add(frame: RingFrame): boolean {
    let ring = this.cameras.get(frame.camera);
    if (ring === undefined) {
      ring = { frames: [], bytes: 0 };
      if (!this.cameras.set(frame.camera, ring)) return false;
    }
    // A camera that restarts counts seq from 0 again: what it had before is another stream.
    const last = ring.frames.at(-1);
    if (last !== undefined && frame.seq <= last.seq) {
      ring.frames = [];
      ring.bytes = 0;
    }
    ring.frames.push(frame);
    ring.bytes += frameBytes(frame);
    while (ring.frames.length > this.maxFrames || (ring.bytes > this.maxBytes && ring.frames.length > 1)) {
      ring.bytes -= frameBytes(ring.frames.shift()!);
    }
    this.cameras.resize(frame.camera);
    return this.cameras.peek(frame.camera) === ring;
  }

  /** Whether a frame of this camera would be kept now (it is held, or there is room for it). */
  accepts(camera: string): boolean {
    return this.cameras.has(camera) || this.cameras.size < this.cameras.maxEntries;
  }

  find(camera: string, seq: number): RingFrame | undefined {
    return this.cameras.peek(camera)?.frames.find((f) => f.seq === seq);
  }

  /** Attaches the detections to their frame when it is held; returns the frame. */
  pair(camera: string, seq: number, detections: DetectionSummary): RingFrame | undefined {
    const ring = this.cameras.peek(camera);
    const frame = ring?.frames.find((f) => f.seq === seq);
    if (ring === undefined || frame === undefined) return undefined;
    ring.bytes -= frameBytes(frame);
    frame.detections = detections;
    ring.bytes += frameBytes(frame);
    this.cameras.resize(camera);
    return frame;
  }

  size(camera: string): { frames: number; bytes: number } {
    const ring = this.cameras.peek(camera);
    return { frames: ring?.frames.length ?? 0, bytes: ring?.bytes ?? 0 };
  }

  /** Bytes held by every camera's ring. */
  get bytes(): number {
    return this.cameras.bytes;
  }

  /** Cameras held. */
  get count(): number {
    return this.cameras.size;
  }
}

function frameBytes(frame: RingFrame): number {
  return frame.jpeg.length + (frame.detections === undefined ? 0 : summaryBytes(frame.detections));
}

export interface SelectionSettings {
  uncertainMin: number;
  uncertainMax: number;
  samplesPerHour: number;
  maxUploadsPerHour: number;
}

export function bestScore(detections: Detections | undefined): number | null {
  if (detections === undefined || detections.objects.length === 0) return null;
  return Math.max(...detections.objects.map((o) => o.score));
}

/**
 * Which frames go to the cloud. Alert snapshots always do (they count toward the hourly cap but
 * are never refused by it: they are what a person will look at). Frames whose best score falls in
 * the uncertainty band, and a few samples per camera per hour spread over the hour, go while
 * fewer than `maxUploadsPerHour` images were selected in the current hour.
 */
export class SelectionPolicy {
  private readonly settings: SelectionSettings;
  private hour = -1;
  private selectedThisHour = 0;
  /** The sample slot each camera last filled; a camera quiet for an hour has nothing to remember. */
  private readonly samples: BoundedMap<string, number>;

  constructor(settings: SelectionSettings, limits: { cameras?: number; now?: () => number; registry?: Registry; logger?: Logger } = {}) {
    this.settings = settings;
    this.samples = new BoundedMap({
      name: 'sync-samples',
      maxEntries: limits.cameras ?? 64,
      idleMs: HOUR_MS,
      ...(limits.now !== undefined ? { now: limits.now } : {}),
      ...(limits.registry !== undefined ? { registry: limits.registry } : {}),
      ...(limits.logger !== undefined ? { logger: limits.logger } : {}),
    });
  }

  isUncertain(detections: DetectionSummary | Detections): boolean {
    const score = 'bestScore' in detections ? detections.bestScore : bestScore(detections);
    return score !== null && this.inBand(score);
  }

  /** Whether a score falls in the uncertainty band (inclusive). */
  inBand(score: number): boolean {
    return score >= this.settings.uncertainMin && score <= this.settings.uncertainMax;
  }

  /**
   * The hour is cut into `samplesPerHour` equal slots; a sample is due in a slot the camera has not
   * filled yet. One per slot, never a catch-up: a camera that starts at 23:45 is not sampled twice in
   * a row for the slots it missed.
   */
  sampleDue(camera: string, capturedAt: number): boolean {
    if (this.settings.samplesPerHour === 0) return false;
    return this.samples.peek(camera) !== this.slotOf(capturedAt);
  }

  takeSample(camera: string, capturedAt: number): void {
    this.samples.set(camera, this.slotOf(capturedAt));
  }

  private slotOf(capturedAt: number): number {
    return Math.floor(capturedAt / (HOUR_MS / this.settings.samplesPerHour));
  }

  /** Whether the hourly cap lets one more image of this reason through; counts it when it does. */
  admit(reason: Reason, now: number): boolean {
    const hour = Math.floor(now / HOUR_MS);
    if (hour !== this.hour) {
      this.hour = hour;
      this.selectedThisHour = 0;
    }
    if (reason !== 'alert' && this.selectedThisHour >= this.settings.maxUploadsPerHour) return false;
    this.selectedThisHour += 1;
    return true;
  }
}

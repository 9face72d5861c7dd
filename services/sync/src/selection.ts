import type { Detections } from '@sightline/schemas';

export type Reason = 'alert' | 'uncertain' | 'sample';
export const REASONS: readonly Reason[] = ['alert', 'uncertain', 'sample'];

export interface RingFrame {
  camera: string;
  seq: number;
  capturedAt: number;
  jpeg: Buffer;
  detections?: Detections;
}

/**
 * The last frames of each camera, bounded by count and by bytes per camera, so detections and
 * alert snapshots (which arrive after their frame) can be paired with the JPEG by seq.
 */
export class FrameRing {
  private readonly cameras = new Map<string, { frames: RingFrame[]; bytes: number }>();
  private readonly maxFrames: number;
  private readonly maxBytes: number;

  constructor(limits: { frames: number; bytes: number }) {
    this.maxFrames = limits.frames;
    this.maxBytes = limits.bytes;
  }

  add(frame: RingFrame): void {
    let ring = this.cameras.get(frame.camera);
    if (ring === undefined) {
      ring = { frames: [], bytes: 0 };
      this.cameras.set(frame.camera, ring);
    }
    // A camera that restarts counts seq from 0 again: what it had before is another stream.
    const last = ring.frames.at(-1);
    if (last !== undefined && frame.seq <= last.seq) {
      ring.frames = [];
      ring.bytes = 0;
    }
    ring.frames.push(frame);
    ring.bytes += frame.jpeg.length;
    while (ring.frames.length > this.maxFrames || (ring.bytes > this.maxBytes && ring.frames.length > 1)) {
      ring.bytes -= ring.frames.shift()!.jpeg.length;
    }
  }

  find(camera: string, seq: number): RingFrame | undefined {
    return this.cameras.get(camera)?.frames.find((f) => f.seq === seq);
  }

  size(camera: string): { frames: number; bytes: number } {
    const ring = this.cameras.get(camera);
    return { frames: ring?.frames.length ?? 0, bytes: ring?.bytes ?? 0 };
  }
}

export interface SelectionSettings {
  uncertainMin: number;
  uncertainMax: number;
  samplesPerHour: number;
  maxUploadsPerHour: number;
}

const HOUR_MS = 3600_000;

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
  private readonly samples = new Map<string, { hour: number; taken: number }>();

  constructor(settings: SelectionSettings) {
    this.settings = settings;
  }

  isUncertain(detections: Detections): boolean {
    const score = bestScore(detections);
    return score !== null && score >= this.settings.uncertainMin && score <= this.settings.uncertainMax;
  }

  /** A sample is due when the frame is past the next of `samplesPerHour` evenly spaced points in its hour. */
  sampleDue(camera: string, capturedAt: number): boolean {
    if (this.settings.samplesPerHour === 0) return false;
    const hour = Math.floor(capturedAt / HOUR_MS);
    const state = this.samples.get(camera);
    const taken = state !== undefined && state.hour === hour ? state.taken : 0;
    if (taken >= this.settings.samplesPerHour) return false;
    const due = hour * HOUR_MS + (taken * HOUR_MS) / this.settings.samplesPerHour;
    return capturedAt >= due;
  }

  takeSample(camera: string, capturedAt: number): void {
    const hour = Math.floor(capturedAt / HOUR_MS);
    const state = this.samples.get(camera);
    if (state !== undefined && state.hour === hour) state.taken += 1;
    else this.samples.set(camera, { hour, taken: 1 });
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

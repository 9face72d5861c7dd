import type { Trouble } from '@sightline/schemas';

/** A lane's camera as capture reports it; `unknown` before any status. */
export type CameraView = 'online' | 'offline' | 'unknown';

export interface TroubleInputs {
  /** What capture says of the lane's camera (`offline` too while capture itself is), or `unknown`. */
  camera: CameraView;
  inferenceOffline: boolean;
}

/**
 * What is wrong with a lane's inputs (camera, item recognition, scale), judged from what capture
 * and inference say and from the silence of the detections and the scale. Clock-driven.
 */
export class TroubleWatch {
  readonly #scale: boolean;
  readonly #cameraTimeoutMs: number;
  readonly #scaleTimeoutMs: number;
  readonly #startedAt: number;
  readonly #active = new Set<Trouble>();
  #lastDetectionsAt: number | null = null;
  /** When this lane last saw its camera's status turn online (null while it is not). */
  #cameraOnlineAt: number | null = null;
  #lastReadingAt: number | null = null;

  constructor(settings: { scale: boolean; cameraTimeoutMs: number; scaleTimeoutMs: number }, now: number) {
    this.#scale = settings.scale;
    this.#cameraTimeoutMs = settings.cameraTimeoutMs;
    this.#scaleTimeoutMs = settings.scaleTimeoutMs;
    this.#startedAt = now;
  }

  detections(now: number): void {
    this.#lastDetectionsAt = now;
  }

  reading(now: number): void {
    this.#lastReadingAt = now;
  }

  /** Each problem that began or ended since the last tick. */
  tick(now: number, inputs: TroubleInputs): Array<{ problem: Trouble; active: boolean }> {
    if (inputs.camera !== 'online') this.#cameraOnlineAt = null;
    else this.#cameraOnlineAt ??= now;
    const silentSince = Math.max(this.#lastDetectionsAt ?? this.#startedAt, this.#cameraOnlineAt ?? 0);
    const detectionsStale = now - silentSince >= this.#cameraTimeoutMs;
    const changes: Array<{ problem: Trouble; active: boolean }> = [];
    const set = (problem: Trouble, active: boolean) => {
      if (active === this.#active.has(problem)) return;
      if (active) this.#active.add(problem);
      else this.#active.delete(problem);
      changes.push({ problem, active });
    };
    // A camera capture reports online that yields no detections is item recognition not working;
    // only a camera capture never reported is judged by the silence alone.
    set('inference-offline', inputs.inferenceOffline || (inputs.camera === 'online' && detectionsStale));
    set('camera-offline', inputs.camera === 'offline' || (inputs.camera === 'unknown' && detectionsStale && !inputs.inferenceOffline));
    set('scale-offline', this.#scale && now - (this.#lastReadingAt ?? this.#startedAt) >= this.#scaleTimeoutMs);
    return changes;
  }

  active(): Trouble[] {
    return [...this.#active];
  }
}

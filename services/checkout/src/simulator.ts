import type { CatalogIndex } from '@sightline/catalog';
import { boxCentre, insidePolygon, normaliseLabel, type Detections, type WeightReading } from '@sightline/schemas';
import type { LaneConfig } from './config.ts';
import { roundGrams } from './pricing.ts';

export interface SimulatorOptions {
  lanes: readonly LaneConfig[];
  catalog: CatalogIndex;
  /** Publishes one reading on the lane's weight channel (through the broker, like a real adapter). */
  publish: (lane: string, reading: WeightReading) => Promise<unknown>;
  now: () => number;
  random?: () => number;
  onError?: (err: unknown) => void;
  settleMs?: number;
  /** A product must be gone this long before the simulated weight drops (detections flicker). */
  holdMs?: number;
  changingIntervalMs?: number;
  steadyIntervalMs?: number;
}

interface SimLane {
  config: LaneConfig;
  /** What is in the zone now, in grams. */
  target: number;
  /** What the latest frame showed. */
  seen: number;
  /** When a frame last showed something. */
  lastNonZeroAt: number;
  from: number;
  to: number;
  changedAt: number;
  lastPublishedAt: number;
  /** The settled value went out (the first reading after a change has finished). */
  settledSent: boolean;
}

/**
 * A scale for the dev stack: follows what each lane's camera sees and publishes the weight a real
 * scale would report, as a real adapter would (the weight channel, through the broker). A product
 * in the zone weighs the middle of its expected range x how many there are; the reading swings
 * with shrinking noise for `settleMs`, then holds (tiny noise, well inside the tolerance).
 * Readings go out at ~10 Hz while changing and ~2 Hz when steady.
 */
export class ScaleSimulator {
  readonly #options: Required<Omit<SimulatorOptions, 'onError'>> & Pick<SimulatorOptions, 'onError'>;
  readonly #lanes = new Map<string, SimLane>();
  #timer: NodeJS.Timeout | null = null;

  constructor(options: SimulatorOptions) {
    this.#options = { random: Math.random, settleMs: 300, holdMs: 500, changingIntervalMs: 100, steadyIntervalMs: 500, ...options };
    const now = options.now();
    for (const config of options.lanes) {
      if (!config.scale) continue;
      this.#lanes.set(config.id, {
        config,
        target: 0,
        seen: 0,
        lastNonZeroAt: -Infinity,
        from: 0,
        to: 0,
        changedAt: now - 10_000,
        lastPublishedAt: -Infinity,
        settledSent: false,
      });
    }
  }

  start(): void {
    this.#timer ??= setInterval(() => this.tick(), this.#options.changingIntervalMs);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** The grams a lane's camera frame implies. */
  weighFrame(config: LaneConfig, detections: Detections): number {
    let grams = 0;
    for (const object of detections.objects) {
      if (!insidePolygon(boxCentre(object.box), config.zone)) continue;
      const label = normaliseLabel(object.label);
      if (config.tuning.ignoreLabels.includes(label)) continue;
      const product = this.#options.catalog.byLabel(label);
      if (!product || object.score < (product.threshold ?? config.tuning.scoreThreshold)) continue;
      grams += (product.weight.min + product.weight.max) / 2;
    }
    return roundGrams(grams);
  }

  onDetections(camera: string, detections: Detections): void {
    const now = this.#options.now();
    for (const lane of this.#lanes.values()) {
      if (lane.config.camera !== camera) continue;
      const grams = this.weighFrame(lane.config, detections);
      lane.seen = grams;
      if (grams > 0) lane.lastNonZeroAt = now;
    }
    this.tick();
  }

  tick(): void {
    const now = this.#options.now();
    for (const lane of this.#lanes.values()) {
      // Up (or to another item) at once; down to empty only once the zone has stayed clear.
      if (lane.seen > 0 || now - lane.lastNonZeroAt >= this.#options.holdMs) lane.target = lane.seen;
      if (Math.abs(lane.target - lane.to) > 0.5) {
        lane.from = this.#value(lane, now);
        lane.to = lane.target;
        lane.changedAt = now;
        lane.lastPublishedAt = -Infinity;
        lane.settledSent = false;
      }
      const changing = now - lane.changedAt < this.#options.settleMs;
      const interval = changing ? this.#options.changingIntervalMs : this.#options.steadyIntervalMs;
      const settledNow = !changing && !lane.settledSent;
      if (settledNow) lane.settledSent = true;
      if (!settledNow && now - lane.lastPublishedAt < interval * 0.9) continue;
      lane.lastPublishedAt = now;
      const grams = this.#value(lane, now);
      this.#options.publish(lane.config.id, { grams, at: now }).catch((err: unknown) => this.#options.onError?.(err));
    }
  }

  #value(lane: SimLane, now: number): number {
    const progress = Math.min(1, (now - lane.changedAt) / this.#options.settleMs);
    const swing = (this.#options.random() - 0.5) * 2;
    let grams: number;
    if (progress < 1) {
      // overshoot and wobble, shrinking to nothing as the pan settles
      const span = Math.abs(lane.to - lane.from);
      grams = lane.to + (lane.from - lane.to) * (1 - progress) ** 2 + swing * Math.max(3, span * 0.05) * (1 - progress);
    } else {
      grams = lane.to === 0 ? 0 : lane.to + swing * 0.3;
    }
    return Math.max(0, roundGrams(grams));
  }
}

import type { Logger } from '@sightline/kit';
import type { Detections, FrameRef, LaneEvent, Product, ProductRef } from '@sightline/schemas';
import type { LaneConfig } from './config.ts';
import type { CheckoutMetrics } from './metrics.ts';
import { expectedRange, gramsToMilligrams, pricePerKg, pricePerUnit, withinRange } from './pricing.ts';
import { WeightSettler } from './scale.ts';
import type { Occupancy, ScanDecision } from './scan-zone.ts';

type DistributiveOmit<T, K extends keyof never> = T extends unknown ? Omit<T, K> : never;
/** A lane event as its parts tell it; the lane adds the id, lane, locale and time. */
export type EventBody = DistributiveOmit<LaneEvent, 'id' | 'lane' | 'locale' | 'at'>;

/** A product the camera decided to scan, waiting for its weight (or for the scale to stay empty). */
export interface Pending {
  product: Product;
  label: string;
  /** Items charged (per-unit); 1 for goods sold by weight. */
  quantity: number;
  /** Items the camera counted, for the expected weight. */
  counted: number;
  confidence: number;
  seq: number;
  capturedAt: number;
  decidedAt: number;
  prompted: boolean;
}

/** A pending product weighed (or counted) and priced. */
export interface Sale {
  pending: Pending;
  weightGrams: number | null;
  priceMinor: number;
  /** The grams on the scale paid for once this is in the basket. */
  accountedGrams: number;
}

/** Why a sale did not enter the basket. */
export interface Refusal {
  reason: 'basket-full' | 'over-limit';
  why: string;
}

/** What weighing needs of its lane, which owns the scan zone, the basket, the stored state and the outputs. */
export interface WeighingLane {
  /** Puts the sale in the basket, saved before it is published; the refusal when it cannot. */
  sell(sale: Sale): Refusal | null;
  /** What the scan zone holds, to tell whose a new weight is when no product waits for one. */
  occupancy(): Occupancy;
  emit(body: EventBody): void;
  ref(product: Product, label: string): ProductRef;
  /** The grams paid for changed without a sale: the stored state must be saved. */
  changed(): void;
}

export interface WeighingDeps {
  config: LaneConfig;
  metrics: CheckoutMetrics;
  logger: Pick<Logger, 'info' | 'warn'>;
  now: () => number;
  lane: WeighingLane;
  /** Grams paid for and still on the scale, as stored before a restart. */
  accountedGrams: number;
}

/**
 * A lane's weighing: a product the camera decided to scan waits here for the scale to settle on
 * its weight, then is priced and charged, given up, or refused on a weight mismatch. Keeps the
 * grams on the scale already paid for, so items left on it are never charged twice.
 */
export class Weighing {
  readonly #config: LaneConfig;
  readonly #metrics: CheckoutMetrics;
  readonly #log: Pick<Logger, 'info' | 'warn'>;
  readonly #now: () => number;
  readonly #lane: WeighingLane;
  readonly #settler: WeightSettler;
  #accountedGrams: number;
  #pending: Pending | null = null;
  #unmatchedEpisode = 0;

  constructor({ config, metrics, logger, now, lane, accountedGrams }: WeighingDeps) {
    this.#config = config;
    this.#metrics = metrics;
    this.#log = logger;
    this.#now = now;
    this.#lane = lane;
    this.#settler = new WeightSettler(config.tuning.toleranceGrams, config.tuning.settleMs);
    this.#accountedGrams = accountedGrams;
  }

  get accountedGrams(): number {
    return this.#accountedGrams;
  }

  /** Whether a product waits for its weight. */
  get busy(): boolean {
    return this.#pending !== null;
  }

  /** The last reading, settled or not. */
  get latestGrams(): number | null {
    return this.#settler.latest;
  }

  /** Weighs a product whose scan the zone decided in `frame`; a product still waiting is abandoned. */
  weigh(product: Product, decision: ScanDecision, frame: Pick<Detections, 'seq' | 'capturedAt'>): void {
    this.cancel(`${product.sku} came into view`);
    this.#pending = {
      product,
      label: decision.label,
      quantity: product.price.per === 'unit' ? decision.counted : 1,
      counted: decision.counted,
      confidence: decision.confidence,
      seq: frame.seq,
      capturedAt: frame.capturedAt,
      decidedAt: this.#now(),
      prompted: false,
    };
    this.#resolve();
  }

  reading(grams: number, stable: boolean | undefined, at: number): void {
    if (grams < this.#config.tuning.minGrams && this.#accountedGrams !== 0) {
      // The scale is empty: nothing on it is paid for any more.
      this.#setAccounted(0);
    }
    const settled = this.#settler.add(grams, at, stable);
    if (settled) this.#onSettled(settled.grams, settled.episode);
    this.#resolve();
  }

  /** Settling by time, and giving up on a weight that does not come. */
  tick(at: number): void {
    const settled = this.#settler.check(at);
    if (settled) this.#onSettled(settled.grams, settled.episode);
    this.#resolve();
  }

  cancel(why: string): void {
    if (!this.#pending) return;
    this.#log.info({ lane: this.#config.id, sku: this.#pending.product.sku, why }, 'weighing abandoned: not charged');
    this.#pending = null;
  }

  /** Grams on the scale not yet paid for, when the scale has settled on at least the minimum. */
  #unpaidGrams(): number | null {
    const settled = this.#settler.settled;
    if (!settled) return null;
    const grams = Number(gramsToMilligrams(settled.grams) - gramsToMilligrams(Math.min(this.#accountedGrams, settled.grams))) / 1000;
    return grams >= this.#config.tuning.minGrams ? grams : null;
  }

  #resolve(): void {
    const pending = this.#pending;
    if (!pending) return;
    const { tuning } = this.#config;
    const { product } = pending;
    if (!this.#config.scale) {
      if (product.price.per === 'unit') this.#charge(pending, null);
      else this.#giveUp(pending, 'no-scale', 'this lane has no scale to weigh it');
      return;
    }
    const grams = this.#unpaidGrams();
    if (grams !== null) {
      const expected = expectedRange(product.weight, pending.counted, tuning.toleranceGrams);
      if (withinRange(grams, expected)) {
        this.#charge(pending, grams);
        return;
      }
      this.#pending = null;
      this.#metrics.weightMismatches.inc({ lane: this.#config.id });
      this.#log.warn({ lane: this.#config.id, sku: product.sku, grams, expected, counted: pending.counted }, 'weight mismatch: not charged');
      this.#lane.emit({
        type: 'weight-mismatch',
        product: this.#lane.ref(product, pending.label),
        weightGrams: grams,
        expected,
        frame: this.#frameOf(pending),
      });
      return;
    }
    const waited = this.#now() - pending.decidedAt;
    if (product.price.per === 'unit') {
      const latest = this.#settler.latest;
      const nothingNewOnScale = latest === null || latest - this.#accountedGrams < tuning.minGrams;
      if (waited >= tuning.placeWaitMs && nothingNewOnScale) this.#charge(pending, null);
      else if (waited >= tuning.weightTimeoutMs) this.#giveUp(pending, 'weight-timeout', 'the scale did not settle');
      return;
    }
    if (!pending.prompted && waited >= tuning.placeWaitMs) {
      pending.prompted = true;
      this.#lane.emit({ type: 'place-on-scale', product: this.#lane.ref(product, pending.label) });
    }
    if (waited >= tuning.weightTimeoutMs) this.#giveUp(pending, 'weight-timeout', 'no weight on the scale');
  }

  #charge(pending: Pending, grams: number | null): void {
    this.#pending = null;
    const { price } = pending.product;
    const priceMinor = price.per === 'kg' ? pricePerKg(grams ?? 0, price.minor) : pricePerUnit(pending.quantity, price.minor);
    const accountedGrams = grams !== null ? (this.#settler.settled?.grams ?? this.#accountedGrams) : this.#accountedGrams;
    const refusal = this.#lane.sell({ pending, weightGrams: grams, priceMinor, accountedGrams });
    if (refusal) this.#giveUp(pending, refusal.reason, refusal.why);
    else this.#accountedGrams = accountedGrams;
  }

  #giveUp(pending: Pending, reason: 'no-scale' | 'weight-timeout' | Refusal['reason'], why: string): void {
    this.#pending = null;
    this.#metrics.notRecognised.inc({ lane: this.#config.id, reason });
    this.#log.warn({ lane: this.#config.id, sku: pending.product.sku, reason }, `not charged: ${why}`);
    this.#lane.emit({ type: 'not-recognised', camera: this.#config.camera, label: pending.label.slice(0, 256), frame: this.#frameOf(pending) });
  }

  /** The frame that completed the scan decision. */
  #frameOf(pending: Pending): FrameRef {
    return { camera: this.#config.camera, seq: pending.seq, capturedAt: pending.capturedAt };
  }

  #onSettled(grams: number, episode: number): void {
    const { minGrams, toleranceGrams } = this.#config.tuning;
    if (grams < minGrams) {
      this.#setAccounted(0);
      return;
    }
    if (grams < this.#accountedGrams - toleranceGrams) this.#setAccounted(grams);
    if (this.#pending) return;
    const unpaid = grams - this.#accountedGrams;
    if (unpaid < minGrams) return;
    const occupancy = this.#lane.occupancy();
    if (occupancy === 'empty') {
      if (this.#unmatchedEpisode !== episode) {
        this.#unmatchedEpisode = episode;
        this.#metrics.unmatchedWeights.inc({ lane: this.#config.id });
        this.#log.warn({ lane: this.#config.id, grams, unpaid }, 'weight on the scale with no item in the scan zone: nothing charged');
      }
      return;
    }
    // Everything in view is already scanned, announced or refused: this weight is theirs.
    if (occupancy === 'decided') this.#setAccounted(grams);
  }

  #setAccounted(grams: number): void {
    if (this.#accountedGrams === grams) return;
    this.#accountedGrams = grams;
    this.#lane.changed();
  }
}

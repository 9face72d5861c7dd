import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { CatalogIndex } from '@sightline/catalog';
import { BoundedMap, type Logger } from '@sightline/kit';
import { boxCentre, insidePolygon, normaliseLabel, type Basket, type FrameRef, type BasketCommand, type BasketItem, type Detections, type LaneEvent, type Product, type ProductRef, type Scan, type Trouble } from '@sightline/schemas';
import { MAX_BASKET_ITEMS, newBasket, summary, withItems } from './basket.ts';
import type { LaneConfig } from './config.ts';
import type { CheckoutMetrics } from './metrics.ts';
import { expectedRange, gramsToMilligrams, pricePerKg, pricePerUnit, withinRange } from './pricing.ts';
import { WeightSettler } from './scale.ts';
import { MAX_LABEL_KEY_CHARS, UnstorableStateError, type LaneMemory, type LaneStore, type Quarantined, type StoredLane } from './store.ts';

/** Where a lane's results go (the app publishes them on the bus). Called after the state is saved. */
export interface LaneOutput {
  scan(scan: Scan, basket: Basket): void;
  event(event: LaneEvent): void;
  basket(basket: Basket): void;
}

export type LaneLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

type DistributiveOmit<T, K extends keyof never> = T extends unknown ? Omit<T, K> : never;
type EventBody = DistributiveOmit<LaneEvent, 'id' | 'lane' | 'locale' | 'at'>;

/**
 * One product (or one unknown label) seen in the zone, from its first sighting until it has been
 * gone `clearMs` by the service's clock (its entry then expires from the lane's presence map).
 */
interface Presence {
  key: string;
  product: Product | null;
  label: string;
  lastFrame: number;
  /** Scores and counts are kept only until the scan is decided (at most `scanFrames` of each). */
  streak: { startAt: number; frames: number; scores: number[]; counts: number[] } | null;
  /** Scanned, announced or given up: not again in this presence. */
  done: boolean;
}

interface Pending {
  presence: string;
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

export type CommandOutcome = { ok: true; basket: Basket } | { ok: false; error: string };

export interface LaneStatus {
  id: string;
  camera: string;
  locale: string;
  scale: boolean;
  state: 'idle' | 'item-in-zone' | 'weighing';
  inZone: string[];
  /** Products and labels tracked (in view, or seen within `clearMs`), and the bound on them. */
  presences: { held: number; bytes: number; max: number; maxBytes: number };
  /** The stored state found unreadable at start (moved aside), or null. */
  unreadableState: Quarantined | null;
  trouble: Trouble[];
  weightGrams: number | null;
  basket: { id: string; status: Basket['status']; count: number; totalMinor: number; currency: string };
}

export interface LaneDeps {
  config: LaneConfig;
  catalog: CatalogIndex;
  store: LaneStore;
  output: LaneOutput;
  metrics: CheckoutMetrics;
  logger: LaneLogger;
  now: () => number;
  /** Where the presence map reports its size and evictions. */
  registry?: Registry;
}

/** A lane's camera as capture reports it; `unknown` before any status. */
export type CameraView = 'online' | 'offline' | 'unknown';

/**
 * One checkout lane: turns its camera's detections and its scale's readings into priced scans in
 * its basket, and tells the shopper (lane events) everything else. Synchronous and clock-driven,
 * so every rule can be tested without waiting.
 */
export class Lane {
  readonly config: LaneConfig;
  readonly #catalog: CatalogIndex;
  readonly #store: LaneStore;
  readonly #output: LaneOutput;
  readonly #metrics: CheckoutMetrics;
  readonly #log: LaneLogger;
  readonly #now: () => number;
  readonly #settler: WeightSettler;
  readonly #presences: BoundedMap<string, Presence>;
  /** Presences read back from the store: they join the map at the first frame after the restart, so their clock starts then. */
  #restored: Presence[] = [];
  readonly #unreadableState: Quarantined | null;
  readonly #trouble = new Set<Trouble>();
  readonly #startedAt: number;
  #basket: Basket;
  #accountedGrams = 0;
  #pending: Pending | null = null;
  #frames = 0;
  #lastDetectionsAt: number | null = null;
  /** When this lane last saw its camera's status turn online (null while it is not). */
  #cameraOnlineAt: number | null = null;
  #lastReadingAt: number | null = null;
  #unmatchedEpisode = 0;
  #dirty = false;

  constructor({ config, catalog, store, output, metrics, logger, now, registry }: LaneDeps) {
    this.config = config;
    this.#catalog = catalog;
    this.#store = store;
    this.#output = output;
    this.#metrics = metrics;
    this.#log = logger;
    this.#now = now;
    this.#startedAt = now();
    this.#settler = new WeightSettler(config.tuning.toleranceGrams, config.tuning.settleMs);
    const { tuning } = config;
    this.#presences = new BoundedMap<string, Presence>({
      name: `checkout-presences-${config.id}`,
      maxEntries: tuning.maxPresences,
      maxBytes: tuning.maxPresenceBytes,
      sizeOf: (_presence, key) => presenceBytes(key, tuning.scanFrames),
      idleMs: tuning.clearMs,
      now,
      logger,
      ...(registry ? { registry } : {}),
      onEvict: (_key, presence) => {
        if (presence.done) this.#dirty = true;
      },
    });
    const { stored, quarantined } = store.load(config.id);
    this.#unreadableState = quarantined ?? null;
    if (quarantined) {
      metrics.unreadableStates.inc({ lane: config.id });
      logger.error({ lane: config.id, quarantineId: quarantined.quarantineId, reason: quarantined.reason }, 'stored lane state is unreadable: kept aside in quarantined_lanes, starting a new basket');
    }
    if (stored && stored.basket.currency !== catalog.catalog.currency && stored.basket.status === 'open' && stored.basket.items.length > 0) {
      logger.error({ lane: config.id, stored: stored.basket.currency, catalog: catalog.catalog.currency }, 'stored basket is in another currency than the catalog: it is finished and archived');
      store.finish(config.id, { ...stored.basket, status: 'finished' }, { basket: newBasket(config.id, catalog.catalog.currency, now()), memory: stored.memory });
      this.#basket = newBasket(config.id, catalog.catalog.currency, now());
    } else {
      this.#basket = stored?.basket ?? newBasket(config.id, catalog.catalog.currency, now());
    }
    if (stored) {
      this.#accountedGrams = stored.memory.accountedGrams;
      for (const key of stored.memory.scanned) {
        const product = key.startsWith('label:') ? null : (catalog.catalog.products.find((p) => p.sku === key) ?? null);
        this.#restored.push({ key, product, label: key, lastFrame: -2, streak: null, done: true });
      }
    }
    this.#save();
  }

  get id(): string {
    return this.config.id;
  }

  get basket(): Basket {
    return this.#basket;
  }

  onDetections(detections: Detections): void {
    const { tuning, zone } = this.config;
    this.#frames += 1;
    this.#lastDetectionsAt = this.#now();
    // Capture time paces a scan (SCAN_MS); how long something has been gone is the service's own clock.
    const t = detections.capturedAt;
    for (const presence of this.#restored.splice(0)) this.#presences.set(presence.key, presence);

    const seen = new Map<string, { product: Product | null; label: string; best: number; count: number }>();
    for (const object of detections.objects) {
      if (!insidePolygon(boxCentre(object.box), zone)) continue;
      const label = normaliseLabel(object.label);
      if (tuning.ignoreLabels.includes(label)) continue;
      const product = this.#catalog.byLabel(label) ?? null;
      if (object.score < (product?.threshold ?? tuning.scoreThreshold)) continue;
      // Lower-casing can lengthen a label ('İ' becomes two units): the key is cut to what the store reads back.
      const key = product ? product.sku : `label:${label.slice(0, MAX_LABEL_KEY_CHARS)}`;
      const entry = seen.get(key);
      if (entry) {
        entry.count += 1;
        entry.best = Math.max(entry.best, object.score);
      } else {
        seen.set(key, { product, label: object.label, best: object.score, count: 1 });
      }
    }

    for (const [key, sighting] of seen) {
      let presence = this.#presences.get(key);
      if (!presence) {
        presence = { key, product: sighting.product, label: sighting.label, lastFrame: -2, streak: null, done: false };
        this.#presences.set(key, presence);
      }
      if (presence.streak && presence.lastFrame === this.#frames - 1) {
        presence.streak.frames += 1;
        if (!presence.done) {
          presence.streak.scores.push(sighting.best);
          presence.streak.counts.push(sighting.count);
        }
      } else {
        presence.streak = { startAt: t, frames: 1, scores: [sighting.best], counts: [sighting.count] };
      }
      presence.lastFrame = this.#frames;
      presence.label = sighting.label;
      const { streak } = presence;
      if (!presence.done && (streak.frames >= tuning.scanFrames || t - streak.startAt >= tuning.scanMs)) {
        presence.done = true;
        this.#decide(presence, detections);
      }
    }

    for (const presence of this.#presences.values()) if (!seen.has(presence.key)) presence.streak = null;
    this.#flush();
  }

  onWeight(grams: number, stable: boolean | undefined): void {
    const now = this.#now();
    this.#lastReadingAt = now;
    if (grams < this.config.tuning.minGrams && this.#accountedGrams !== 0) {
      // The scale is empty: nothing on it is paid for any more.
      this.#setAccounted(0);
    }
    const settled = this.#settler.add(grams, now, stable);
    if (settled) this.#onSettled(settled.grams, settled.episode);
    this.#resolvePending();
    this.#flush();
  }

  /** Timers: settling by time, waiting for the scale, and trouble. */
  /**
   * `camera`: what capture says of the lane's camera (`offline` too while capture itself is), or
   * `unknown` when it never said anything.
   */
  tick(inputs: { camera: CameraView; inferenceOffline: boolean }): void {
    const now = this.#now();
    this.#presences.expire();
    const settled = this.#settler.check(now);
    if (settled) this.#onSettled(settled.grams, settled.episode);
    this.#resolvePending();
    const { cameraTimeoutMs, scaleTimeoutMs } = this.config.tuning;
    if (inputs.camera !== 'online') this.#cameraOnlineAt = null;
    else this.#cameraOnlineAt ??= now;
    const silentSince = Math.max(this.#lastDetectionsAt ?? this.#startedAt, this.#cameraOnlineAt ?? 0);
    const detectionsStale = now - silentSince >= cameraTimeoutMs;
    // A camera capture reports online that yields no detections is item recognition not working;
    // only a camera capture never reported is judged by the silence alone.
    this.#setTrouble('inference-offline', inputs.inferenceOffline || (inputs.camera === 'online' && detectionsStale));
    this.#setTrouble('camera-offline', inputs.camera === 'offline' || (inputs.camera === 'unknown' && detectionsStale && !inputs.inferenceOffline));
    this.#setTrouble('scale-offline', this.config.scale && now - (this.#lastReadingAt ?? this.#startedAt) >= scaleTimeoutMs);
    this.#flush();
  }

  command(command: BasketCommand): CommandOutcome {
    const now = this.#now();
    const basket = this.#basket;
    switch (command.action) {
      case 'remove-last': {
        if (basket.status === 'finished') return { ok: false, error: `the basket of lane ${this.id} is finished: there is nothing to remove` };
        const item = basket.items.at(-1);
        if (!item) return { ok: false, error: `the basket of lane ${this.id} is empty: there is nothing to remove` };
        this.#basket = withItems(basket, basket.items.slice(0, -1), now);
        this.#save();
        this.#output.basket(this.#basket);
        this.#emit({ type: 'removed', item, product: this.#refForItem(item), currency: basket.currency, basket: summary(this.#basket) });
        return { ok: true, basket: this.#basket };
      }
      case 'clear': {
        this.#cancelPending('basket cleared');
        this.#basket = newBasket(this.id, this.#catalog.catalog.currency, now);
        this.#save();
        this.#output.basket(this.#basket);
        this.#emit({ type: 'cleared', currency: this.#basket.currency, basket: summary(this.#basket) });
        return { ok: true, basket: this.#basket };
      }
      case 'finish': {
        if (basket.status === 'finished') return { ok: false, error: `the basket of lane ${this.id} is already finished: scan an item to start a new one` };
        if (basket.items.length === 0) return { ok: false, error: `the basket of lane ${this.id} is empty: there is nothing to pay for` };
        this.#cancelPending('basket finished');
        this.#basket = { ...basket, status: 'finished', updatedAt: now };
        this.#store.finish(this.id, this.#basket, this.#stored());
        this.#dirty = false;
        this.#output.basket(this.#basket);
        this.#emit({ type: 'total', currency: this.#basket.currency, basket: summary(this.#basket) });
        return { ok: true, basket: this.#basket };
      }
    }
  }

  status(): LaneStatus {
    const inZone = [...this.#presences.values()].filter((p) => p.streak !== null).map((p) => p.product?.sku ?? p.key);
    return {
      id: this.id,
      camera: this.config.camera,
      locale: this.config.locale,
      scale: this.config.scale,
      state: this.#pending ? 'weighing' : inZone.length > 0 ? 'item-in-zone' : 'idle',
      inZone,
      presences: { held: this.#presences.size, bytes: this.#presences.bytes, max: this.#presences.maxEntries, maxBytes: this.#presences.maxBytes },
      unreadableState: this.#unreadableState,
      trouble: [...this.#trouble],
      weightGrams: this.#settler.latest,
      basket: { id: this.#basket.id, status: this.#basket.status, count: this.#basket.count, totalMinor: this.#basket.totalMinor, currency: this.#basket.currency },
    };
  }

  #decide(presence: Presence, detections: Detections): void {
    const { streak } = presence;
    if (!streak) return;
    if (!presence.product) {
      this.#metrics.notRecognised.inc({ lane: this.id, reason: 'unknown-label' });
      this.#log.info({ lane: this.id, label: presence.label }, 'not recognised: the catalog does not sell this');
      this.#emit({ type: 'not-recognised', camera: this.config.camera, label: presence.label.slice(0, 256), frame: { camera: detections.camera, seq: detections.seq, capturedAt: detections.capturedAt } });
      this.#dirty = true;
      return;
    }
    const counted = mode(streak.counts);
    const product = presence.product;
    this.#cancelPending(`${product.sku} came into view`);
    this.#pending = {
      presence: presence.key,
      product,
      label: presence.label,
      quantity: product.price.per === 'unit' ? counted : 1,
      counted,
      confidence: Math.round((streak.scores.reduce((a, b) => a + b, 0) / streak.scores.length) * 1000) / 1000,
      seq: detections.seq,
      capturedAt: detections.capturedAt,
      decidedAt: this.#now(),
      prompted: false,
    };
    this.#resolvePending();
  }

  /** Grams on the scale not yet paid for, when the scale has settled on at least the minimum. */
  #unpaidGrams(): number | null {
    const settled = this.#settler.settled;
    if (!settled) return null;
    const grams = Number(gramsToMilligrams(settled.grams) - gramsToMilligrams(Math.min(this.#accountedGrams, settled.grams))) / 1000;
    return grams >= this.config.tuning.minGrams ? grams : null;
  }

  #resolvePending(): void {
    const pending = this.#pending;
    if (!pending) return;
    const { tuning } = this.config;
    const { product } = pending;
    if (!this.config.scale) {
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
      this.#metrics.weightMismatches.inc({ lane: this.id });
      this.#log.warn({ lane: this.id, sku: product.sku, grams, expected, counted: pending.counted }, 'weight mismatch: not charged');
      this.#emit({ type: 'weight-mismatch', product: this.#ref(product, pending.label), weightGrams: grams, expected, frame: this.#frameOf(pending) });
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
      this.#emit({ type: 'place-on-scale', product: this.#ref(product, pending.label) });
    }
    if (waited >= tuning.weightTimeoutMs) this.#giveUp(pending, 'weight-timeout', 'no weight on the scale');
  }

  #charge(pending: Pending, grams: number | null): void {
    this.#pending = null;
    const now = this.#now();
    const { product } = pending;
    if (this.#basket.status === 'finished') this.#basket = newBasket(this.id, this.#catalog.catalog.currency, now);
    if (this.#basket.items.length >= MAX_BASKET_ITEMS) {
      this.#giveUp(pending, 'basket-full', `the basket holds ${MAX_BASKET_ITEMS} items`);
      return;
    }
    const priceMinor = product.price.per === 'kg' ? pricePerKg(grams ?? 0, product.price.minor) : pricePerUnit(pending.quantity, product.price.minor);
    const id = `scan-${randomUUID()}`;
    const ref = this.#ref(product, pending.label);
    const item: BasketItem = {
      id,
      sku: product.sku,
      name: ref.name,
      quantity: pending.quantity,
      weightGrams: grams,
      unitPriceMinor: product.price.minor,
      priceMinor,
      at: now,
    };
    const basket = withItems(this.#basket, [...this.#basket.items, item], now);
    const accountedGrams = grams !== null ? (this.#settler.settled?.grams ?? this.#accountedGrams) : this.#accountedGrams;
    const state = this.#stored(basket);
    state.memory.accountedGrams = accountedGrams;
    try {
      this.#store.save(this.id, state);
    } catch (err) {
      // Nothing enters the basket that the store could not load again (a price or total past the schema's bounds).
      if (!(err instanceof UnstorableStateError)) throw err;
      this.#giveUp(pending, 'over-limit', err.message);
      return;
    }
    this.#basket = basket;
    this.#accountedGrams = accountedGrams;
    this.#dirty = false;
    this.#metrics.scans.inc({ lane: this.id, pricing: product.price.per });
    this.#log.info({ lane: this.id, sku: product.sku, quantity: pending.quantity, grams, priceMinor, basket: this.#basket.id }, 'scanned');
    const scan: Scan = {
      id,
      lane: this.id,
      locale: this.config.locale,
      at: now,
      camera: this.config.camera,
      seq: pending.seq,
      capturedAt: pending.capturedAt,
      product: ref,
      confidence: pending.confidence,
      pricing: product.price.per,
      quantity: pending.quantity,
      weightGrams: grams,
      unitPriceMinor: product.price.minor,
      priceMinor,
      currency: this.#basket.currency,
      basket: summary(this.#basket),
    };
    this.#output.scan(scan, this.#basket);
    this.#output.basket(this.#basket);
  }

  #giveUp(pending: Pending, reason: 'no-scale' | 'weight-timeout' | 'basket-full' | 'over-limit', why: string): void {
    this.#pending = null;
    this.#metrics.notRecognised.inc({ lane: this.id, reason });
    this.#log.warn({ lane: this.id, sku: pending.product.sku, reason }, `not charged: ${why}`);
    this.#emit({ type: 'not-recognised', camera: this.config.camera, label: pending.label.slice(0, 256), frame: this.#frameOf(pending) });
  }

  /** The frame that completed the scan decision. */
  #frameOf(pending: Pending): FrameRef {
    return { camera: this.config.camera, seq: pending.seq, capturedAt: pending.capturedAt };
  }

  #cancelPending(why: string): void {
    if (!this.#pending) return;
    this.#log.info({ lane: this.id, sku: this.#pending.product.sku, why }, 'weighing abandoned: not charged');
    this.#pending = null;
  }

  #onSettled(grams: number, episode: number): void {
    const { minGrams, toleranceGrams } = this.config.tuning;
    if (grams < minGrams) {
      this.#setAccounted(0);
      return;
    }
    if (grams < this.#accountedGrams - toleranceGrams) this.#setAccounted(grams);
    if (this.#pending) return;
    const unpaid = grams - this.#accountedGrams;
    if (unpaid < minGrams) return;
    const presences = [...this.#presences.values(), ...this.#restored];
    if (presences.length === 0) {
      if (this.#unmatchedEpisode !== episode) {
        this.#unmatchedEpisode = episode;
        this.#metrics.unmatchedWeights.inc({ lane: this.id });
        this.#log.warn({ lane: this.id, grams, unpaid }, 'weight on the scale with no item in the scan zone: nothing charged');
      }
      return;
    }
    // Everything in view is already scanned, announced or refused: this weight is theirs.
    if (presences.every((p) => p.done)) this.#setAccounted(grams);
  }

  #setAccounted(grams: number): void {
    if (this.#accountedGrams === grams) return;
    this.#accountedGrams = grams;
    this.#dirty = true;
  }

  #setTrouble(problem: Trouble, active: boolean): void {
    if (active === this.#trouble.has(problem)) return;
    if (active) this.#trouble.add(problem);
    else this.#trouble.delete(problem);
    this.#metrics.trouble.set({ lane: this.id, problem }, active ? 1 : 0);
    this.#log[active ? 'warn' : 'info']({ lane: this.id, problem }, active ? 'trouble began' : 'trouble ended');
    this.#emit({ type: 'trouble', problem, state: active ? 'begin' : 'end' });
  }

  #emit(body: EventBody): void {
    const event = { id: `ev-${randomUUID()}`, lane: this.id, locale: this.config.locale, at: this.#now(), ...body } as LaneEvent;
    this.#metrics.laneEvents.inc({ lane: this.id, type: event.type });
    this.#output.event(event);
  }

  #ref(product: Product, label: string): ProductRef {
    return this.#catalog.ref(product, label, this.config.locale);
  }

  #refForItem(item: BasketItem): ProductRef {
    const product = this.#catalog.catalog.products.find((p) => p.sku === item.sku);
    return product ? this.#ref(product, product.labels[0]!) : { sku: item.sku, label: item.sku, name: item.name, spoken: { one: item.name } };
  }

  #stored(basket: Basket = this.#basket): StoredLane {
    const scanned = [...this.#presences.values(), ...this.#restored].filter((p) => p.done).map((p) => p.key);
    const memory: LaneMemory = { scanned, accountedGrams: this.#accountedGrams };
    return { basket, memory };
  }

  #save(): void {
    this.#store.save(this.id, this.#stored());
    this.#dirty = false;
  }

  #flush(): void {
    if (this.#dirty) this.#save();
  }
}

/** The most frequent count; on a tie the smaller one (never charge for an item seen only sometimes). */
function mode(values: number[]): number {
  const tally = new Map<number, number>();
  for (const value of values) tally.set(value, (tally.get(value) ?? 0) + 1);
  let best = values[0] ?? 1;
  let bestCount = 0;
  for (const [value, count] of tally) {
    if (count > bestCount || (count === bestCount && value < best)) {
      best = value;
      bestCount = count;
    }
  }
  return best;
}

/** A presence's bytes, roughly: the key and label strings (UTF-16) and the scores of one streak. */
function presenceBytes(key: string, scanFrames: number): number {
  return 128 + 2 * key.length + 2 * 256 + 16 * scanFrames;
}

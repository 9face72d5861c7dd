import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { CatalogIndex } from '@sightline/catalog';
import type { Logger } from '@sightline/kit';
import type { Basket, BasketCommand, BasketItem, Detections, LaneEvent, Product, ProductRef, Scan, Trouble } from '@sightline/schemas';
import { MAX_BASKET_ITEMS, newBasket, summary, withItems } from './basket.ts';
import type { LaneConfig } from './config.ts';
import type { CheckoutMetrics } from './metrics.ts';
import { ScanZone, type ScanDecision } from './scan-zone.ts';
import { UnstorableStateError, type LaneMemory, type LaneStore, type Quarantined, type StoredLane } from './store.ts';
import { Weighing, type EventBody, type Refusal, type Sale } from './weighing.ts';

/** Where a lane's results go (the app publishes them on the bus). Called after the state is saved. */
export interface LaneOutput {
  scan(scan: Scan, basket: Basket): void;
  event(event: LaneEvent): void;
  basket(basket: Basket): void;
}

export type LaneLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

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
  readonly #zone: ScanZone;
  readonly #weighing: Weighing;
  readonly #unreadableState: Quarantined | null;
  readonly #trouble = new Set<Trouble>();
  readonly #startedAt: number;
  #basket: Basket;
  #lastDetectionsAt: number | null = null;
  /** When this lane last saw its camera's status turn online (null while it is not). */
  #cameraOnlineAt: number | null = null;
  #lastReadingAt: number | null = null;
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
    const { stored, quarantined } = store.load(config.id);
    this.#unreadableState = quarantined ?? null;
    if (quarantined) {
      metrics.unreadableStates.inc({ lane: config.id });
      logger.error(
        { lane: config.id, quarantineId: quarantined.quarantineId, reason: quarantined.reason },
        'stored lane state is unreadable: kept aside in quarantined_lanes, starting a new basket',
      );
    }
    if (stored && stored.basket.currency !== catalog.catalog.currency && stored.basket.status === 'open' && stored.basket.items.length > 0) {
      logger.error(
        { lane: config.id, stored: stored.basket.currency, catalog: catalog.catalog.currency },
        'stored basket is in another currency than the catalog: it is finished and archived',
      );
      store.finish(
        config.id,
        { ...stored.basket, status: 'finished' },
        { basket: newBasket(config.id, catalog.catalog.currency, now()), memory: stored.memory },
      );
      this.#basket = newBasket(config.id, catalog.catalog.currency, now());
    } else {
      this.#basket = stored?.basket ?? newBasket(config.id, catalog.catalog.currency, now());
    }
    const changed = (): void => {
      this.#dirty = true;
    };
    this.#zone = new ScanZone({ config, catalog, now, logger, ...(registry ? { registry } : {}), scanned: stored?.memory.scanned ?? [], forgot: changed });
    this.#weighing = new Weighing({
      config,
      metrics,
      logger,
      now,
      accountedGrams: stored?.memory.accountedGrams ?? 0,
      lane: {
        sell: (sale) => this.#sell(sale),
        occupancy: () => this.#zone.occupancy(),
        emit: (body) => this.#emit(body),
        ref: (product, label) => this.#ref(product, label),
        changed,
      },
    });
    this.#save();
  }

  get id(): string {
    return this.config.id;
  }

  get basket(): Basket {
    return this.#basket;
  }

  onDetections(detections: Detections): void {
    this.#lastDetectionsAt = this.#now();
    this.#zone.observe(detections, (decision) => this.#decided(decision, detections));
    this.#flush();
  }

  onWeight(grams: number, stable: boolean | undefined): void {
    const now = this.#now();
    this.#lastReadingAt = now;
    this.#weighing.reading(grams, stable, now);
    this.#flush();
  }

  /**
   * Timers: settling by time, waiting for the scale, and trouble.
   * `camera`: what capture says of the lane's camera (`offline` too while capture itself is), or
   * `unknown` when it never said anything.
   */
  tick(inputs: { camera: CameraView; inferenceOffline: boolean }): void {
    const now = this.#now();
    this.#zone.expire();
    this.#weighing.tick(now);
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
        this.#weighing.cancel('basket cleared');
        this.#basket = newBasket(this.id, this.#catalog.catalog.currency, now);
        this.#save();
        this.#output.basket(this.#basket);
        this.#emit({ type: 'cleared', currency: this.#basket.currency, basket: summary(this.#basket) });
        return { ok: true, basket: this.#basket };
      }
      case 'finish': {
        if (basket.status === 'finished') return { ok: false, error: `the basket of lane ${this.id} is already finished: scan an item to start a new one` };
        if (basket.items.length === 0) return { ok: false, error: `the basket of lane ${this.id} is empty: there is nothing to pay for` };
        this.#weighing.cancel('basket finished');
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
    const inZone = this.#zone.inView();
    return {
      id: this.id,
      camera: this.config.camera,
      locale: this.config.locale,
      scale: this.config.scale,
      state: this.#weighing.busy ? 'weighing' : inZone.length > 0 ? 'item-in-zone' : 'idle',
      inZone,
      presences: this.#zone.bounds(),
      unreadableState: this.#unreadableState,
      trouble: [...this.#trouble],
      weightGrams: this.#weighing.latestGrams,
      basket: {
        id: this.#basket.id,
        status: this.#basket.status,
        count: this.#basket.count,
        totalMinor: this.#basket.totalMinor,
        currency: this.#basket.currency,
      },
    };
  }

  #decided(decision: ScanDecision, detections: Detections): void {
    if (decision.product) {
      this.#weighing.weigh(decision.product, decision, detections);
      return;
    }
    this.#metrics.notRecognised.inc({ lane: this.id, reason: 'unknown-label' });
    this.#log.info({ lane: this.id, label: decision.label }, 'not recognised: the catalog does not sell this');
    this.#emit({
      type: 'not-recognised',
      camera: this.config.camera,
      label: decision.label.slice(0, 256),
      frame: { camera: detections.camera, seq: detections.seq, capturedAt: detections.capturedAt },
    });
    this.#dirty = true;
  }

  #sell({ pending, weightGrams, priceMinor, accountedGrams }: Sale): Refusal | null {
    const now = this.#now();
    const { product } = pending;
    if (this.#basket.status === 'finished') this.#basket = newBasket(this.id, this.#catalog.catalog.currency, now);
    if (this.#basket.items.length >= MAX_BASKET_ITEMS) return { reason: 'basket-full', why: `the basket holds ${MAX_BASKET_ITEMS} items` };
    const id = `scan-${randomUUID()}`;
    const ref = this.#ref(product, pending.label);
    const item: BasketItem = {
      id,
      sku: product.sku,
      name: ref.name,
      quantity: pending.quantity,
      weightGrams,
      unitPriceMinor: product.price.minor,
      priceMinor,
      at: now,
    };
    const basket = withItems(this.#basket, [...this.#basket.items, item], now);
    const state = this.#stored(basket);
    state.memory.accountedGrams = accountedGrams;
    try {
      this.#store.save(this.id, state);
    } catch (err) {
      // Nothing enters the basket that the store could not load again (a price or total past the schema's bounds).
      if (!(err instanceof UnstorableStateError)) throw err;
      return { reason: 'over-limit', why: err.message };
    }
    this.#basket = basket;
    this.#dirty = false;
    this.#metrics.scans.inc({ lane: this.id, pricing: product.price.per });
    this.#log.info({ lane: this.id, sku: product.sku, quantity: pending.quantity, grams: weightGrams, priceMinor, basket: this.#basket.id }, 'scanned');
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
      weightGrams,
      unitPriceMinor: product.price.minor,
      priceMinor,
      currency: this.#basket.currency,
      basket: summary(this.#basket),
    };
    this.#output.scan(scan, this.#basket);
    this.#output.basket(this.#basket);
    return null;
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
    const memory: LaneMemory = { scanned: this.#zone.scanned(), accountedGrams: this.#weighing.accountedGrams };
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

import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { CatalogIndex } from '@sightline/catalog';
import type { Logger } from '@sightline/kit';
import type { Basket, BasketCommand, BasketItem, Detections, LaneEvent, Polygon, Scan, SpokenLines, Trouble } from '@sightline/schemas';
import { MAX_BASKET_ITEMS, newBasket, summary, withItems } from './basket.ts';
import type { LaneConfig } from './config.ts';
import { keyFor } from './keypads.ts';
import type { CheckoutMetrics } from './metrics.ts';
import { LaneNames } from './names.ts';
import { ScanZone, type ScanDecision } from './scan-zone.ts';
import { Session, type IdleStatus } from './session.ts';
import { TroubleWatch, type CameraView, type TroubleInputs } from './trouble.ts';
import { restoreLane, UnstorableStateError, type LaneMemory, type LaneStore, type Quarantined, type StoredLane } from './store.ts';
import { Weighing, type EventBody, type Refusal, type Sale } from './weighing.ts';

/** Where a lane's results go (the app publishes them on the bus). Called after the state is saved. */
export interface LaneOutput {
  scan(scan: Scan, basket: Basket): void;
  event(event: LaneEvent): void;
  basket(basket: Basket): void;
}

export type LaneLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export type CommandOutcome = { ok: true; basket: Basket } | { ok: false; reason: 'basket-empty' | 'basket-finished'; error: string };

export interface LaneStatus {
  id: string;
  camera: string;
  /** The language the shopper hears now, and the ones the lane can switch between. */
  locale: string;
  locales: string[];
  scale: boolean;
  state: 'idle' | 'item-in-zone' | 'weighing';
  /** The idle clock: `off` unless the basket is open with items. */
  idle: IdleStatus;
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

export type { CameraView };

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
  readonly #trouble: TroubleWatch;
  readonly #session: Session;
  readonly #names: LaneNames;
  #basket: Basket;
  #dirty = false;

  constructor({ config, catalog, store, output, metrics, logger, now, registry }: LaneDeps) {
    this.config = config;
    this.#catalog = catalog;
    this.#store = store;
    this.#output = output;
    this.#metrics = metrics;
    this.#log = logger;
    this.#now = now;
    this.#trouble = new TroubleWatch({ scale: config.scale, ...config.tuning }, now());
    this.#session = new Session({ locale: config.locale, locales: config.locales, ...config.tuning }, now());
    this.#names = new LaneNames(catalog, () => this.#session.locale);
    const { stored, basket, quarantined, otherCurrency } = restoreLane(store, config.id, catalog.catalog.currency, now());
    this.#basket = basket;
    this.#unreadableState = quarantined ?? null;
    if (quarantined) {
      metrics.unreadableStates.inc({ lane: config.id });
      logger.error(
        { lane: config.id, quarantineId: quarantined.quarantineId, reason: quarantined.reason },
        'stored lane state is unreadable: kept aside in quarantined_lanes, starting a new basket',
      );
    }
    if (otherCurrency) {
      logger.error(
        { lane: config.id, stored: otherCurrency, catalog: catalog.catalog.currency },
        'stored basket is in another currency than the catalog: it is finished and archived',
      );
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
        ref: (product, label) => this.#names.ref(product, label),
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

  /** The language the shopper hears now. */
  get locale(): string {
    return this.#session.locale;
  }

  /** Seconds a shopper gets from activity (or more time) to the idle warning. */
  get idleWarningSeconds(): number {
    return this.#session.warningSeconds;
  }

  onDetections(detections: Detections): void {
    this.#trouble.detections(this.#now());
    this.#zone.observe(detections, (decision) => this.#decided(decision, detections));
    // An item in the zone is a shopper at work.
    if (this.#zone.inView().length > 0) this.activity();
    this.#flush();
  }

  /**
   * The scan zone from the next frame on. What it no longer covers is treated as taken out of the
   * zone: a scan in progress there stops, and a product already scanned there may scan again once
   * it has been out `CLEAR_MS` and comes back. What it newly covers is treated as just placed there.
   */
  setZone(zone: Polygon): void {
    this.config.zone = zone;
  }

  /** The shopper did something (a scan, a control, a basket command): the idle clock starts again. */
  activity(): void {
    this.#session.activity(this.#now());
  }

  /** More time: the idle clock starts again. The seconds until the next warning, or null without an open basket holding items. */
  moreTime(): number | null {
    if (!this.#sessionRunning()) return null;
    this.activity();
    return this.#session.warningSeconds;
  }

  /** The next of the lane's languages for what follows; null when the lane has one. */
  switchLanguage(): { from: string; to: string } | null {
    return this.#session.nextLanguage();
  }

  /** The basket read line by line, named in the shopper's language. */
  read(basket: Basket = this.#basket): SpokenLines {
    return this.#names.read(basket.items);
  }

  onWeight(grams: number, stable: boolean | undefined): void {
    const now = this.#now();
    this.#trouble.reading(now);
    this.#weighing.reading(grams, stable, now);
    this.#flush();
  }

  /**
   * Timers: settling by time, waiting for the scale, trouble, and the idle clock.
   * `camera`: what capture says of the lane's camera (`offline` too while capture itself is), or
   * `unknown` when it never said anything.
   */
  tick(inputs: TroubleInputs): void {
    const now = this.#now();
    this.#zone.expire();
    this.#weighing.tick(now);
    for (const { problem, active } of this.#trouble.tick(now, inputs)) this.#troubleChanged(problem, active);
    const step = this.#session.tick(now, this.#sessionRunning());
    if (step === 'warn') {
      const key = this.config.keypad ? keyFor(this.config.keypad.keys, 'more-time') : undefined;
      this.#log.info({ lane: this.id, remainingSeconds: this.#session.endSeconds }, 'idle: the shopper is warned');
      this.#emit({ type: 'idle-warning', remainingSeconds: this.#session.endSeconds, ...(key ? { moreTimeKey: key } : {}) });
    } else if (step === 'end') {
      this.#endSession();
    }
    this.#flush();
  }

  command(command: BasketCommand): CommandOutcome {
    const now = this.#now();
    const basket = this.#basket;
    this.activity();
    switch (command.action) {
      case 'remove-last': {
        if (basket.status !== 'open')
          return { ok: false, reason: 'basket-finished', error: `the basket of lane ${this.id} is finished: there is nothing to remove` };
        const item = basket.items.at(-1);
        if (!item) return { ok: false, reason: 'basket-empty', error: `the basket of lane ${this.id} is empty: there is nothing to remove` };
        this.#basket = withItems(basket, basket.items.slice(0, -1), now);
        this.#save();
        this.#output.basket(this.#basket);
        this.#emit({ type: 'removed', item, product: this.#names.forItem(item), currency: basket.currency, basket: summary(this.#basket) });
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
        if (basket.status !== 'open')
          return { ok: false, reason: 'basket-finished', error: `the basket of lane ${this.id} is already finished: scan an item to start a new one` };
        if (basket.items.length === 0)
          return { ok: false, reason: 'basket-empty', error: `the basket of lane ${this.id} is empty: there is nothing to pay for` };
        this.#weighing.cancel('basket finished');
        this.#basket = { ...basket, status: 'finished', updatedAt: now };
        this.#store.finish(this.id, this.#basket, this.#stored());
        this.#dirty = false;
        this.#output.basket(this.#basket);
        // The receipt in the language the shopper chose; the next shopper starts in the lane's own.
        this.#emit({ type: 'total', currency: this.#basket.currency, basket: summary(this.#basket), receipt: this.read() });
        this.#session.reset(now);
        return { ok: true, basket: this.#basket };
      }
    }
  }

  status(): LaneStatus {
    const inZone = this.#zone.inView();
    return {
      id: this.id,
      camera: this.config.camera,
      locale: this.#session.locale,
      locales: this.config.locales,
      scale: this.config.scale,
      state: this.#weighing.busy ? 'weighing' : inZone.length > 0 ? 'item-in-zone' : 'idle',
      idle: this.#session.idle(this.#sessionRunning()),
      inZone,
      presences: this.#zone.bounds(),
      unreadableState: this.#unreadableState,
      trouble: this.#trouble.active(),
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
    if (this.#basket.status !== 'open') this.#basket = newBasket(this.id, this.#catalog.catalog.currency, now);
    if (this.#basket.items.length >= MAX_BASKET_ITEMS) return { reason: 'basket-full', why: `the basket holds ${MAX_BASKET_ITEMS} items` };
    const id = `scan-${randomUUID()}`;
    const ref = this.#names.ref(product, pending.label);
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
    this.activity();
    this.#metrics.scans.inc({ lane: this.id, pricing: product.price.per });
    this.#log.info({ lane: this.id, sku: product.sku, quantity: pending.quantity, grams: weightGrams, priceMinor, basket: this.#basket.id }, 'scanned');
    const scan: Scan = {
      id,
      lane: this.id,
      locale: this.#session.locale,
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

  #troubleChanged(problem: Trouble, active: boolean): void {
    this.#metrics.trouble.set({ lane: this.id, problem }, active ? 1 : 0);
    this.#log[active ? 'warn' : 'info']({ lane: this.id, problem }, active ? 'trouble began' : 'trouble ended');
    this.#emit({ type: 'trouble', problem, state: active ? 'begin' : 'end' });
  }

  #emit(body: EventBody): void {
    const event = { id: `ev-${randomUUID()}`, lane: this.id, locale: this.#session.locale, at: this.#now(), ...body } as LaneEvent;
    this.#metrics.laneEvents.inc({ lane: this.id, type: event.type });
    this.#output.event(event);
  }

  /** The idle clock runs only while there is something to lose: an open basket with items. */
  #sessionRunning(): boolean {
    return this.#basket.status === 'open' && this.#basket.items.length > 0;
  }

  /**
   * The shopper left (no activity through the warning and after it): the basket is archived as
   * abandoned, never lost, and the lane starts a new one in its own language.
   */
  #endSession(): void {
    const now = this.#now();
    const abandoned: Basket = { ...this.#basket, status: 'abandoned', updatedAt: now };
    this.#weighing.cancel('session ended');
    this.#basket = newBasket(this.id, this.#catalog.catalog.currency, now);
    this.#store.finish(this.id, abandoned, this.#stored());
    this.#dirty = false;
    this.#log.info({ lane: this.id, basket: abandoned.id, count: abandoned.count, totalMinor: abandoned.totalMinor }, 'idle: session ended, basket abandoned');
    this.#output.basket(this.#basket);
    this.#emit({ type: 'session-ended', reason: 'timeout', currency: abandoned.currency, basket: summary(abandoned) });
    this.#session.reset(now);
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

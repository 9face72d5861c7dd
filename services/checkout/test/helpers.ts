import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { connect } from 'mqtt';
import { Registry } from 'prom-client';
import { loadCatalog, SAMPLE_CATALOG_FILE, type CatalogIndex } from '@sightline/catalog';
import { createLogger, type Logger } from '@sightline/kit';
import { startTestBroker, waitUntil } from '@sightline/kit/testing';
import {
  channels,
  createBus,
  createTopics,
  WHOLE_FRAME,
  type Basket,
  type BasketItem,
  type Bus,
  type Channel,
  type ControlCommand,
  type ControlResult,
  type Detections,
  type LaneEvent,
  type Scan,
} from '@sightline/schemas';
import { createCheckoutApp, type CheckoutApp, type CheckoutDeps } from '../src/app.ts';
import { newBasket, withItems } from '../src/basket.ts';
import type { CheckoutConfig, LaneConfig, LaneTuning } from '../src/config.ts';
import { Lane, type CameraView } from '../src/lane.ts';
import { createCheckoutMetrics, type CheckoutMetrics } from '../src/metrics.ts';
import { openLaneStore, type LaneStore } from '../src/store.ts';

export const silentLogger: Logger = createLogger('checkout-test', 'silent');

export function sampleCatalog(): CatalogIndex {
  const { catalog, problems } = loadCatalog(SAMPLE_CATALOG_FILE, 'SIGHTLINE_CHECKOUT_CATALOG_FILE');
  if (!catalog) throw new Error(problems.join('\n'));
  return catalog;
}

export function tempDir(t: TestContext, prefix = 'checkout-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function writeTemp(t: TestContext, name: string, content: string): string {
  const file = path.join(tempDir(t), name);
  writeFileSync(file, content);
  return file;
}

export const DEFAULT_TUNING: LaneTuning = {
  scanFrames: 3,
  scanMs: 600,
  clearMs: 1000,
  scoreThreshold: 0.3,
  ignoreLabels: ['person'],
  toleranceGrams: 2,
  settleMs: 500,
  minGrams: 5,
  placeWaitMs: 1500,
  weightTimeoutMs: 15_000,
  cameraTimeoutMs: 10_000,
  scaleTimeoutMs: 30_000,
  maxPresences: 64,
  maxPresenceBytes: 256 * 1024,
  idleWarningSeconds: 120,
  idleEndSeconds: 60,
};

export function laneConfig(overrides: Partial<Omit<LaneConfig, 'tuning'>> & { tuning?: Partial<LaneTuning> } = {}): LaneConfig {
  const locale = overrides.locale ?? 'en-US';
  return {
    id: 'lane-1',
    camera: 'demo',
    locale,
    locales: [locale],
    zone: WHOLE_FRAME,
    scale: true,
    keypad: null,
    ...overrides,
    tuning: { ...DEFAULT_TUNING, ...overrides.tuning },
  };
}

export class Clock {
  t = 1_795_000_000_000;
  now = (): number => this.t;
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
}

export interface Obj {
  label: string;
  score?: number;
  /** Box centre; the box is 0.1 x 0.1 around it. Default: the middle of the frame. */
  at?: [number, number];
  box?: null;
}

let seqCounter = 0;
export function detections(camera: string, capturedAt: number, objects: Obj[], seq = ++seqCounter): Detections {
  return {
    camera,
    seq,
    capturedAt,
    width: 640,
    height: 480,
    model: { id: 'centernet-coco', version: '1' },
    objects: objects.map((o) => ({
      label: o.label,
      score: o.score ?? 0.6,
      box: o.box === null ? null : { x: (o.at?.[0] ?? 0.5) - 0.05, y: (o.at?.[1] ?? 0.5) - 0.05, width: 0.1, height: 0.1 },
    })),
    timings: { decodeMs: 1, preprocessMs: 1, inferenceMs: 40, postprocessMs: 1, totalMs: 43 },
  };
}

export interface LaneHarness {
  lane: Lane;
  clock: Clock;
  store: LaneStore;
  metrics: CheckoutMetrics;
  registry: Registry;
  scans: Scan[];
  events: LaneEvent[];
  baskets: Basket[];
  eventsOf<T extends LaneEvent['type']>(type: T): Extract<LaneEvent, { type: T }>[];
  /** Feeds `count` frames `everyMs` apart (camera time and clock advance together). */
  frames(count: number, objects: Obj[], everyMs?: number): void;
  /** Feeds readings `everyMs` apart for `forMs`. */
  weigh(grams: number, forMs?: number, everyMs?: number): void;
  /** `camera`: what capture says of the lane's camera (default: it never said anything). */
  tick(flags?: { camera?: CameraView; inferenceOffline?: boolean }): void;
}

export function laneHarness(
  t: TestContext,
  config: LaneConfig = laneConfig(),
  options: { dataDir?: string; clock?: Clock; catalog?: CatalogIndex } = {},
): LaneHarness {
  const clock = options.clock ?? new Clock();
  const store = openLaneStore(options.dataDir ?? tempDir(t), clock.now);
  t.after(() => store.close());
  const registry = new Registry();
  const metrics = createCheckoutMetrics(registry);
  const scans: Scan[] = [];
  const events: LaneEvent[] = [];
  const baskets: Basket[] = [];
  const lane = new Lane({
    config,
    catalog: options.catalog ?? sampleCatalog(),
    store,
    metrics,
    logger: silentLogger,
    now: clock.now,
    registry,
    output: { scan: (s) => scans.push(s), event: (e) => events.push(e), basket: (b) => baskets.push(b) },
  });
  const harness: LaneHarness = {
    lane,
    clock,
    store,
    metrics,
    registry,
    scans,
    events,
    baskets,
    eventsOf: (type) => events.filter((e) => e.type === type) as never,
    frames(count, objects, everyMs = 200) {
      for (let i = 0; i < count; i++) {
        lane.onDetections(detections(config.camera, clock.t, objects));
        clock.advance(everyMs);
      }
    },
    weigh(grams, forMs = 600, everyMs = 100) {
      for (let elapsed = 0; elapsed <= forMs; elapsed += everyMs) {
        lane.onWeight(grams, undefined);
        if (elapsed + everyMs <= forMs) clock.advance(everyMs);
      }
    },
    tick(flags = {}) {
      lane.tick({ camera: flags.camera ?? 'unknown', inferenceOffline: flags.inferenceOffline ?? false });
    },
  };
  return harness;
}

export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  if (!metric) throw new Error(`no metric ${name}`);
  return metric.values.filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)).reduce((sum, v) => sum + v.value, 0);
}

export function testConfig(dataDir: string, url: string, overrides: Partial<CheckoutConfig> = {}): CheckoutConfig {
  return {
    logLevel: 'silent',
    mqtt: { url, topicPrefix: 'sightline' },
    http: { host: '127.0.0.1', port: 0 },
    dataDir,
    catalogFile: SAMPLE_CATALOG_FILE,
    catalog: sampleCatalog(),
    lanes: [laneConfig()],
    scaleSimulator: false,
    ...overrides,
  };
}

export interface Peer {
  bus: Bus;
  raw(topic: string, payload: string | Buffer): Promise<void>;
  received: Array<{ topic: string; payload: Buffer }>;
  collect<T, P extends string>(channel: Channel<T, P>): Promise<T[]>;
}

/** An integrator on the broker: publishes through its own validating bus, or raw bytes. */
export async function connectPeer(t: TestContext, url: string): Promise<Peer> {
  const client = connect(url, { protocolVersion: 4, reconnectPeriod: 200, clientId: `peer-${Math.random().toString(16).slice(2)}` });
  t.after(() => client.endAsync(true));
  const topics = createTopics('sightline');
  const bus = createBus({ client, topics, logger: { warn() {}, error() {}, debug() {} } });
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  const received: Peer['received'] = [];
  client.on('message', (topic, payload) => received.push({ topic, payload }));
  return {
    bus,
    received,
    raw: (topic, payload) => new Promise((resolve, reject) => client.publish(topic, payload, { qos: 1 }, (err) => (err ? reject(err) : resolve()))),
    async collect(channel) {
      const values: never[] = [];
      await bus.subscribe(channel, {}, (value) => {
        values.push(value as never);
      });
      return values;
    },
  };
}

/** A started checkout app, stopped when the test ends unless the test stopped it itself. */
export async function startApp(t: TestContext, config: CheckoutConfig, deps: CheckoutDeps = {}): Promise<CheckoutApp> {
  const app = createCheckoutApp(config, silentLogger, deps);
  let stopped = false;
  t.after(async () => {
    if (!stopped) await app.stop();
  });
  await app.start();
  await waitUntil('checkout is connected and subscribed', () => app.runtime.bus.ready(), 5000);
  const stop = app.stop.bind(app);
  (app as { stop: () => Promise<void> }).stop = async () => {
    stopped = true;
    await stop();
  };
  return app;
}

/** Writes a lane's basket into the store before the lane starts: `count` items cycling through some catalog products. */
export function seedBasket(dataDir: string, lane: string, count: number, at: number): Basket {
  const kinds: Array<Omit<BasketItem, 'id' | 'at'>> = [
    { sku: 'BAKERY-DONUT', name: 'Glazed donut', quantity: 2, weightGrams: null, unitPriceMinor: 149, priceMinor: 298 },
    { sku: 'PRODUCE-ORANGE', name: 'Oranges', quantity: 1, weightGrams: 182.5, unitPriceMinor: 330, priceMinor: 60 },
    { sku: 'DRINK-WATER-500', name: 'Spring water 500 ml', quantity: 1, weightGrams: 512, unitPriceMinor: 129, priceMinor: 129 },
  ];
  const items = Array.from({ length: count }, (_, i) => ({ ...kinds[i % kinds.length]!, id: `scan-seed-${i}`, at: at + i }));
  const basket = withItems(newBasket(lane, 'USD', at), items, at + count);
  const store = openLaneStore(dataDir, () => at);
  store.save(lane, { basket, memory: { scanned: [], accountedGrams: 0 } });
  store.close();
  return basket;
}

export async function sendFrames(peer: Peer, clock: Clock, count: number, objects: Obj[], camera = 'demo'): Promise<void> {
  for (let i = 0; i < count; i++) {
    await peer.bus.publish(channels.detections, { camera }, detections(camera, clock.t, objects));
    clock.advance(200);
  }
}

let transactions = 0;

/** Sends a control over MQTT with a fresh transaction and waits for checkout's answer to it. */
export async function sendControl(peer: Peer, results: ControlResult[], command: ControlCommand, lane = 'lane-1'): Promise<ControlResult> {
  const transaction = `tx-${++transactions}`;
  await peer.bus.publish(channels.laneControl, { lane }, { ...command, transaction });
  await waitUntil(`the answer to ${command.command}`, () => results.some((r) => r.transaction === transaction));
  return results.find((r) => r.transaction === transaction)!;
}

/** A checkout on a real broker with a fake clock, and a peer collecting what it publishes. */
export async function controlSetup(
  t: TestContext,
  lanes: LaneConfig[],
  options: { deps?: CheckoutDeps; before?: (dataDir: string, clock: Clock) => void } = {},
) {
  const broker = await startTestBroker(t);
  const clock = new Clock();
  const dataDir = tempDir(t);
  options.before?.(dataDir, clock);
  const config = testConfig(dataDir, broker.url, { lanes });
  const peer = await connectPeer(t, broker.url);
  const results = await peer.collect(channels.laneControlResult);
  const controls = await peer.collect(channels.laneControl);
  const events = await peer.collect(channels.laneEvent);
  const baskets = await peer.collect(channels.basket);
  const scans = await peer.collect(channels.scan);
  const app = await startApp(t, config, { now: clock.now, tickMs: 3_600_000, ...options.deps });
  const eventsOf = <T extends LaneEvent['type']>(type: T) => events.filter((e) => e.type === type) as Extract<LaneEvent, { type: T }>[];
  const control = (command: ControlCommand, lane = 'lane-1') => sendControl(peer, results, command, lane);
  return { broker, clock, dataDir, config, peer, results, controls, events, baskets, scans, app, eventsOf, control };
}

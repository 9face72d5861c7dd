import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { Registry } from 'prom-client';
import { createLogger, type Logger } from '@sightline/kit';
import { channels, type AlertEvent, type Detections, type LaneEvent, type Scan } from '@sightline/schemas';
import type { AlertConfig } from '../src/config.ts';
import { RuleEngine, type EngineLimits } from '../src/engine.ts';
import { createAlertMetrics } from '../src/metrics.ts';
import { ruleSchema, type Rule } from '../src/rules.ts';
import { AlertStore } from '../src/store.ts';

/** The service's defaults, spelled out. */
export const testLimits: EngineLimits = {
  cameras: null,
  lanes: null,
  services: [],
  maxCameras: 64,
  maxLanes: 64,
  forgetMs: 3600_000,
  maxOpen: 1000,
  maxDriftStates: 4096,
};

export function testLogger(): Logger {
  return createLogger('alert', process.env['TEST_LOG_LEVEL'] ?? 'silent');
}

export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sightline-alert-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Rules as a file would give them (defaults filled in by the schema). */
export function rules(...raw: unknown[]): Rule[] {
  return raw.map((r) => ruleSchema.parse(r));
}

export class FakeClock {
  time = 1_800_000_000_000;
  now = () => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}

export interface EngineHarness {
  engine: RuleEngine;
  store: AlertStore;
  events: AlertEvent[];
  clock: FakeClock;
  registry: Registry;
  dir: string;
}

export function makeEngine(
  t: TestContext,
  ruleList: Rule[],
  options: { dir?: string; clock?: FakeClock; updateIntervalMs?: number; expireSeconds?: number; limits?: Partial<EngineLimits>; maxRows?: number } = {},
): EngineHarness {
  const dir = options.dir ?? tempDir(t);
  const clock = options.clock ?? new FakeClock();
  const store = new AlertStore(dir, {
    ...(options.maxRows !== undefined ? { maxRows: options.maxRows } : {}),
    maxBaselines: options.limits?.maxDriftStates ?? testLimits.maxDriftStates,
  });
  t.after(() => store.close());
  const events: AlertEvent[] = [];
  const registry = new Registry();
  let engine: RuleEngine | undefined;
  const metrics = createAlertMetrics(registry, () => engine?.openByType() ?? new Map());
  engine = new RuleEngine({
    rules: ruleList,
    store,
    metrics,
    logger: testLogger(),
    publish: (event) => events.push(structuredClone(event)),
    now: clock.now,
    updateIntervalMs: options.updateIntervalMs ?? 5000,
    expireSeconds: options.expireSeconds ?? 600,
    self: 'alert',
    registry,
    ...(options.limits !== undefined ? { limits: options.limits } : {}),
  });
  return { engine, store, events, clock, registry, dir };
}

export function makeConfig(dataDir: string, overrides: Partial<AlertConfig> = {}): AlertConfig {
  return {
    logLevel: 'silent',
    mqtt: { url: 'mqtt://127.0.0.1:1', topicPrefix: 'sightline' },
    clientId: `alert-test-${Math.random().toString(16).slice(2, 8)}`,
    http: { host: '127.0.0.1', port: 0 },
    dataDir,
    rules: rules(
      { id: 'weights', type: 'weight-mismatch' },
      { id: 'unknown', type: 'unknown-item' },
      { id: 'low', type: 'low-confidence-scan' },
      { id: 'services', type: 'service-offline' },
    ),
    rulesSource: 'test',
    updateIntervalMs: 200,
    expireSeconds: 600,
    tickMs: 50,
    retentionDays: 30,
    maxRows: 100_000,
    pruneIntervalMs: 3_600_000,
    limits: testLimits,
    ...overrides,
  };
}

let seq = 0;

export function detections(
  camera: string,
  objects: Array<{ label?: string; score?: number; box: { x: number; y: number; width: number; height: number } | null }>,
): Detections {
  const base = channels.detections.example;
  seq += 1;
  return {
    ...base,
    camera,
    seq,
    capturedAt: 1_800_000_000_000 + seq,
    objects: objects.map((o) => ({ ...base.objects[0]!, label: o.label ?? 'person', score: o.score ?? 0.9, box: o.box })),
  };
}

/** A person whose feet stand at (x, y). */
export function personAt(x: number, y: number, score = 0.9) {
  return { label: 'person', score, box: { x: x - 0.05, y: y - 0.3, width: 0.1, height: 0.3 } };
}

export function scan(lane: string, confidence: number, sku = 'FRUIT-ORANGE'): Scan {
  const base = channels.scan.example;
  seq += 1;
  return { ...base, id: `scan-${seq}`, lane, confidence, seq, product: { ...base.product, sku } };
}

export function weightMismatch(lane: string, id = `ev-${++seq}`): LaneEvent {
  const base = channels.laneEvent.example;
  return {
    id,
    lane,
    locale: base.locale,
    at: base.at,
    type: 'weight-mismatch',
    product: channels.scan.example.product,
    weightGrams: 900,
    expected: { min: 150, max: 250 },
    frame: { camera: 'demo', seq, capturedAt: base.at - 100 },
  };
}

export function notRecognised(lane: string, label: string | undefined): LaneEvent {
  const base = channels.laneEvent.example;
  seq += 1;
  const frame = { camera: 'demo', seq, capturedAt: base.at - 100 };
  return { id: `ev-${seq}`, lane, locale: base.locale, at: base.at, type: 'not-recognised', camera: 'demo', ...(label === undefined ? {} : { label, frame }) };
}

import { connect } from 'mqtt';
import { createBus, createTopics, type Bus } from '@sightline/schemas';
import type { MqttClient } from 'mqtt';
import { waitUntil } from '@sightline/kit/testing';

/** A plain client on the test broker: publishes inputs and collects alert events. */
export async function testClient(t: TestContext, url: string): Promise<{ client: MqttClient; bus: Bus; events: AlertEvent[] }> {
  const client = connect(url, { clientId: `tester-${Math.random().toString(16).slice(2, 8)}`, reconnectPeriod: 100 });
  t.after(() => client.endAsync(true));
  const bus = createBus({ client, topics: createTopics('sightline'), logger: testLogger() });
  const events: AlertEvent[] = [];
  await waitUntil('the test client is connected', () => client.connected);
  await bus.subscribe(channels.alerts, {}, (event) => {
    events.push(event);
  });
  return { client, bus, events };
}

import path from 'node:path';
import type { MqttClient } from 'mqtt';
import type { Registry } from 'prom-client';
import { createRuntime, ZoneOverrides } from '@sightline/kit';
import { channels, type AlertEvent, type Bus, type Polygon } from '@sightline/schemas';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '@sightline/kit';
import type { AlertConfig } from './config.ts';
import { RuleEngine } from './engine.ts';
import { createAlertMetrics } from './metrics.ts';
import { registerAlertRoutes } from './routes.ts';
import type { RuleOf } from './rules.ts';
import { AlertStore } from './store.ts';

export const SERVICE = 'alert';
/** The restricted zones changed over HTTP, in the data dir, applied over the rules file at start. */
export const ZONES_FILE = 'zones.json';

export interface AlertAppDeps {
  now?: () => number;
}

export interface AlertApp {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly http: FastifyInstance;
  readonly engine: RuleEngine;
  readonly store: AlertStore;
  readonly registry: Registry;
  readonly client: MqttClient;
  readonly bus: Bus;
  httpPort(): number;
  /** A person-in-zone rule's new zone: saved first, then used from the next detections message. Throws, changing nothing, when it cannot be saved. */
  changeZone(rule: RuleOf<'person-in-zone'>, zone: Polygon): void;
  /** Runs the retention policy now; returns how many rows went. */
  prune(): { expired: number; overflow: number };
}

export function createAlertApp(config: AlertConfig, logger: Logger, deps: AlertAppDeps = {}): AlertApp {
  const now = deps.now ?? Date.now;
  // Events on the lanes must survive a restart of this service: a persistent session under a
  // fixed client id makes the broker queue them while it is down.
  const runtime = createRuntime({
    service: SERVICE,
    logger,
    mqtt: config.mqtt,
    http: config.http,
    mqttSession: { clientId: config.clientId },
  });
  const { registry, client, bus, http } = runtime;
  const store = new AlertStore(config.dataDir, { maxRows: config.maxRows, maxBaselines: config.limits.maxDriftStates });
  let engine: RuleEngine | undefined;
  const metrics = createAlertMetrics(registry, () => engine?.openByType() ?? new Map());
  const log = logger.child({ module: 'alerts' });

  const publish = (event: AlertEvent) => {
    bus.publish(channels.alerts, {}, event).catch((err: unknown) => {
      metrics.publishFailures.inc();
      log.warn({ err: { message: (err as Error).message }, alert: event.alert.id, event: event.type }, 'alert event not published (it is stored)');
    });
  };
  // Copies: a zone changed at run time changes these, never the configuration the app was given.
  const rules = config.rules.map((rule) => ({ ...rule }));
  const zones = new ZoneOverrides(path.join(config.dataDir, ZONES_FILE));
  engine = new RuleEngine({
    rules,
    store,
    metrics,
    logger: log,
    publish,
    now,
    updateIntervalMs: config.updateIntervalMs,
    expireSeconds: config.expireSeconds,
    self: SERVICE,
    limits: config.limits,
    registry,
  });
  const ruleEngine = engine;

  const changeZone = (rule: RuleOf<'person-in-zone'>, zone: Polygon): void => {
    zones.set(rule.id, { camera: rule.camera, zone, updatedAt: now() });
    ruleEngine.setZone(rule.id, zone);
    log.info({ rule: rule.id, camera: rule.camera, points: zone.length }, 'restricted zone changed');
  };

  registerAlertRoutes(http, ruleEngine, store, changeZone);

  const guarded =
    <T>(channel: string, handle: (value: T) => void) =>
    (value: T) => {
      try {
        handle(value);
      } catch (err) {
        metrics.droppedInputs.inc({ channel, reason: 'handler-error' });
        log.error({ err, channel }, 'rule evaluation failed');
      }
    };

  const prune = () => {
    const result = store.prune(now() - config.retentionDays * 86_400_000, config.maxRows);
    if (result.expired > 0) metrics.pruned.inc({ reason: 'age' }, result.expired);
    if (result.overflow > 0) metrics.pruned.inc({ reason: 'max-rows' }, result.overflow);
    if (result.expired + result.overflow > 0) log.info(result, 'pruned resolved alerts');
    return result;
  };

  const types = new Set(config.rules.map((rule) => rule.type));
  let ticker: NodeJS.Timeout | undefined;
  let pruner: NodeJS.Timeout | undefined;

  return {
    http,
    engine: ruleEngine,
    store,
    registry,
    client,
    bus,
    prune,
    changeZone,
    httpPort: () => runtime.httpPort(),
    async start() {
      // Before the first detections message: every one is judged by the zone the staff last drew.
      const zoneRules = rules.filter((rule) => rule.type === 'person-in-zone');
      const { applied, ignored } = zones.load(new Map(zoneRules.map((rule) => [rule.id, rule.camera])));
      for (const [id, { zone }] of applied) ruleEngine.setZone(id, zone);
      if (applied.size > 0) log.info({ rules: [...applied.keys()], file: zones.file }, 'restricted zones changed at run time replace those of the rules');
      for (const { id, reason } of ignored)
        log.warn({ rule: id, file: zones.file, reason }, 'a saved restricted zone is ignored (it leaves the file at the next change)');
      log.info({ rules: config.rules.length, from: config.rulesSource, database: store.file, open: ruleEngine.openAlerts().length }, 'starting');
      // Subscribed before connecting: queued messages of the persistent session arrive right after CONNACK.
      // Not awaited (they are granted once connected); a refusal is logged here and /readyz reports it.
      const subscribe = (channel: string, granted: Promise<void>): void => {
        granted.catch((err: unknown) => log.error({ err, channel }, 'cannot subscribe'));
      };
      if (types.has('person-in-zone'))
        subscribe(
          'detections',
          bus.subscribe(
            channels.detections,
            {},
            guarded('detections', (d) => ruleEngine.onDetections(d)),
          ),
        );
      if (types.has('camera-offline')) {
        subscribe(
          'cameraStatus',
          bus.subscribe(channels.cameraStatus, {}, (status, { camera }) => guarded('cameraStatus', () => ruleEngine.onCameraStatus(camera, status))(status)),
        );
      }
      if (types.has('low-confidence-scan') || types.has('model-drift'))
        subscribe(
          'scan',
          bus.subscribe(
            channels.scan,
            {},
            guarded('scan', (s) => ruleEngine.onScan(s)),
          ),
        );
      if (types.has('unknown-item') || types.has('weight-mismatch'))
        subscribe(
          'laneEvent',
          bus.subscribe(
            channels.laneEvent,
            {},
            guarded('laneEvent', (e) => ruleEngine.onLaneEvent(e)),
          ),
        );
      if (types.has('images-evicted'))
        subscribe(
          'syncEviction',
          bus.subscribe(
            channels.syncEviction,
            {},
            guarded('syncEviction', (e) => ruleEngine.onEviction(e)),
          ),
        );
      // camera-offline reads capture's availability too: its last will means every camera is offline.
      if (types.has('service-offline') || types.has('camera-offline')) {
        subscribe(
          'availability',
          bus.subscribe(channels.availability, {}, (value, params) =>
            guarded('availability', (v: typeof value) => ruleEngine.onAvailability(params.service, v))(value),
          ),
        );
      }
      prune();
      ticker = setInterval(
        guarded('tick', () => ruleEngine.tick()),
        config.tickMs,
      );
      pruner = setInterval(guarded('prune', prune), config.pruneIntervalMs);
      ticker.unref();
      pruner.unref();
      await runtime.start();
    },
    async stop() {
      if (ticker) clearInterval(ticker);
      if (pruner) clearInterval(pruner);
      try {
        ruleEngine.flushAll();
      } catch (err) {
        log.warn({ err }, 'flushing alerts failed');
      }
      await runtime.stop();
      store.close();
    },
  };
}

import path from 'node:path';
import { createRuntime, ZoneOverrides, type Logger, type Runtime } from '@sightline/kit';
import { channels, type Basket, type BasketCommand, type BasketResult, type ControlCommand, type Polygon } from '@sightline/schemas';
import { summary } from './basket.ts';
import type { CheckoutConfig } from './config.ts';
import { Controls } from './controls.ts';
import { LaneKeypads } from './keypads.ts';
import { Lane, type CameraView } from './lane.ts';
import { createCheckoutMetrics, type CheckoutMetrics } from './metrics.ts';
import { registerRoutes } from './routes.ts';
import { ScaleSimulator } from './simulator.ts';
import { openLaneStore, type LaneStore } from './store.ts';

export const HTTP_BODY_LIMIT = 4096;
/** The scan zones changed over HTTP, in the data dir, applied over the lanes file at start. */
export const ZONES_FILE = 'zones.json';

export interface CheckoutDeps {
  /** Wall clock in ms: scan, event and basket times, weight settling, timeouts. */
  now?: () => number;
  /** How often timers are checked (settling, waiting for the scale, trouble). */
  tickMs?: number;
  /** The scale simulator's randomness (tests). */
  random?: () => number;
  /** How often lane keypads look for a missing device and read an idle one (tests shorten them). */
  keypad?: { retryMs?: number; pollMs?: number };
  /** How long `POST /lanes/:lane/control` waits for its command to come back from the broker. */
  controlTimeoutMs?: number;
}

export interface CheckoutApp {
  readonly runtime: Runtime;
  readonly lanes: ReadonlyMap<string, Lane>;
  readonly metrics: CheckoutMetrics;
  readonly simulator: ScaleSimulator | null;
  readonly controls: Controls;
  readonly keypads: LaneKeypads;
  /** Runs the timers now (tests drive a fake clock with it). */
  tick(): void;
  runCommand(lane: string, command: BasketCommand, via: 'mqtt' | 'http'): BasketResult;
  /** A new scan zone for a lane: saved first, then used from the next frame. Throws, changing nothing, when it cannot be saved. */
  changeZone(lane: Lane, zone: Polygon): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

type ServiceState = 'unknown' | 'online' | 'offline';

/**
 * The checkout service: a Lane per configured lane, fed by its camera's detections and its scale's
 * readings, persisting to SQLite and publishing scans, baskets and lane events on the bus; basket
 * commands over MQTT and HTTP; optionally the scale simulator.
 */
export function createCheckoutApp(config: CheckoutConfig, logger: Logger, deps: CheckoutDeps = {}): CheckoutApp {
  const now = deps.now ?? Date.now;
  const log = logger.child({ module: 'checkout' });
  const runtime = createRuntime({ service: 'checkout', logger, mqtt: config.mqtt, http: { ...config.http, bodyLimit: HTTP_BODY_LIMIT } });
  const metrics = createCheckoutMetrics(runtime.registry);
  const { bus } = runtime;
  let store: LaneStore | null = openLaneStore(config.dataDir, now);
  const availability: Record<'capture' | 'inference', ServiceState> = { capture: 'unknown', inference: 'unknown' };
  let stopped = false;

  const publish = <T>(what: string, sending: Promise<T>) => {
    sending.catch((err: unknown) => {
      metrics.publishFailures.inc({ channel: what });
      if (!stopped) log.warn({ err: { message: (err as Error).message }, channel: what }, 'publish failed');
    });
  };
  const publishBasket = (basket: Basket) => publish('basket', bus.publish(channels.basket, { lane: basket.lane }, basket));

  // Copies: a zone changed at run time changes these, never the configuration the app was given.
  const laneConfigs = config.lanes.map((lane) => ({ ...lane }));
  const zones = new ZoneOverrides(path.join(config.dataDir, ZONES_FILE));
  const lanes = new Map<string, Lane>();
  for (const laneConfig of laneConfigs) {
    lanes.set(
      laneConfig.id,
      new Lane({
        config: laneConfig,
        catalog: config.catalog,
        store,
        metrics,
        now,
        logger: log,
        registry: runtime.registry,
        output: {
          scan: (scan) => publish('scan', bus.publish(channels.scan, { lane: scan.lane }, scan)),
          basket: publishBasket,
          event: (event) => publish('lane-event', bus.publish(channels.laneEvent, { lane: event.lane }, event)),
        },
      }),
    );
  }
  const controls = new Controls({ lanes, metrics, logger: log, now });
  /** Publishes a control on its lane's channel; checkout carries out its own when it comes back (one path for every input). */
  const sendControl = (lane: string, command: ControlCommand) => bus.publish(channels.laneControl, { lane }, command);
  const keypads = new LaneKeypads({
    lanes: laneConfigs,
    logger: log,
    registry: runtime.registry,
    now,
    ...deps.keypad,
    press: (lane, command) => publish('lane-control', sendControl(lane, { command, source: 'keypad' })),
  });
  const cameras = new Set(laneConfigs.map((lane) => lane.camera));
  /** What capture last said of each lane camera (only configured cameras are subscribed). */
  const cameraStates = new Map<string, 'online' | 'offline'>();
  // capture's last will covers its connection, not each camera: while it is offline every camera
  // is, and a status counts again only once one arrives after capture is back.
  const cameraView = (camera: string): CameraView => (availability.capture === 'offline' ? 'offline' : (cameraStates.get(camera) ?? 'unknown'));

  const simulator = config.scaleSimulator
    ? new ScaleSimulator({
        lanes: laneConfigs,
        catalog: config.catalog,
        now,
        ...(deps.random ? { random: deps.random } : {}),
        publish: async (lane, reading) => {
          await bus.publish(channels.weight, { lane }, reading);
          metrics.simulatedReadings.inc({ lane });
        },
        onError: (err) => log.debug({ err: { message: (err as Error).message } }, 'simulated reading not published'),
      })
    : null;

  const tick = () => {
    const inferenceOffline = availability.inference === 'offline';
    for (const lane of lanes.values()) {
      try {
        lane.tick({ camera: cameraView(lane.config.camera), inferenceOffline });
      } catch (err) {
        log.error({ err, lane: lane.id }, 'lane timer failed');
      }
    }
  };

  const runCommand = (laneId: string, command: BasketCommand, via: 'mqtt' | 'http'): BasketResult => {
    const lane = lanes.get(laneId);
    const base = { action: command.action, ...(command.transaction !== undefined ? { transaction: command.transaction } : {}) };
    let result: BasketResult;
    if (!lane) {
      result = { status: 'error', ...base, error: `unknown lane "${laneId}": this checkout serves ${[...lanes.keys()].join(', ')}` };
    } else {
      const outcome = lane.command(command);
      result = outcome.ok ? { status: 'ok', ...base, basket: summary(outcome.basket) } : { status: 'error', ...base, error: outcome.error };
    }
    metrics.commands.inc({ action: command.action, result: result.status, via });
    log.info(
      { lane: laneId, action: command.action, via, result: result.status, ...(result.status === 'error' ? { error: result.error } : {}) },
      'basket command',
    );
    return result;
  };

  const changeZone = (lane: Lane, zone: Polygon): void => {
    zones.set(lane.id, { camera: lane.config.camera, zone, updatedAt: now() });
    lane.setZone(zone);
    log.info({ lane: lane.id, camera: lane.config.camera, points: zone.length }, 'scan zone changed');
  };

  registerRoutes(runtime, { lanes, keypads, controls, runCommand, changeZone, sendControl, controlTimeoutMs: deps.controlTimeoutMs ?? 5000 });

  let ticker: NodeJS.Timeout | null = null;
  const onConnect = () => {
    for (const lane of lanes.values()) publishBasket(lane.basket);
  };
  // Commands the bus drops as invalid still get an answer, so a caller is never left waiting.
  /** A command that failed validation is still answered, so its sender is not left waiting. */
  const answerInvalidCommand = (err: Error, { lane }: { lane: string }) => {
    metrics.commands.inc({ action: 'invalid', result: 'error', via: 'mqtt' });
    const error = `invalid command: ${err.message}`.slice(0, 2000);
    publish('basket-result', bus.publish(channels.basketResult, { lane }, { status: 'error', error }));
  };
  const answerInvalidControl = (err: Error, { lane }: { lane: string }) => {
    publish('lane-control-result', bus.publish(channels.laneControlResult, { lane }, controls.invalid(lane, err.message)));
  };

  return {
    runtime,
    lanes,
    metrics,
    simulator,
    controls,
    keypads,
    tick,
    runCommand,
    changeZone,
    async start() {
      // Before the first frame: every frame is judged by the zone the staff last drew.
      const { applied, ignored } = zones.load(new Map([...lanes.values()].map((lane) => [lane.id, lane.config.camera])));
      for (const [id, { zone }] of applied) lanes.get(id)!.setZone(zone);
      if (applied.size > 0) log.info({ lanes: [...applied.keys()], file: zones.file }, 'scan zones changed at run time replace those of the lanes file');
      for (const { id, reason } of ignored)
        log.warn({ lane: id, file: zones.file, reason }, 'a saved scan zone is ignored (it leaves the file at the next change)');
      runtime.client.on('connect', onConnect);
      await runtime.start();
      const subscribed = (what: string) => (err: unknown) => log.error({ err }, `cannot subscribe to ${what}`);
      for (const service of ['capture', 'inference'] as const) {
        bus
          .subscribe(channels.availability, { service }, (state, params) => {
            // The bus hands every subscription each message of its channel: keep to our own.
            if (params.service !== service) return;
            if (availability[service] !== state) log.info({ service, state }, `${service} is ${state}`);
            if (service === 'capture' && state === 'offline') for (const camera of cameras) cameraStates.set(camera, 'offline');
            availability[service] = state;
            tick();
          })
          .catch(subscribed(`${service} availability`));
      }
      for (const camera of cameras) {
        bus
          .subscribe(channels.cameraStatus, { camera }, (status, params) => {
            if (params.camera !== camera) return;
            // A retained status read while capture is offline describes a capture that is gone.
            if (availability.capture === 'offline') return;
            if (cameraStates.get(camera) !== status.state)
              log.info({ camera, state: status.state, reason: status.reason }, `camera ${camera} is ${status.state}`);
            cameraStates.set(camera, status.state);
            tick();
          })
          .catch(subscribed(`status of camera ${camera}`));
        bus
          .subscribe(channels.detections, { camera }, (detections, params) => {
            if (params.camera !== camera) return;
            simulator?.onDetections(camera, detections);
            for (const lane of lanes.values()) if (lane.config.camera === camera) lane.onDetections(detections);
          })
          .catch(subscribed(`detections of ${camera}`));
      }
      bus
        .subscribe(channels.weight, {}, (reading, { lane: laneId }) => {
          const lane = lanes.get(laneId);
          if (!lane) {
            metrics.dropped.inc({ channel: 'weight', reason: 'unknown-lane' });
            log.debug({ lane: laneId }, 'weight reading for a lane this checkout does not serve');
            return;
          }
          if (!lane.config.scale) {
            metrics.dropped.inc({ channel: 'weight', reason: 'scale-disabled' });
            return;
          }
          lane.onWeight(reading.grams, reading.stable);
        })
        .catch(subscribed('weight readings'));
      bus
        .subscribe(
          channels.basketCommand,
          {},
          (command, { lane }) => {
            const result = runCommand(lane, command, 'mqtt');
            publish('basket-result', bus.publish(channels.basketResult, { lane }, result));
          },
          { onInvalid: answerInvalidCommand },
        )
        .catch(subscribed('basket commands'));
      bus
        .subscribe(
          channels.laneControl,
          {},
          (command, { lane }) => {
            const result = controls.handle(lane, command);
            if (result) publish('lane-control-result', bus.publish(channels.laneControlResult, { lane }, result));
          },
          { onInvalid: answerInvalidControl },
        )
        .catch(subscribed('lane controls'));
      await keypads.start();
      ticker = setInterval(tick, deps.tickMs ?? 100);
      simulator?.start();
      log.info(
        { lanes: [...lanes.keys()], catalog: config.catalogFile, products: config.catalog.catalog.products.length, simulator: simulator !== null },
        'checkout started',
      );
    },
    async stop() {
      stopped = true;
      await keypads.stop();
      controls.close();
      simulator?.stop();
      if (ticker) clearInterval(ticker);
      ticker = null;
      await runtime.stop();
      runtime.client.removeListener('connect', onConnect);
      store?.close();
      store = null;
    },
  };
}

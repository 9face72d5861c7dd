import type { FastifyInstance } from 'fastify';
import type { MqttClient } from 'mqtt';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import { createBus, isBusService, type Bus, type Topics } from '@sightline/schemas';
import type { Logger } from 'pino';
import { createHttpApp } from './http.ts';
import { droppedLogLines } from './log-sink.ts';
import type { HttpSettings } from './shared-config.ts';
import { closeServiceMqttClient, createServiceMqttClient, type MqttSession, type MqttSettings } from './mqtt.ts';

export interface Service {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface RuntimeOptions {
  service: string;
  logger: Logger;
  mqtt: MqttSettings;
  /** Where to listen and who may call; `bodyLimit` for routes that set none (default JSON_BODY_LIMIT). */
  http: HttpSettings & { bodyLimit?: number };
  /** Extra readiness condition of the service: why it is not ready, or null. */
  notReadyReason?: () => string | null;
  /** Keep a persistent MQTT session under this fixed client id (see createServiceMqttClient). */
  mqttSession?: MqttSession;
}

/** What a bus-connected service is built from: MQTT client, bus, HTTP app and metrics registry. */
export interface Runtime extends Service {
  readonly service: string;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly client: MqttClient;
  readonly topics: Topics;
  readonly bus: Bus;
  readonly http: FastifyInstance;
  /** The HTTP port actually bound (useful with port 0). */
  httpPort(): number;
}

/**
 * Builds the parts without touching the network. `start()` begins connecting to the broker (it
 * does not wait for it: a broker that is down must not stop the service from coming up and
 * reporting why on `/readyz`) and then listens; `stop()` closes HTTP, then says `offline` and
 * disconnects.
 */
export function createRuntime(options: RuntimeOptions): Runtime {
  const { service, logger } = options;
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  new Counter({
    name: 'sightline_log_lines_dropped_total',
    help: 'Log lines dropped because stdout was full (its reader not reading) or gone, instead of blocking the service',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(droppedLogLines());
    },
  });
  const { client, topics } = createServiceMqttClient(service, options.mqtt, logger, options.mqttSession);
  const bus = createBus({ client, topics, logger: logger.child({ module: 'bus' }), registry, ...(isBusService(service) ? { party: service } : {}) });
  const http = createHttpApp({
    logger,
    registry,
    access: options.http,
    ...(options.http.bodyLimit !== undefined ? { bodyLimit: options.http.bodyLimit } : {}),
    notReadyReason: () => {
      if (!client.connected) return 'not connected to the MQTT broker';
      if (!bus.ready()) return 'MQTT subscriptions not yet granted';
      return options.notReadyReason?.() ?? null;
    },
  });

  return {
    service,
    logger,
    registry,
    client,
    topics,
    bus,
    http,
    httpPort() {
      const address = http.server.address();
      return typeof address === 'object' && address !== null ? address.port : options.http.port;
    },
    async start() {
      client.connect();
      await http.listen({ host: options.http.host, port: options.http.port });
    },
    async stop() {
      await http.close().catch((err: unknown) => logger.warn({ err }, 'closing HTTP failed'));
      await closeServiceMqttClient(service, client, topics);
    },
  };
}

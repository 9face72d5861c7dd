import type { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import MemoryPersistence from 'aedes-persistence/asyncPersistence.js';
import AsyncLevelPersistence from 'aedes-persistence-level/asyncPersistence.js';
import type { Redis } from 'ioredis';
import { Level } from 'level';
import MQEmitterRedis from 'mqemitter-redis';
import { createHttpApp, type Logger, type Service } from '@sightline/kit';
import { channels, createTopics, type Availability } from '@sightline/schemas';
import { createSecurity, isLoopback, remoteAddressOf, type Security } from './auth.ts';
import { BoundedPersistence, type AsyncPersistence, type PersistenceCaps } from './bounded-persistence.ts';
import { createClientIdOwners, createRedisClientIdOwners, type ClientIdOwners } from './client-ids.ts';
import { redactUrl, type BrokerConfig } from './config.ts';
import { ConnectionGuard } from './connection-guard.ts';
import { dedupeInAnyOrder } from './dedupe.ts';
import { loadTls, startStreamListener, startWebSocketListener, type Handle, type Listener } from './listeners.ts';
import { createBrokerMetrics, type BrokerMetrics } from './metrics.ts';
import { PacketGate, type PacketLimits, type Violation } from './packet-gate.ts';
import { provisionUsers } from './provision.ts';
import { createRateLimiter } from './rate-limit.ts';
import { connectRedis, createRedis, handleQuitRejections } from './redis.ts';
import { RedisPersistence } from './redis-persistence.ts';
import { createThrottledWarn } from './throttled-warn.ts';
import { readUsersFile, type UsersFile } from './users-file.ts';

/**
 * The mqtt-packet aedes writes with keeps 65,536 pre-encoded numbers (message ids, lengths) by
 * default: about 7.5 MB of every broker's heap, for a saving on writes too small to measure
 * beside a 50 KB frame. Off, as in the services' own MQTT clients.
 */
export const aedesPacketWriter = (createRequire(import.meta.resolve('aedes'))('mqtt-packet') as { writeToStream: { cacheNumbers: boolean } }).writeToStream;
aedesPacketWriter.cacheNumbers = false;

export interface BrokerDeps {
  metrics?: BrokerMetrics;
  /** Clock for the connect rate limiter (milliseconds). */
  now?: () => number;
}

export interface BrokerPorts {
  mqtt: number;
  ws: number;
  mqtts: number | null;
  wss: number | null;
  http: number;
}

export interface BrokerApp extends Service {
  ports(): BrokerPorts;
  /** Re-reads the users file and applies it to open connections (removed users and changed passwords are disconnected, rights change at once). */
  reloadUsers(): Promise<void>;
  readonly metrics: BrokerMetrics;
  readonly http: ReturnType<typeof createHttpApp>;
}

/** Room in a PUBLISH beside its payload: topic length (2), the longest topic (65535), packet id (2). */
const PUBLISH_HEADER_ROOM = 2 + 65535 + 2;
/**
 * A SUBSCRIBE or UNSUBSCRIBE: 64 KiB holds hundreds of filters (Sightline's busiest subscriber,
 * alert, sends 184 bytes with the default prefix).
 */
const SUBSCRIBE_BYTES = 64 * 1024;
/** Fixed header: type byte and at most four remaining-length bytes. */
const FIXED_HEADER_BYTES = 5;
const STOP_STEP_MS = 1500;
/**
 * How often a broker of a cluster says it is alive (aedes' default is a minute). A peer unheard
 * for three of these is gone: its clients' wills are then sent by the others (aedes checks every
 * four), and a broker stopping without live peers marks the broker service offline.
 */
const CLUSTER_HEARTBEAT_MS = 5000;

/** What each packet may announce: a few KiB before authentication, a payload's worth for a PUBLISH. */
export function packetLimits(config: Pick<BrokerConfig, 'maxConnectBytes' | 'maxPayloadBytes'>): PacketLimits {
  return { connectBytes: config.maxConnectBytes, publishBytes: config.maxPayloadBytes + PUBLISH_HEADER_ROOM, subscribeBytes: SUBSCRIBE_BYTES };
}

/** The client ids of sessions with queued messages in an aedes-persistence-level 9 store (keys `outgoing:<encoded id>:<broker>:<counter>`). */
async function* levelQueuedClientIds(db: Level<string, Buffer>): AsyncGenerator<string> {
  let last: string | null = null;
  for await (const key of db.keys({ gte: 'outgoing:', lt: 'outgoing;' })) {
    const encoded = key.slice('outgoing:'.length, key.indexOf(':', 'outgoing:'.length));
    if (encoded === last) continue;
    last = encoded;
    yield decodeURIComponent(encoded);
  }
}

/** A store that starts empty has no session with queued messages. */
async function* noneQueued(): AsyncGenerator<string> {}

function hostIsLoopback(host: string): boolean {
  return host === 'localhost' || isLoopback(host);
}

/** Refuses a listener reachable from the network that neither encrypts nor authenticates. */
export function exposureProblem(config: BrokerConfig): string | null {
  if (hostIsLoopback(config.host) || config.anonymous !== 'on' || config.tls !== null) return null;
  if (config.insecure) return null;
  return `refusing to listen on ${config.host} with SIGHTLINE_BROKER_ANONYMOUS=on and no TLS: anyone on the network could read and write every topic. Use a users file, TLS, a loopback host, or set SIGHTLINE_BROKER_INSECURE=true to accept it`;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function createBrokerApp(config: BrokerConfig, logger: Logger, deps: BrokerDeps = {}): BrokerApp {
  const log = logger.child({ module: 'broker' });
  const metrics = deps.metrics ?? createBrokerMetrics();
  const topics = createTopics(config.topicPrefix);
  const availabilityTopic = topics.topic(channels.availability, { service: 'broker' });
  const warn = createThrottledWarn(log);
  let users: UsersFile | null = null;
  let broker: Aedes | null = null;
  let security: Security | null = null;
  let db: Level<string, Buffer> | null = null;
  let persistence: AsyncPersistence | null = null;
  /** With Redis persistence: the data, subscriber and publisher connections, each closed by stop. */
  let redisConnections: Redis[] = [];
  let listeners: Listener[] = [];
  let ready = false;
  let httpListening = false;
  /** In a cluster: the other brokers, by id, and when each was last heard from. */
  let peers: Map<string, number> | null = null;

  const http = createHttpApp({
    logger,
    registry: metrics.registry,
    access: config.httpAccess,
    notReadyReason: () => (ready ? null : 'MQTT listeners not bound yet'),
  });

  const rateLimiter = createRateLimiter(config.connectRate, config.connectBurst, deps.now);

  function closedForLimit(reason: string, fields: Record<string, unknown>): void {
    metrics.connectionsClosed.inc({ reason });
    warn(reason, { reason, ...fields }, 'connection closed');
  }

  async function loadUsers(): Promise<void> {
    if (config.usersFile === null) return;
    let file = await readUsersFile(config.usersFile, { missingOk: config.provision !== null });
    if (config.provision !== null) {
      file = await provisionUsers(file, config.usersFile, config.provision.users, config.provision.dir, config.topicPrefix, logger);
    }
    users = file;
    log.info({ usersFile: config.usersFile, users: Object.keys(file.users).length }, 'users loaded');
  }

  function publishAvailability(state: Availability): Promise<void> {
    const current = broker;
    if (current === null) return Promise.resolve();
    const packet = {
      cmd: 'publish',
      topic: availabilityTopic,
      payload: channels.availability.codec.encode(state),
      qos: channels.availability.qos,
      retain: channels.availability.retain,
      dup: false,
    } satisfies PublishPacket;
    return new Promise((resolve, reject) => current.publish(packet, (err) => (err ? reject(err) : resolve())));
  }

  function logExposure(): void {
    if (hostIsLoopback(config.host)) return;
    if (config.anonymous === 'on') {
      if (config.tls === null) log.warn({ host: config.host }, 'SIGHTLINE_BROKER_INSECURE=true: anonymous clients from any address, without TLS');
      else log.warn({ host: config.host }, 'anonymous clients are allowed from any address (SIGHTLINE_BROKER_ANONYMOUS=on)');
    } else if (config.tls === null) {
      log.warn({ host: config.host }, 'listening on a non-loopback address without TLS: passwords cross the network in clear');
    }
  }

  interface Storage {
    persistence: AsyncPersistence;
    clientIds: ClientIdOwners;
    /** Where aedes passes messages between its clients: its own in-memory emitter unless brokers share Redis. */
    mq?: ReturnType<typeof MQEmitterRedis>;
  }

  async function openStorage(): Promise<Storage> {
    const caps = {
      maxRetained: config.maxRetainedMessages,
      maxRetainedBytes: config.maxRetainedBytes,
      maxQueued: config.maxQueuedMessages,
      maxQueuedBytes: config.maxQueuedBytes,
    };
    if (config.persistence === 'redis') return openRedisStorage(caps);
    if (config.persistence === 'memory') {
      persistence = new BoundedPersistence(new MemoryPersistence() as unknown as AsyncPersistence, { caps, metrics, logger, queuedClientIds: noneQueued });
      return { persistence, clientIds: createClientIdOwners(null) };
    }
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    const level = new Level<string, Buffer>(config.dataDir, { valueEncoding: 'buffer' });
    try {
      await level.open();
    } catch (err) {
      const cause = (err as { cause?: Error }).cause?.message ?? (err as Error).message;
      throw new Error(`cannot open the broker data dir ${config.dataDir}: ${cause}`);
    }
    db = level;
    const inner = new AsyncLevelPersistence(level) as unknown as AsyncPersistence;
    persistence = new BoundedPersistence(inner, { caps, metrics, logger, queuedClientIds: () => levelQueuedClientIds(level) });
    return { persistence, clientIds: createClientIdOwners(level) };
  }

  /** aedes' own clustering: messages through Redis pub/sub, sessions, subscriptions and retained messages in Redis. */
  async function openRedisStorage(caps: PersistenceCaps): Promise<Storage> {
    const url = config.redisUrl;
    if (url === null) throw new Error('persistence redis needs a Redis URL');
    const data = createRedis(url, 'data', logger);
    const subscriber = createRedis(url, 'subscriber', logger);
    const publisher = createRedis(url, 'publisher', logger);
    redisConnections = [data, subscriber, publisher];
    await Promise.all(redisConnections.map((redis) => connectRedis(redis, url)));
    handleQuitRejections(subscriber);
    handleQuitRejections(publisher);
    const mq = MQEmitterRedis({ subConn: subscriber, pubConn: publisher, concurrency: 100, matchEmptyLevels: true });
    // mqemitter-redis re-emits its connections' errors here, and an 'error' nobody listens to would throw; createRedis logs them.
    (mq as unknown as { state: EventEmitter }).state.on('error', () => {});
    persistence = new RedisPersistence(data, { caps, metrics, logger });
    return { persistence, clientIds: createRedisClientIdOwners(data), mq };
  }

  function wireEvents(current: Aedes, security: Security): void {
    current.on('client', () => metrics.connections.set(current.connectedClients));
    current.on('clientDisconnect', (client) => {
      metrics.connections.set(current.connectedClients);
      log.debug({ clientId: client.id }, 'client disconnected');
    });
    current.on('clientReady', (client) => {
      metrics.connectionsTotal.inc();
      log.debug({ clientId: client.id, username: security.usernameOf(client), address: remoteAddressOf(client) }, 'client connected');
    });
    current.on('clientError', (client, err) => log.debug({ clientId: client.id, err: { message: err.message } }, 'client error'));
    current.on('connectionError', (client, err) => log.debug({ address: remoteAddressOf(client), err: { message: err.message } }, 'connection error'));
    current.on('keepaliveTimeout', (client) => log.debug({ clientId: client.id }, 'keepalive expired'));
    // aedes reports its periodic will scan failing (Redis away) as 'error': unheard, it would end the process.
    (current as unknown as EventEmitter).on('error', (err: Error) => warn('aedes-error', { err: { message: err.message } }, 'broker housekeeping failed'));
  }

  function announce(current: Aedes, what: 'heartbeat' | 'gone'): Promise<void> {
    const packet = {
      cmd: 'publish',
      topic: `$SYS/${current.id}/${what}`,
      payload: Buffer.from(current.id),
      qos: 0,
      retain: false,
      dup: false,
    } satisfies PublishPacket;
    return new Promise((resolve, reject) => current.publish(packet, (err) => (err ? reject(err) : resolve())));
  }

  /**
   * The brokers of a cluster share the retained availability of the broker service: one leaving
   * while others run must not mark it offline. Each learns of the others from aedes' birth and
   * heartbeat messages (answering a birth at once, so a newcomer knows its peers from the start)
   * and from the `gone` each sends as it stops.
   */
  function watchPeers(current: Aedes): Map<string, number> {
    const seen = new Map<string, number>();
    const listen = (what: string, heard: (id: string) => void) =>
      current.subscribe(
        `$SYS/+/${what}`,
        (packet, done) => {
          const id = packet.payload.toString();
          if (id !== current.id) heard(id);
          done();
        },
        () => {},
      );
    const alive = (id: string) => {
      const now = Date.now();
      // Forget the long silent: the map holds the live peers and no more.
      for (const [peer, at] of seen) if (now - at > 3 * CLUSTER_HEARTBEAT_MS) seen.delete(peer);
      seen.set(id, now);
    };
    listen('heartbeat', alive);
    listen('birth', (id) => {
      alive(id);
      announce(current, 'heartbeat').catch((err: unknown) => log.debug({ err }, 'answering a birth failed'));
    });
    listen('gone', (id) => seen.delete(id));
    return seen;
  }

  function livePeers(): number {
    if (peers === null) return 0;
    const now = Date.now();
    return [...peers.values()].filter((at) => now - at <= 3 * CLUSTER_HEARTBEAT_MS).length;
  }

  /** Denied and oversize publishes are acknowledged by aedes but must go nowhere. */
  function dropDenied(current: Aedes, security: Security): void {
    const publish = current.publish.bind(current) as (packet: PublishPacket, client: unknown, done?: (err?: Error) => void) => void;
    (current as unknown as { publish: typeof publish }).publish = (packet, client, done) => {
      if (typeof client === 'function') return publish(packet, client);
      if (security.takeDropped(packet)) return done?.();
      return publish(packet, client, done);
    };
  }

  async function stopSteps(): Promise<void> {
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await withTimeout(fn(), STOP_STEP_MS, what);
      } catch (err) {
        log.warn({ err }, `stop: ${what} failed`);
      }
    };
    ready = false;
    const current = broker;
    if (current !== null && peers !== null) await step('telling the cluster', () => announce(current, 'gone'));
    const others = livePeers();
    peers = null;
    if (current !== null && others === 0) await step('publishing offline', () => publishAvailability('offline'));
    else if (current !== null) log.info({ peers: others }, 'other brokers of the cluster run on: the broker stays online');
    if (httpListening) await step('closing HTTP', () => http.close());
    httpListening = false;
    await step('closing listeners', () => Promise.all(listeners.reverse().map((l) => l.close())));
    listeners = [];
    if (current !== null) await step('closing the broker', () => new Promise<void>((resolve) => current.close(() => resolve())));
    broker = null;
    if (persistence !== null) await step('closing the data dir', () => persistence!.destroy());
    else if (db !== null) await step('closing the data dir', () => db!.close());
    // Whatever quit did not end (Redis away, or a start that failed half way) ends here, at once.
    for (const redis of redisConnections) redis.disconnect();
    redisConnections = [];
    persistence = null;
    db = null;
    security = null;
  }

  const app: BrokerApp = {
    metrics,
    http,
    ports() {
      const portOf = (kind: Listener['kind']) => listeners.find((l) => l.kind === kind)?.port() ?? null;
      const address = http.server.address();
      return {
        mqtt: portOf('mqtt') ?? 0,
        ws: portOf('ws') ?? 0,
        mqtts: portOf('mqtts'),
        wss: portOf('wss'),
        http: typeof address === 'object' && address !== null ? address.port : 0,
      };
    },
    async reloadUsers() {
      if (config.usersFile === null) return;
      users = await readUsersFile(config.usersFile);
      log.info({ usersFile: config.usersFile, users: Object.keys(users.users).length }, 'users reloaded');
      security?.applyUsers();
    },
    async start() {
      const problem = exposureProblem(config);
      if (problem !== null) throw new Error(problem);
      logExposure();
      try {
        await loadUsers();
        const tls = config.tls === null ? undefined : await loadTls(config.tls);
        const storage = await openStorage();
        const { clientIds } = storage;
        metrics.sessions.set(await clientIds.load());
        let current: Aedes | null = null;
        const currentSecurity = createSecurity({
          users: () => users,
          anonymous: config.anonymous,
          topicPrefix: config.topicPrefix,
          maxPayloadBytes: config.maxPayloadBytes,
          rateLimiter,
          clientIds,
          maxSessions: config.maxSessions,
          maxClientBufferBytes: config.maxClientBufferBytes,
          connectedClient: (clientId) =>
            current === null ? undefined : (current as unknown as { clients: Record<string, Client | undefined> }).clients[clientId],
          metrics,
          logger,
        });
        security = currentSecurity;
        current = await Aedes.createBroker({
          persistence: storage.persistence,
          ...(storage.mq !== undefined ? { mq: storage.mq, heartbeatInterval: CLUSTER_HEARTBEAT_MS } : {}),
          ...currentSecurity.hooks,
          drainTimeout: 30000,
          connectTimeout: 10000,
        });
        const aedes = current;
        broker = aedes;
        if (storage.mq !== undefined) peers = watchPeers(aedes);
        wireEvents(aedes, currentSecurity);
        dropDenied(aedes, currentSecurity);
        const limits = packetLimits(config);
        const handle: Handle = (stream, accepted) => {
          const address = accepted.request?.socket.remoteAddress ?? (stream as Partial<Socket>).remoteAddress ?? 'unknown';
          const gate = new PacketGate(stream, {
            limits,
            onViolation: (violation: Violation) => closedForLimit(violation.reason, { address, ...violation }),
            ...(accepted.onAuthenticated ? { onAuthenticated: accepted.onAuthenticated } : {}),
          });
          dedupeInAnyOrder(aedes.handle(gate, accepted.request));
        };
        const guard = new ConnectionGuard(
          { maxConnections: config.maxConnections, maxConnectionsPerIp: config.maxConnectionsPerIp },
          (reason, address) => closedForLimit(reason, { address, maxConnections: config.maxConnections, maxConnectionsPerIp: config.maxConnectionsPerIp }),
          metrics.registry,
        );
        const wsLimits = { beforeAuthentication: limits.connectBytes + FIXED_HEADER_BYTES, afterAuthentication: limits.publishBytes + FIXED_HEADER_BYTES };
        listeners.push(await startStreamListener('mqtt', config.host, config.ports.mqtt, handle, guard, log));
        listeners.push(await startWebSocketListener('ws', config.host, config.ports.ws, handle, guard, wsLimits, log));
        if (tls !== undefined) {
          listeners.push(await startStreamListener('mqtts', config.host, config.ports.mqtts, handle, guard, log, tls));
          listeners.push(await startWebSocketListener('wss', config.host, config.ports.wss, handle, guard, wsLimits, log, tls));
        }
        await http.listen({ host: config.httpHost, port: config.ports.http });
        httpListening = true;
        await publishAvailability('online');
        ready = true;
        const redis = config.redisUrl === null ? {} : { redis: redactUrl(config.redisUrl), brokerId: aedes.id };
        log.info({ ports: app.ports(), anonymous: config.anonymous, persistence: config.persistence, ...redis }, 'broker listening');
      } catch (err) {
        await stopSteps();
        throw err;
      }
    },
    async stop() {
      await stopSteps();
    },
  };
  return app;
}

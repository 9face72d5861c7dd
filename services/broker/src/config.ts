import { resolve } from 'node:path';
import { z } from 'zod';
import {
  ConfigError,
  dataDirSetting,
  env,
  httpAccessSettingsSchema,
  httpPortOf,
  httpSettingsFrom,
  loadConfig,
  serviceDataDir,
  type HttpAccess,
} from '@sightline/kit';
import { busServices, DEFAULT_TOPIC_PREFIX, isBusService, topicPrefixSchema } from '@sightline/schemas';
import type { Access } from './acl.ts';
import { usernameSchema } from './users-file.ts';

const KIB = 1024;
const MIB = 1024 * KIB;

/** What a provisioned user may do: plain rights under the prefix, or a role whose rights come from the channel definitions. */
export type ProvisionRights = Access | 'service' | 'integrator';

/**
 * `name` (read and write under the prefix), `name:read|write|readwrite`, `name:service` (a bus
 * service: exactly its channels) or `name:integrator`.
 */
const provisionEntrySchema = z
  .string()
  .transform((entry) => {
    const [username = '', rights = 'readwrite'] = entry.split(':');
    return { username, rights };
  })
  .pipe(
    z
      .strictObject({
        username: usernameSchema,
        rights: z.enum(['read', 'write', 'readwrite', 'service', 'integrator'], {
          error: 'rights must be "read", "write", "readwrite", "service" or "integrator"',
        }),
      })
      .superRefine(({ username, rights }, ctx) => {
        if (rights === 'service' && !isBusService(username)) {
          ctx.addIssue({ code: 'custom', path: ['rights'], message: `"${username}:service": ${username} is not a bus service (${busServices.join(', ')})` });
        }
      }),
  );

export type ProvisionedUser = z.infer<typeof provisionEntrySchema>;

export const brokerConfigSchema = z.object({
  SIGHTLINE_LOG_LEVEL: env.logLevel(),
  SIGHTLINE_TOPIC_PREFIX: topicPrefixSchema.default(DEFAULT_TOPIC_PREFIX),
  ...dataDirSetting,
  ...httpAccessSettingsSchema,
  SIGHTLINE_BROKER_HOST: env.host('127.0.0.1'),
  SIGHTLINE_BROKER_HTTP_HOST: env.optionalString(),
  SIGHTLINE_BROKER_MQTT_PORT: env.port(1883),
  SIGHTLINE_BROKER_WS_PORT: env.port(9001),
  SIGHTLINE_BROKER_MQTTS_PORT: env.port(8883),
  SIGHTLINE_BROKER_WSS_PORT: env.port(9443),
  SIGHTLINE_BROKER_HTTP_PORT: env.port(httpPortOf('broker')),
  SIGHTLINE_BROKER_TLS_CERT: env.optionalString(),
  SIGHTLINE_BROKER_TLS_KEY: env.optionalString(),
  SIGHTLINE_BROKER_USERS_FILE: env.optionalString(),
  SIGHTLINE_BROKER_ANONYMOUS: z.enum(['off', 'loopback', 'on'], { error: 'must be off, loopback or on' }).default('off'),
  SIGHTLINE_BROKER_INSECURE: env.bool(false),
  SIGHTLINE_BROKER_DATA_DIR: env.optionalString(),
  SIGHTLINE_BROKER_PERSISTENCE: z.enum(['level', 'memory', 'redis'], { error: 'must be level, memory or redis' }).optional(),
  /** Checked in loadBrokerConfig, where a problem can be named without printing the credentials the URL may hold. */
  SIGHTLINE_BROKER_REDIS_URL: env.optionalString(),
  SIGHTLINE_BROKER_MAX_PAYLOAD_BYTES: env.int(4 * MIB, 1, 256 * MIB),
  SIGHTLINE_BROKER_CONNECT_RATE: env.number(20, 0, 100000),
  SIGHTLINE_BROKER_CONNECT_BURST: env.int(50, 1, 100000),
  SIGHTLINE_BROKER_MAX_CONNECT_BYTES: env.int(4 * KIB, 256, MIB),
  SIGHTLINE_BROKER_MAX_CONNECTIONS: env.int(1024, 1, 1_000_000),
  SIGHTLINE_BROKER_MAX_CONNECTIONS_PER_IP: env.int(128, 1, 1_000_000),
  SIGHTLINE_BROKER_MAX_SESSIONS: env.int(256, 0, 1_000_000),
  SIGHTLINE_BROKER_MAX_CLIENT_BUFFER_BYTES: env.int(32 * MIB, 64 * KIB, 4096 * MIB),
  SIGHTLINE_BROKER_MAX_QUEUED_MESSAGES: env.int(1000, 1, 10_000_000),
  SIGHTLINE_BROKER_MAX_QUEUED_BYTES: env.int(16 * MIB, KIB, 64 * 1024 * MIB),
  SIGHTLINE_BROKER_MAX_RETAINED_MESSAGES: env.int(10_000, 1, 10_000_000),
  SIGHTLINE_BROKER_MAX_RETAINED_BYTES: env.int(64 * MIB, KIB, 64 * 1024 * MIB),
  SIGHTLINE_BROKER_PROVISION_USERS: z
    .string()
    .transform((text) =>
      text
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry.length > 0),
    )
    .pipe(z.array(provisionEntrySchema))
    .optional(),
  SIGHTLINE_BROKER_PROVISION_DIR: env.optionalString(),
});

const USERS_FILE_KEY = 'SIGHTLINE_BROKER_USERS_FILE';

export type Anonymous = 'off' | 'loopback' | 'on';

export type PersistenceKind = 'level' | 'memory' | 'redis';

/** The URL with any user name and password replaced, fit for a log line or an error message. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === '' && parsed.password === '') return parsed.href;
    parsed.username = '***';
    parsed.password = '';
    return parsed.href;
  } catch {
    return '(not a URL)';
  }
}

/** The problem with a Redis URL, or null: redis:// or rediss:// (TLS) with a host, e.g. redis://:password@redis:6379/0. */
export function redisUrlProblem(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'SIGHTLINE_BROKER_REDIS_URL is not a URL (expected redis://[:password@]host[:port][/db])';
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    return `SIGHTLINE_BROKER_REDIS_URL must start with redis:// or rediss:// (got ${parsed.protocol}//)`;
  }
  if (parsed.hostname === '') return `SIGHTLINE_BROKER_REDIS_URL names no host (${redactUrl(url)})`;
  if (!/^\/?\d*$/.test(parsed.pathname)) return `SIGHTLINE_BROKER_REDIS_URL: the path must be a database number (${redactUrl(url)})`;
  return null;
}

export interface BrokerConfig {
  logLevel: string;
  topicPrefix: string;
  host: string;
  httpHost: string;
  /** Who may talk to the health and metrics endpoint (Host names, token). */
  httpAccess: HttpAccess;
  ports: { mqtt: number; ws: number; mqtts: number; wss: number; http: number };
  tls: { cert: string; key: string } | null;
  usersFile: string | null;
  anonymous: Anonymous;
  insecure: boolean;
  dataDir: string;
  persistence: PersistenceKind;
  /** With persistence 'redis': the Redis server every broker of the cluster shares. May hold a password: log it only through redactUrl. */
  redisUrl: string | null;
  maxPayloadBytes: number;
  connectRate: number;
  connectBurst: number;
  /** Largest remaining length of the first packet (CONNECT), read before authentication. */
  maxConnectBytes: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  maxSessions: number;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  /** Bytes waiting in one client's socket before it counts as a slow consumer. */
  maxClientBufferBytes: number;
  maxRetainedMessages: number;
  maxRetainedBytes: number;
  provision: { users: ProvisionedUser[]; dir: string } | null;
}

export function loadBrokerConfig(source: NodeJS.ProcessEnv = process.env): BrokerConfig {
  const raw = loadConfig('broker', brokerConfigSchema, source);
  const problems: string[] = [];
  const usersFile = raw.SIGHTLINE_BROKER_USERS_FILE === undefined ? null : resolve(raw.SIGHTLINE_BROKER_USERS_FILE);

  const cert = raw.SIGHTLINE_BROKER_TLS_CERT;
  const key = raw.SIGHTLINE_BROKER_TLS_KEY;
  if ((cert === undefined) !== (key === undefined)) {
    problems.push('SIGHTLINE_BROKER_TLS_CERT and SIGHTLINE_BROKER_TLS_KEY must be given together');
  }
  if (raw.SIGHTLINE_BROKER_ANONYMOUS === 'off' && usersFile === null) {
    problems.push(
      `SIGHTLINE_BROKER_ANONYMOUS is off and there is no ${USERS_FILE_KEY}: no client could connect (give a users file, or set ANONYMOUS=loopback for development)`,
    );
  }
  const provisionUsers = raw.SIGHTLINE_BROKER_PROVISION_USERS ?? [];
  const provisionDir = raw.SIGHTLINE_BROKER_PROVISION_DIR;
  if (provisionUsers.length > 0 && (usersFile === null || provisionDir === undefined)) {
    problems.push(`SIGHTLINE_BROKER_PROVISION_USERS needs ${USERS_FILE_KEY} and SIGHTLINE_BROKER_PROVISION_DIR`);
  }

  const host = raw.SIGHTLINE_BROKER_HOST;
  const httpHost = raw.SIGHTLINE_BROKER_HTTP_HOST ?? host;
  const tls = cert !== undefined && key !== undefined ? { cert: resolve(cert), key: resolve(key) } : null;
  const listeners: [string, string, number][] = [
    ['MQTT_PORT', host, raw.SIGHTLINE_BROKER_MQTT_PORT],
    ['WS_PORT', host, raw.SIGHTLINE_BROKER_WS_PORT],
    ['HTTP_PORT', httpHost, raw.SIGHTLINE_BROKER_HTTP_PORT],
    ...(tls !== null
      ? ([
          ['MQTTS_PORT', host, raw.SIGHTLINE_BROKER_MQTTS_PORT],
          ['WSS_PORT', host, raw.SIGHTLINE_BROKER_WSS_PORT],
        ] as [string, string, number][])
      : []),
  ];
  const seen = new Map<number, string>();
  for (const [name, , port] of listeners) {
    if (port === 0) continue;
    const other = seen.get(port);
    if (other !== undefined) problems.push(`SIGHTLINE_BROKER_${name} and SIGHTLINE_BROKER_${other} are both ${port}`);
    seen.set(port, name);
  }
  const redisUrl = raw.SIGHTLINE_BROKER_REDIS_URL ?? null;
  const persistence: PersistenceKind = raw.SIGHTLINE_BROKER_PERSISTENCE ?? (redisUrl !== null ? 'redis' : 'level');
  if (redisUrl !== null) {
    const problem = redisUrlProblem(redisUrl);
    if (problem !== null) problems.push(problem);
    if (persistence !== 'redis')
      problems.push(
        `SIGHTLINE_BROKER_PERSISTENCE=${persistence} and SIGHTLINE_BROKER_REDIS_URL are both set: a broker with a Redis URL keeps its state in Redis`,
      );
  } else if (persistence === 'redis') {
    problems.push('SIGHTLINE_BROKER_PERSISTENCE=redis needs SIGHTLINE_BROKER_REDIS_URL');
  }
  if (problems.length > 0) throw new ConfigError('broker', problems);

  const dataDir = raw.SIGHTLINE_BROKER_DATA_DIR ?? serviceDataDir(raw, 'broker');
  return {
    logLevel: raw.SIGHTLINE_LOG_LEVEL,
    topicPrefix: raw.SIGHTLINE_TOPIC_PREFIX,
    host,
    httpHost,
    httpAccess: httpSettingsFrom('broker', { host: httpHost, port: raw.SIGHTLINE_BROKER_HTTP_PORT }, raw),
    ports: {
      mqtt: raw.SIGHTLINE_BROKER_MQTT_PORT,
      ws: raw.SIGHTLINE_BROKER_WS_PORT,
      mqtts: raw.SIGHTLINE_BROKER_MQTTS_PORT,
      wss: raw.SIGHTLINE_BROKER_WSS_PORT,
      http: raw.SIGHTLINE_BROKER_HTTP_PORT,
    },
    tls,
    usersFile,
    anonymous: raw.SIGHTLINE_BROKER_ANONYMOUS,
    insecure: raw.SIGHTLINE_BROKER_INSECURE,
    dataDir: resolve(dataDir),
    persistence,
    redisUrl,
    maxPayloadBytes: raw.SIGHTLINE_BROKER_MAX_PAYLOAD_BYTES,
    connectRate: raw.SIGHTLINE_BROKER_CONNECT_RATE,
    connectBurst: raw.SIGHTLINE_BROKER_CONNECT_BURST,
    maxConnectBytes: raw.SIGHTLINE_BROKER_MAX_CONNECT_BYTES,
    maxConnections: raw.SIGHTLINE_BROKER_MAX_CONNECTIONS,
    maxConnectionsPerIp: raw.SIGHTLINE_BROKER_MAX_CONNECTIONS_PER_IP,
    maxSessions: raw.SIGHTLINE_BROKER_MAX_SESSIONS,
    maxQueuedMessages: raw.SIGHTLINE_BROKER_MAX_QUEUED_MESSAGES,
    maxQueuedBytes: raw.SIGHTLINE_BROKER_MAX_QUEUED_BYTES,
    maxClientBufferBytes: raw.SIGHTLINE_BROKER_MAX_CLIENT_BUFFER_BYTES,
    maxRetainedMessages: raw.SIGHTLINE_BROKER_MAX_RETAINED_MESSAGES,
    maxRetainedBytes: raw.SIGHTLINE_BROKER_MAX_RETAINED_BYTES,
    provision: provisionUsers.length > 0 && provisionDir !== undefined ? { users: provisionUsers, dir: resolve(provisionDir) } : null,
  };
}

/** Settings for tests and embedding: the defaults, with overrides. */
export function brokerConfig(overrides: Partial<BrokerConfig> = {}): BrokerConfig {
  return {
    logLevel: 'silent',
    topicPrefix: DEFAULT_TOPIC_PREFIX,
    host: '127.0.0.1',
    httpHost: '127.0.0.1',
    httpAccess: { host: '127.0.0.1' },
    ports: { mqtt: 0, ws: 0, mqtts: 0, wss: 0, http: 0 },
    tls: null,
    usersFile: null,
    anonymous: 'loopback',
    insecure: false,
    dataDir: resolve('.data/broker'),
    persistence: 'memory',
    redisUrl: null,
    maxPayloadBytes: 4 * MIB,
    connectRate: 0,
    connectBurst: 50,
    maxConnectBytes: 4 * KIB,
    maxConnections: 1024,
    maxConnectionsPerIp: 128,
    maxSessions: 256,
    maxQueuedMessages: 1000,
    maxQueuedBytes: 16 * MIB,
    maxClientBufferBytes: 32 * MIB,
    maxRetainedMessages: 10_000,
    maxRetainedBytes: 64 * MIB,
    provision: null,
    ...overrides,
  };
}

import { createPrivateKey, X509Certificate } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import {
  ConfigError,
  dataDirSetting,
  env,
  httpAccessSettingsSchema,
  httpPortOf,
  httpSettingsFrom,
  isLoopbackHost,
  loadConfig,
  mqttSettingsFrom,
  mqttSettingsSchema,
  serviceDataDir,
  type HttpSettings,
  type MqttSettings,
} from '@sightline/kit';
import { channels, channelsSubscribedBy, topicPrefixSchema, type Channel } from '@sightline/schemas';

const MiB = 1024 * 1024;

/** Every channel by the name the registry gives it (`lane-event`, `camera-status`, ...). */
export const CHANNELS_BY_NAME: ReadonlyMap<string, Channel<unknown, string>> = new Map(
  (Object.values(channels) as Channel<unknown, string>[]).map((channel) => [channel.name, channel]),
);

/**
 * What the uplink forwards unless told otherwise: exactly the channels that name it among their
 * subscribers in schemas/src/channels.ts, which are also what its broker user may read. Frames
 * are not among them: a camera's pictures leave the site only when someone lists `frame`.
 */
export const DEFAULT_CHANNELS: readonly string[] = channelsSubscribedBy('uplink').map((channel) => channel.name);

export const uplinkEnvSchema = z.strictObject({
  ...mqttSettingsSchema,
  ...httpAccessSettingsSchema,
  ...dataDirSetting,
  SIGHTLINE_UPLINK_HTTP_HOST: env.host('127.0.0.1'),
  SIGHTLINE_UPLINK_HTTP_PORT: env.port(httpPortOf('uplink')),
  SIGHTLINE_UPLINK_MQTT_CLIENT_ID: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ - starting with a letter or digit')
    .default('sightline-uplink')
    .describe('client id of the persistent session on the local broker, which keeps what arrives while the uplink restarts'),
  SIGHTLINE_UPLINK_URL: z.string({ error: 'is required: the upstream broker, e.g. mqtts://mqtt.example.com:8883' }).describe('the upstream broker'),
  SIGHTLINE_UPLINK_USERNAME: env.optionalString(),
  SIGHTLINE_UPLINK_PASSWORD: env.optionalString().describe('upstream password (secret; SIGHTLINE_UPLINK_PASSWORD_FILE reads it from a file)'),
  SIGHTLINE_UPLINK_CA: env
    .optionalString()
    .describe("PEM of the CA that signed the upstream's certificate (SIGHTLINE_UPLINK_CA_FILE for a file); default: the system's"),
  SIGHTLINE_UPLINK_CERT: env.optionalString().describe('PEM client certificate, for upstreams that want one (SIGHTLINE_UPLINK_CERT_FILE)'),
  SIGHTLINE_UPLINK_KEY: env.optionalString().describe('PEM private key of the client certificate (secret; SIGHTLINE_UPLINK_KEY_FILE)'),
  SIGHTLINE_UPLINK_CLIENT_ID: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, 'must be 1-128 characters of A-Z a-z 0-9 _ . : - starting with a letter or digit')
    .optional()
    .describe('client id at the upstream (default sightline-uplink-<topic prefix>)'),
  SIGHTLINE_UPLINK_TOPIC_PREFIX: z
    .string({ error: 'is required: where this site publishes upstream, e.g. sites/store-7' })
    .transform((prefix) => prefix.replace(/\/$/, ''))
    .pipe(topicPrefixSchema),
  SIGHTLINE_UPLINK_CHANNELS: z
    .string()
    .default(DEFAULT_CHANNELS.join(','))
    .transform((text, ctx) => {
      const names = [
        ...new Set(
          text
            .split(',')
            .map((name) => name.trim())
            .filter((name) => name !== ''),
        ),
      ];
      if (names.length === 0) ctx.addIssue({ code: 'custom', message: 'lists no channel' });
      for (const name of names) {
        if (!CHANNELS_BY_NAME.has(name))
          ctx.addIssue({
            code: 'custom',
            message: `${JSON.stringify(name.slice(0, 64))} is not a channel (channels: ${[...CHANNELS_BY_NAME.keys()].join(', ')})`,
          });
      }
      return names;
    }),
  SIGHTLINE_UPLINK_QOS: z
    .enum(['0', '1'], { error: 'must be 0 or 1' })
    .default('1')
    .transform(Number)
    .pipe(z.union([z.literal(0), z.literal(1)])),
  SIGHTLINE_UPLINK_QUEUE_DIR: env.optionalString().describe('where the queue is kept (default $SIGHTLINE_DATA_DIR/uplink/queue)'),
  SIGHTLINE_UPLINK_QUEUE_MAX_MESSAGES: env.int(100_000, 1, 10_000_000),
  SIGHTLINE_UPLINK_QUEUE_MAX_BYTES: env.int(256 * MiB, 64 * 1024, 1024 * 1024 * MiB),
  SIGHTLINE_UPLINK_RETRY_MIN_SECONDS: env.number(0.5, 0.01, 600),
  SIGHTLINE_UPLINK_RETRY_MAX_SECONDS: env.number(30, 0.05, 3600),
  SIGHTLINE_UPLINK_STATUS_SECONDS: env.number(30, 0.1, 3600),
});

export interface UpstreamSettings {
  url: string;
  /** The URL as logs and the status show it (never credentials, which the URL may not carry anyway). */
  shownUrl: string;
  /** Loopback over plain TCP, or TLS. */
  tls: boolean;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  topicPrefix: string;
  qos: 0 | 1;
}

export interface UplinkConfig {
  logLevel: string;
  mqtt: MqttSettings;
  localClientId: string;
  http: HttpSettings;
  upstream: UpstreamSettings;
  /** The channels forwarded, in registry order. */
  channels: Channel<unknown, string>[];
  queue: { dir: string; maxMessages: number; maxBytes: number };
  retry: { minMs: number; maxMs: number };
  statusMs: number;
}

/** Problems with the upstream URL, or its parts. */
function checkUrl(text: string, problems: string[]): URL | null {
  const key = 'SIGHTLINE_UPLINK_URL';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // Shown without anything that could be a password (user:password@host).
    problems.push(
      `${key}: must be a URL like mqtts://mqtt.example.com:8883 (got ${JSON.stringify(text.slice(0, 200).replace(/^([^/]*\/\/)?[^@/]*@/, '$1***@'))})`,
    );
    return null;
  }
  if (url.protocol !== 'mqtts:' && url.protocol !== 'mqtt:') {
    problems.push(`${key}: must be mqtts:// (or mqtt:// to a loopback address), not ${url.protocol}//`);
    return null;
  }
  if (url.username !== '' || url.password !== '') {
    problems.push(`${key}: must not carry credentials; use SIGHTLINE_UPLINK_USERNAME and SIGHTLINE_UPLINK_PASSWORD_FILE`);
    return null;
  }
  if (url.hostname === '') problems.push(`${key}: names no host`);
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') problems.push(`${key}: must be scheme://host:port, nothing after`);
  if (url.protocol === 'mqtt:' && url.hostname !== '' && !isLoopbackHost(url.hostname)) {
    problems.push(
      `${key}: plain mqtt:// would send the password and every message in clear text to ${url.hostname}; use mqtts:// (plain mqtt:// is only for a loopback address)`,
    );
  }
  return url;
}

function checkPem(key: string, pem: string | undefined, kind: 'certificate' | 'key', problems: string[]): void {
  if (pem === undefined) return;
  try {
    if (kind === 'key') createPrivateKey(pem);
    else new X509Certificate(pem);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    problems.push(`${key}: is not a PEM ${kind === 'key' ? 'private key (unencrypted)' : 'certificate'} (${why})`);
  }
}

export function loadUplinkConfig(environment: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): UplinkConfig {
  const raw = loadConfig('uplink', uplinkEnvSchema, environment);
  const problems: string[] = [];
  const url = checkUrl(raw.SIGHTLINE_UPLINK_URL, problems);
  const tls = url?.protocol === 'mqtts:';
  if (raw.SIGHTLINE_UPLINK_PASSWORD !== undefined && raw.SIGHTLINE_UPLINK_USERNAME === undefined) {
    problems.push('SIGHTLINE_UPLINK_PASSWORD: needs SIGHTLINE_UPLINK_USERNAME');
  }
  if (url !== null && !tls) {
    for (const key of ['SIGHTLINE_UPLINK_CA', 'SIGHTLINE_UPLINK_CERT', 'SIGHTLINE_UPLINK_KEY'] as const) {
      if (raw[key] !== undefined) problems.push(`${key}: only used with mqtts://`);
    }
  }
  checkPem('SIGHTLINE_UPLINK_CA', raw.SIGHTLINE_UPLINK_CA, 'certificate', problems);
  checkPem('SIGHTLINE_UPLINK_CERT', raw.SIGHTLINE_UPLINK_CERT, 'certificate', problems);
  checkPem('SIGHTLINE_UPLINK_KEY', raw.SIGHTLINE_UPLINK_KEY, 'key', problems);
  if ((raw.SIGHTLINE_UPLINK_CERT === undefined) !== (raw.SIGHTLINE_UPLINK_KEY === undefined)) {
    problems.push('SIGHTLINE_UPLINK_CERT and SIGHTLINE_UPLINK_KEY: give both or neither');
  }
  if (raw.SIGHTLINE_UPLINK_RETRY_MIN_SECONDS > raw.SIGHTLINE_UPLINK_RETRY_MAX_SECONDS) {
    problems.push('SIGHTLINE_UPLINK_RETRY_MIN_SECONDS: must not be above SIGHTLINE_UPLINK_RETRY_MAX_SECONDS');
  }
  if (problems.length > 0 || url === null) throw new ConfigError('uplink', problems);

  const wanted = new Set(raw.SIGHTLINE_UPLINK_CHANNELS);
  const dataDir = serviceDataDir(raw, 'uplink', cwd);
  return {
    logLevel: raw.SIGHTLINE_LOG_LEVEL,
    mqtt: mqttSettingsFrom(raw),
    localClientId: raw.SIGHTLINE_UPLINK_MQTT_CLIENT_ID,
    http: httpSettingsFrom('uplink', { host: raw.SIGHTLINE_UPLINK_HTTP_HOST, port: raw.SIGHTLINE_UPLINK_HTTP_PORT }, raw),
    upstream: {
      url: raw.SIGHTLINE_UPLINK_URL,
      shownUrl: `${url.protocol}//${url.host}`,
      tls,
      clientId: raw.SIGHTLINE_UPLINK_CLIENT_ID ?? `sightline-uplink-${raw.SIGHTLINE_UPLINK_TOPIC_PREFIX.replaceAll('/', '-')}`,
      username: raw.SIGHTLINE_UPLINK_USERNAME,
      password: raw.SIGHTLINE_UPLINK_PASSWORD,
      ca: raw.SIGHTLINE_UPLINK_CA,
      cert: raw.SIGHTLINE_UPLINK_CERT,
      key: raw.SIGHTLINE_UPLINK_KEY,
      topicPrefix: raw.SIGHTLINE_UPLINK_TOPIC_PREFIX,
      qos: raw.SIGHTLINE_UPLINK_QOS,
    },
    channels: [...CHANNELS_BY_NAME.values()].filter((channel) => wanted.has(channel.name)),
    queue: {
      dir: raw.SIGHTLINE_UPLINK_QUEUE_DIR === undefined ? path.join(dataDir, 'queue') : path.resolve(cwd, raw.SIGHTLINE_UPLINK_QUEUE_DIR),
      maxMessages: raw.SIGHTLINE_UPLINK_QUEUE_MAX_MESSAGES,
      maxBytes: raw.SIGHTLINE_UPLINK_QUEUE_MAX_BYTES,
    },
    retry: { minMs: raw.SIGHTLINE_UPLINK_RETRY_MIN_SECONDS * 1000, maxMs: raw.SIGHTLINE_UPLINK_RETRY_MAX_SECONDS * 1000 },
    statusMs: raw.SIGHTLINE_UPLINK_STATUS_SECONDS * 1000,
  };
}

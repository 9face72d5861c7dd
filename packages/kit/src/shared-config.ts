import { isIPv6 } from 'node:net';
import { resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_TOPIC_PREFIX, topicPrefixSchema } from '@sightline/schemas';
import { ConfigError, env } from './config.ts';
import { hostHeaderName, isLoopbackHost, type HttpAccess } from './http.ts';
import type { MqttSettings } from './mqtt.ts';

/** The settings of every service that talks to the broker; spread into a service's schema. */
export const mqttSettingsSchema = {
  SIGHTLINE_LOG_LEVEL: env.logLevel(),
  SIGHTLINE_TOPIC_PREFIX: topicPrefixSchema.default(DEFAULT_TOPIC_PREFIX),
  SIGHTLINE_MQTT_URL: z
    .string()
    .regex(/^(mqtts?|wss?|tcp|ssl):\/\/[^\s]+$/, 'must be a URL like mqtt://127.0.0.1:1883 (mqtt, mqtts, ws or wss)')
    .default('mqtt://127.0.0.1:1883'),
  SIGHTLINE_MQTT_USERNAME: env.optionalString(),
  SIGHTLINE_MQTT_PASSWORD: env.optionalString(),
  SIGHTLINE_MQTT_CA: env
    .optionalString()
    .describe('PEM text of the CA that signed the broker certificate (mqtts/wss); SIGHTLINE_MQTT_CA_FILE reads it from a file'),
};

export function mqttSettingsFrom(config: {
  SIGHTLINE_TOPIC_PREFIX: string;
  SIGHTLINE_MQTT_URL: string;
  SIGHTLINE_MQTT_USERNAME?: string | undefined;
  SIGHTLINE_MQTT_PASSWORD?: string | undefined;
  SIGHTLINE_MQTT_CA?: string | undefined;
}): MqttSettings {
  return {
    url: config.SIGHTLINE_MQTT_URL,
    username: config.SIGHTLINE_MQTT_USERNAME,
    password: config.SIGHTLINE_MQTT_PASSWORD,
    ca: config.SIGHTLINE_MQTT_CA,
    topicPrefix: config.SIGHTLINE_TOPIC_PREFIX,
  };
}

/** Where services keep state: `SIGHTLINE_DATA_DIR` (default `./.data`), one folder per service. */
export const dataDirSetting = {
  SIGHTLINE_DATA_DIR: env.string('./.data').describe('root folder for service data; each service uses <it>/<service>'),
};

export function serviceDataDir(config: { SIGHTLINE_DATA_DIR: string }, service: string, cwd: string = process.cwd()): string {
  return resolve(cwd, config.SIGHTLINE_DATA_DIR, service);
}

const hostNameSchema = z
  .string()
  .refine(
    (name) => isIPv6(name.replace(/^\[(.*)\]$/, '$1')) || /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?\.?$/.test(name),
    'must be host names without scheme or port, e.g. alert,sightline.local',
  );

/** The HTTP access settings every service shares; spread into a service's schema. */
export const httpAccessSettingsSchema = {
  SIGHTLINE_HTTP_ALLOWED_HOSTS: z
    .string()
    .default('')
    .transform((value) =>
      value
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== ''),
    )
    .pipe(z.array(hostNameSchema).max(64, 'at most 64 names'))
    .describe('Host header names every service answers to besides localhost, 127.0.0.1, [::1] and its own HTTP host'),
  SIGHTLINE_HTTP_TOKEN: z
    .string()
    .min(32, 'must be at least 32 characters, e.g. from openssl rand -base64 32')
    .max(512, 'must be at most 512 characters')
    .regex(/^[A-Za-z0-9._~+/-]+=*$/, 'must be letters, digits and - . _ ~ + / (base64 or hex)')
    .optional()
    .describe(
      'bearer token every HTTP route but /healthz and /readyz requires; required when the HTTP host is beyond loopback (SIGHTLINE_HTTP_TOKEN_FILE reads it from a file)',
    ),
};

/** Where a service listens for HTTP and who may talk to it. */
export interface HttpSettings extends HttpAccess {
  port: number;
}

/** A service's HTTP settings; a host beyond loopback without a token is a configuration error. */
export function httpSettingsFrom(
  service: string,
  http: { host: string; port: number },
  config: { SIGHTLINE_HTTP_ALLOWED_HOSTS: string[]; SIGHTLINE_HTTP_TOKEN?: string | undefined },
): HttpSettings {
  const token = config.SIGHTLINE_HTTP_TOKEN ?? null;
  if (token === null && !isLoopbackHost(http.host)) {
    const key = `SIGHTLINE_${service.toUpperCase()}_HTTP_HOST`;
    throw new ConfigError(service, [
      `SIGHTLINE_HTTP_TOKEN (or SIGHTLINE_HTTP_TOKEN_FILE) is required: ${key}=${http.host} listens beyond loopback, so every route but /healthz and /readyz needs Authorization: Bearer <token>`,
    ]);
  }
  return { host: http.host, port: http.port, allowedHosts: config.SIGHTLINE_HTTP_ALLOWED_HOSTS.map(hostHeaderName), token };
}

import { resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_TOPIC_PREFIX, topicPrefixSchema } from '@sightline/schemas';
import { env } from './config.ts';
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
  SIGHTLINE_MQTT_CA: env.optionalString().describe('PEM text of the CA that signed the broker certificate (mqtts/wss); SIGHTLINE_MQTT_CA_FILE reads it from a file'),
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

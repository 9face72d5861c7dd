import path from 'node:path';
import { z } from 'zod';
import {
  ConfigError,
  dataDirSetting,
  env,
  httpAccessSettingsSchema,
  httpPortOf,
  httpSettingsFrom,
  loadConfig,
  loadDataFile,
  mqttSettingsFrom,
  mqttSettingsSchema,
  serviceDataDir,
  type HttpSettings,
  type MqttSettings,
} from '@sightline/kit';
import { defaultRules, MAX_RULES_FILE_BYTES, rulesFileSchema, type Rule } from './rules.ts';
import type { EngineLimits } from './engine.ts';

export const alertEnvSchema = z.strictObject({
  ...mqttSettingsSchema,
  ...httpAccessSettingsSchema,
  ...dataDirSetting,
  SIGHTLINE_ALERT_HTTP_HOST: env.host('127.0.0.1'),
  SIGHTLINE_ALERT_HTTP_PORT: env.port(httpPortOf('alert')),
  SIGHTLINE_ALERT_RULES_FILE: env.optionalString().describe('YAML or JSON rules file; without it the default rules apply'),
  SIGHTLINE_ALERT_MQTT_CLIENT_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ -')
    .default('sightline-alert')
    .describe('fixed MQTT client id of the persistent session; one per running alert service'),
  SIGHTLINE_ALERT_UPDATE_INTERVAL_SECONDS: env.number(5, 0, 3600),
  SIGHTLINE_ALERT_EXPIRE_SECONDS: env.number(600, 1, 30 * 86_400),
  SIGHTLINE_ALERT_TICK_MS: env.int(1000, 10, 60_000),
  SIGHTLINE_ALERT_RETENTION_DAYS: env.number(30, 0, 3650),
  SIGHTLINE_ALERT_MAX_ROWS: env.int(100_000, 1, 100_000_000),
  SIGHTLINE_ALERT_PRUNE_INTERVAL_SECONDS: env.number(3600, 1, 86_400),
  SIGHTLINE_ALERT_CAMERAS: env
    .idList('camera')
    .describe('comma-separated cameras to act on; watched for camera-offline from the start (default: any camera seen, within SIGHTLINE_ALERT_MAX_CAMERAS)'),
  SIGHTLINE_ALERT_LANES: env.idList('lane').describe('comma-separated lanes to act on (default: any lane seen, within SIGHTLINE_ALERT_MAX_LANES)'),
  SIGHTLINE_ALERT_SERVICES: env.idList('service').describe('services watched for service-offline besides the bus services'),
  SIGHTLINE_ALERT_MAX_CAMERAS: env.int(64, 1, 4096),
  SIGHTLINE_ALERT_MAX_LANES: env.int(64, 1, 4096),
  SIGHTLINE_ALERT_FORGET_SECONDS: env.number(3600, 1, 30 * 86_400),
  SIGHTLINE_ALERT_MAX_OPEN: env.int(1000, 1, 100_000),
  SIGHTLINE_ALERT_MAX_DRIFT_STATES: env.int(4096, 1, 1_000_000),
});

export interface AlertConfig {
  logLevel: string;
  mqtt: MqttSettings;
  clientId: string;
  http: HttpSettings;
  dataDir: string;
  rules: Rule[];
  /** Where the rules came from: the file, or "defaults". */
  rulesSource: string;
  updateIntervalMs: number;
  expireSeconds: number;
  tickMs: number;
  retentionDays: number;
  maxRows: number;
  pruneIntervalMs: number;
  limits: EngineLimits;
}

/** Environment and rules file; every problem of both is reported in one ConfigError. */
export function loadAlertConfig(environment: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): AlertConfig {
  const settings = loadConfig('alert', alertEnvSchema, environment);
  if (settings.SIGHTLINE_ALERT_MAX_OPEN > settings.SIGHTLINE_ALERT_MAX_ROWS) {
    throw new ConfigError('alert', ['SIGHTLINE_ALERT_MAX_OPEN: must not be above SIGHTLINE_ALERT_MAX_ROWS (open alerts are rows that are never deleted)']);
  }
  let rules = defaultRules();
  let rulesSource = 'defaults';
  if (settings.SIGHTLINE_ALERT_RULES_FILE !== undefined) {
    const file = path.resolve(cwd, settings.SIGHTLINE_ALERT_RULES_FILE);
    const loaded = loadDataFile('SIGHTLINE_ALERT_RULES_FILE', file, rulesFileSchema, MAX_RULES_FILE_BYTES);
    if (loaded.value === undefined) throw new ConfigError('alert', loaded.problems);
    rules = loaded.value.rules;
    rulesSource = file;
  }
  return {
    logLevel: settings.SIGHTLINE_LOG_LEVEL,
    mqtt: mqttSettingsFrom(settings),
    clientId: settings.SIGHTLINE_ALERT_MQTT_CLIENT_ID,
    http: httpSettingsFrom('alert', { host: settings.SIGHTLINE_ALERT_HTTP_HOST, port: settings.SIGHTLINE_ALERT_HTTP_PORT }, settings),
    dataDir: serviceDataDir(settings, 'alert', cwd),
    rules,
    rulesSource,
    updateIntervalMs: settings.SIGHTLINE_ALERT_UPDATE_INTERVAL_SECONDS * 1000,
    expireSeconds: settings.SIGHTLINE_ALERT_EXPIRE_SECONDS,
    tickMs: settings.SIGHTLINE_ALERT_TICK_MS,
    retentionDays: settings.SIGHTLINE_ALERT_RETENTION_DAYS,
    maxRows: settings.SIGHTLINE_ALERT_MAX_ROWS,
    pruneIntervalMs: settings.SIGHTLINE_ALERT_PRUNE_INTERVAL_SECONDS * 1000,
    limits: {
      cameras: settings.SIGHTLINE_ALERT_CAMERAS ?? null,
      lanes: settings.SIGHTLINE_ALERT_LANES ?? null,
      services: settings.SIGHTLINE_ALERT_SERVICES ?? [],
      maxCameras: settings.SIGHTLINE_ALERT_MAX_CAMERAS,
      maxLanes: settings.SIGHTLINE_ALERT_MAX_LANES,
      forgetMs: settings.SIGHTLINE_ALERT_FORGET_SECONDS * 1000,
      maxOpen: settings.SIGHTLINE_ALERT_MAX_OPEN,
      maxDriftStates: settings.SIGHTLINE_ALERT_MAX_DRIFT_STATES,
    },
  };
}

import path from 'node:path';
import { z } from 'zod';
import { loadCatalog, SAMPLE_CATALOG_FILE } from '@sightline/catalog';
import {
  ConfigError,
  dataDirSetting,
  env,
  httpAccessSettingsSchema,
  httpPortOf,
  httpSettingsFrom,
  loadConfig,
  mqttSettingsFrom,
  mqttSettingsSchema,
  serviceDataDir,
  type HttpSettings,
  type MqttSettings,
} from '@sightline/kit';
import type { Catalog } from '@sightline/schemas';
import { isSupportedLocale, SUPPORTED_LOCALES, type Prosody } from '@sightline/voice';

const voiceMapSetting = () => env.optionalString().describe('voices per locale: en-US=voice,es-ES=voice');

export const ttsEnvSchema = z.strictObject({
  ...mqttSettingsSchema,
  ...httpAccessSettingsSchema,
  ...dataDirSetting,
  SIGHTLINE_TTS_HTTP_HOST: env.host('127.0.0.1'),
  SIGHTLINE_TTS_HTTP_PORT: env.port(httpPortOf('tts')),
  SIGHTLINE_TTS_MQTT_CLIENT_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ -')
    .default('sightline-tts')
    .describe('fixed MQTT client id of the persistent session; one per running tts service'),
  SIGHTLINE_TTS_PROVIDER: z.enum(['auto', 'espeak', 'azure'], { error: 'must be auto, espeak or azure' }).default('auto'),
  SIGHTLINE_TTS_DEFAULT_LOCALE: env.string('en-US'),
  SIGHTLINE_TTS_RATE: env.int(100, 50, 300).describe('speaking rate, percent of normal'),
  SIGHTLINE_TTS_PITCH: env.int(0, -50, 50).describe('pitch change, percent'),
  SIGHTLINE_TTS_ESPEAK_VOICES: voiceMapSetting(),
  SIGHTLINE_TTS_AZURE_KEY: env.optionalString(),
  SIGHTLINE_TTS_AZURE_REGION: z
    .string()
    .regex(/^[a-z0-9]{2,32}$/, 'must be an Azure region name like westeurope')
    .optional(),
  SIGHTLINE_TTS_AZURE_ENDPOINT: z
    .string()
    .regex(/^(wss?|https?):\/\/\S+$/, 'must be a wss:// (or ws:// for a local test endpoint) URL')
    .optional(),
  SIGHTLINE_TTS_AZURE_VOICES: voiceMapSetting(),
  SIGHTLINE_TTS_AZURE_BUDGET_MS: env.int(1500, 50, 30_000),
  SIGHTLINE_TTS_CATALOG_FILE: env.optionalString(),
  SIGHTLINE_TTS_PRERENDER: env.bool(true),
  SIGHTLINE_TTS_SPLIT_SCANS: env.bool(false),
  SIGHTLINE_TTS_MEMORY_CACHE_MB: env.number(32, 0, 4096),
  SIGHTLINE_TTS_DISK_CACHE_MB: env.number(256, 0, 1_000_000),
  SIGHTLINE_TTS_LANE_QUEUE: env.int(32, 1, 1000).describe('announcements waiting per lane before the oldest (interruptible first) is dropped'),
  SIGHTLINE_TTS_MAX_LANES: env
    .int(64, 1, 10_000)
    .describe('lanes with announcements waiting at once; beyond it the lane used least recently loses what it had waiting'),
  SIGHTLINE_TTS_MAX_QUEUED_KB: env.int(4096, 64, 1_048_576).describe('bytes of text waiting across all lanes, KiB'),
  SIGHTLINE_TTS_CONCURRENCY: env.int(4, 1, 64).describe('sentences rendered at once across all lanes (one per lane)'),
});

export type TtsEnv = z.infer<typeof ttsEnvSchema>;

export interface AzureSettings {
  key: string;
  region?: string;
  endpoint?: string;
  voices: Map<string, string>;
  budgetMs: number;
}

export interface TtsConfig {
  logLevel: string;
  mqtt: MqttSettings;
  /** The persistent session: scans and events that arrive while tts is down wait in the broker. */
  clientId: string;
  http: HttpSettings;
  dataDir: string;
  defaultLocale: string;
  prosody: Prosody;
  espeakVoices: Map<string, string>;
  /** Null: the offline voice speaks everything. */
  azure: AzureSettings | null;
  catalogFile: string;
  catalog: Catalog;
  prerender: boolean;
  splitScans: boolean;
  memoryCacheBytes: number;
  diskCacheBytes: number;
  laneQueue: number;
  maxLanes: number;
  maxQueuedBytes: number;
  concurrency: number;
}

const MB = 1024 * 1024;

/**
 * The environment (through the kit, unknown keys refused), then the voice maps, the Azure
 * settings and the catalog file; every problem is reported in one ConfigError.
 */
export function loadTtsConfig(environment: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): TtsConfig {
  const settings = loadConfig('tts', ttsEnvSchema, environment);
  const problems: string[] = [];

  const voiceMap = (key: 'SIGHTLINE_TTS_ESPEAK_VOICES' | 'SIGHTLINE_TTS_AZURE_VOICES'): Map<string, string> => {
    const value = settings[key];
    if (value === undefined) return new Map();
    try {
      return parseVoiceMap(value);
    } catch (err) {
      problems.push(`${key}: ${(err as Error).message}`);
      return new Map();
    }
  };
  const espeakVoices = voiceMap('SIGHTLINE_TTS_ESPEAK_VOICES');
  const azureVoices = voiceMap('SIGHTLINE_TTS_AZURE_VOICES');

  if (!isSupportedLocale(settings.SIGHTLINE_TTS_DEFAULT_LOCALE)) {
    problems.push(
      `SIGHTLINE_TTS_DEFAULT_LOCALE: no sentences for ${JSON.stringify(settings.SIGHTLINE_TTS_DEFAULT_LOCALE)}; supported: ${SUPPORTED_LOCALES.join(', ')}`,
    );
  }

  const key = settings.SIGHTLINE_TTS_AZURE_KEY;
  const region = settings.SIGHTLINE_TTS_AZURE_REGION;
  const endpoint = settings.SIGHTLINE_TTS_AZURE_ENDPOINT;
  let azure: AzureSettings | null = null;
  const wantsAzure = settings.SIGHTLINE_TTS_PROVIDER === 'azure' || (settings.SIGHTLINE_TTS_PROVIDER === 'auto' && key !== undefined);
  if (key !== undefined && region === undefined && endpoint === undefined) {
    problems.push('SIGHTLINE_TTS_AZURE_KEY is set without SIGHTLINE_TTS_AZURE_REGION (or SIGHTLINE_TTS_AZURE_ENDPOINT): Azure needs both');
  } else if (key === undefined && (region !== undefined || endpoint !== undefined)) {
    problems.push('SIGHTLINE_TTS_AZURE_REGION/ENDPOINT is set without SIGHTLINE_TTS_AZURE_KEY (or SIGHTLINE_TTS_AZURE_KEY_FILE)');
  } else if (region !== undefined && endpoint !== undefined) {
    problems.push('SIGHTLINE_TTS_AZURE_REGION and SIGHTLINE_TTS_AZURE_ENDPOINT are both set: use one');
  } else if (settings.SIGHTLINE_TTS_PROVIDER === 'azure' && key === undefined) {
    problems.push('SIGHTLINE_TTS_PROVIDER is azure but SIGHTLINE_TTS_AZURE_KEY and SIGHTLINE_TTS_AZURE_REGION are not set');
  } else if (wantsAzure && key !== undefined) {
    azure = {
      key,
      ...(region !== undefined ? { region } : {}),
      ...(endpoint !== undefined ? { endpoint } : {}),
      voices: azureVoices,
      budgetMs: settings.SIGHTLINE_TTS_AZURE_BUDGET_MS,
    };
  }

  const catalogFile = settings.SIGHTLINE_TTS_CATALOG_FILE !== undefined ? path.resolve(cwd, settings.SIGHTLINE_TTS_CATALOG_FILE) : SAMPLE_CATALOG_FILE;
  const { catalog, problems: catalogProblems } = loadCatalog(catalogFile, 'SIGHTLINE_TTS_CATALOG_FILE');
  problems.push(...catalogProblems);

  if (problems.length > 0 || !catalog) throw new ConfigError('tts', problems);
  return {
    logLevel: settings.SIGHTLINE_LOG_LEVEL,
    mqtt: mqttSettingsFrom(settings),
    clientId: settings.SIGHTLINE_TTS_MQTT_CLIENT_ID,
    http: httpSettingsFrom('tts', { host: settings.SIGHTLINE_TTS_HTTP_HOST, port: settings.SIGHTLINE_TTS_HTTP_PORT }, settings),
    dataDir: serviceDataDir(settings, 'tts', cwd),
    defaultLocale: settings.SIGHTLINE_TTS_DEFAULT_LOCALE,
    prosody: { ratePercent: settings.SIGHTLINE_TTS_RATE, pitchPercent: settings.SIGHTLINE_TTS_PITCH },
    espeakVoices,
    azure,
    catalogFile,
    catalog: catalog.catalog,
    prerender: settings.SIGHTLINE_TTS_PRERENDER,
    splitScans: settings.SIGHTLINE_TTS_SPLIT_SCANS,
    memoryCacheBytes: Math.round(settings.SIGHTLINE_TTS_MEMORY_CACHE_MB * MB),
    diskCacheBytes: Math.round(settings.SIGHTLINE_TTS_DISK_CACHE_MB * MB),
    laneQueue: settings.SIGHTLINE_TTS_LANE_QUEUE,
    maxLanes: settings.SIGHTLINE_TTS_MAX_LANES,
    maxQueuedBytes: settings.SIGHTLINE_TTS_MAX_QUEUED_KB * 1024,
    concurrency: settings.SIGHTLINE_TTS_CONCURRENCY,
  };
}

/** Parses "en-US=voice,es-ES=voice" voice maps used by the settings. */
export function parseVoiceMap(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of text.split(',')) {
    const trimmed = entry.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    if (eq <= 0 || eq === trimmed.length - 1) throw new Error(`"${trimmed}" is not locale=voice`);
    map.set(trimmed.slice(0, eq).trim(), trimmed.slice(eq + 1).trim());
  }
  return map;
}

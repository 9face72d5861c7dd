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
import { loadCatalog, SAMPLE_CATALOG_FILE, type CatalogIndex } from '@sightline/catalog';
import { keyMapSchema } from '@sightline/keypad';
import { idSchema, laneCommandSchema, localeSchema, normaliseLabel, polygonSchema, WHOLE_FRAME, type Polygon } from '@sightline/schemas';
import { isSupportedLocale, SUPPORTED_LOCALES } from '@sightline/voice';
import { DEFAULT_KEYS, MAX_BOUND_KEYS, type LaneKeypadConfig } from './keypads.ts';
import { MAX_PRESENCES_LIMIT } from './store.ts';

export const MAX_LANES_FILE_BYTES = 256 * 1024;
export const MAX_LANES = 64;
/** Languages one lane may switch between. */
export const MAX_LANE_LOCALES = 8;
/** Idle times: at least a second, at most a day (what the lane events can say). */
const MAX_IDLE_SECONDS = 86_400;

const labelList = z
  .string()
  .default('person')
  .transform((value) =>
    value
      .split(',')
      .map(normaliseLabel)
      .filter((label) => label.length > 0),
  );

export const checkoutEnvSchema = z.strictObject({
  ...mqttSettingsSchema,
  ...httpAccessSettingsSchema,
  ...dataDirSetting,
  SIGHTLINE_CHECKOUT_HTTP_HOST: env.host('127.0.0.1'),
  SIGHTLINE_CHECKOUT_HTTP_PORT: env.port(httpPortOf('checkout')),
  SIGHTLINE_CHECKOUT_LANES_FILE: env.optionalString().describe('YAML or JSON file listing the lanes'),
  SIGHTLINE_CHECKOUT_CATALOG_FILE: env.optionalString().describe('YAML or JSON product catalog (default: the sample catalog)'),
  SIGHTLINE_CHECKOUT_SCAN_FRAMES: env.int(3, 1, 100),
  SIGHTLINE_CHECKOUT_SCAN_MS: env.int(600, 0, 60_000),
  SIGHTLINE_CHECKOUT_CLEAR_MS: env.int(1000, 0, 60_000),
  SIGHTLINE_CHECKOUT_SCORE_THRESHOLD: env.number(0.3, 0, 1),
  SIGHTLINE_CHECKOUT_IGNORE_LABELS: labelList,
  SIGHTLINE_CHECKOUT_WEIGHT_TOLERANCE_GRAMS: env.number(2, 0, 1000),
  SIGHTLINE_CHECKOUT_SETTLE_MS: env.int(500, 0, 60_000),
  SIGHTLINE_CHECKOUT_MIN_GRAMS: env.number(5, 0, 10_000),
  SIGHTLINE_CHECKOUT_PLACE_WAIT_MS: env.int(1500, 0, 600_000),
  SIGHTLINE_CHECKOUT_WEIGHT_TIMEOUT_MS: env.int(15_000, 0, 3_600_000),
  SIGHTLINE_CHECKOUT_CAMERA_TIMEOUT_SECONDS: env.number(10, 0.1, 3600),
  SIGHTLINE_CHECKOUT_SCALE_TIMEOUT_SECONDS: env.number(30, 0.1, 3600),
  SIGHTLINE_CHECKOUT_SCALE_SIMULATOR: env.bool(false),
  SIGHTLINE_CHECKOUT_IDLE_WARNING_SECONDS: env
    .int(120, 1, MAX_IDLE_SECONDS)
    .describe('no activity this long with items in an open basket: the idle warning (WCAG 2.2.1)'),
  SIGHTLINE_CHECKOUT_IDLE_END_SECONDS: env.int(60, 1, MAX_IDLE_SECONDS).describe('then this long without activity: the session ends, the basket is abandoned'),
  SIGHTLINE_CHECKOUT_MAX_PRESENCES: env
    .int(64, 1, MAX_PRESENCES_LIMIT)
    .describe('products and unknown labels a lane tracks at once; beyond it the least recently seen is forgotten'),
  SIGHTLINE_CHECKOUT_MAX_PRESENCE_KB: env.int(256, 16, 65_536).describe('bytes a lane may hold for them, KiB'),
});
export type CheckoutEnv = z.infer<typeof checkoutEnvSchema>;

/** What a lane may set for itself; everything else comes from the environment. */
export interface LaneTuning {
  /** Consecutive detections messages that make a scan. */
  scanFrames: number;
  /** Or this long (frame capture times) in view. */
  scanMs: number;
  /** A product must be out of the zone this long before it can be scanned again. */
  clearMs: number;
  /** Score a product needs when the catalog gives it no threshold; also for unknown objects. */
  scoreThreshold: number;
  /** Labels that are never products: people, hands. */
  ignoreLabels: string[];
  toleranceGrams: number;
  settleMs: number;
  minGrams: number;
  placeWaitMs: number;
  weightTimeoutMs: number;
  cameraTimeoutMs: number;
  scaleTimeoutMs: number;
  /** Products and unknown labels tracked at once (in view or gone less than `clearMs`). */
  maxPresences: number;
  maxPresenceBytes: number;
  /** No activity this long (an open basket with items): the idle warning. */
  idleWarningSeconds: number;
  /** Then this long: the session ends. */
  idleEndSeconds: number;
}

export interface LaneConfig {
  id: string;
  camera: string;
  /** The language a session starts in, and returns to after it. */
  locale: string;
  /** The languages the shopper can switch between (`language`), `locale` among them. */
  locales: string[];
  /**
   * The scan zone. Changed at run time by `PUT /lanes/:lane/zone` (`Lane.setZone`): the scan zone
   * and the scale simulator read it at every frame.
   */
  zone: Polygon;
  scale: boolean;
  tuning: LaneTuning;
  keypad: LaneKeypadConfig | null;
}

export interface CheckoutConfig {
  logLevel: string;
  mqtt: MqttSettings;
  http: HttpSettings;
  dataDir: string;
  catalogFile: string;
  catalog: CatalogIndex;
  lanes: LaneConfig[];
  scaleSimulator: boolean;
}

const tuningSchema = z.strictObject({
  scanFrames: z.number().int().min(1).max(100).optional(),
  scanMs: z.number().int().min(0).max(60_000).optional(),
  clearMs: z.number().int().min(0).max(60_000).optional(),
  scoreThreshold: z.number().min(0).max(1).optional(),
  ignoreLabels: z.array(z.string().min(1).max(256)).max(100).optional(),
  toleranceGrams: z.number().min(0).max(1000).optional(),
  settleMs: z.number().int().min(0).max(60_000).optional(),
  minGrams: z.number().min(0).max(10_000).optional(),
  placeWaitMs: z.number().int().min(0).max(600_000).optional(),
  weightTimeoutMs: z.number().int().min(0).max(3_600_000).optional(),
  cameraTimeoutSeconds: z.number().min(0.1).max(3600).optional(),
  scaleTimeoutSeconds: z.number().min(0.1).max(3600).optional(),
  idleWarningSeconds: z.number().int().min(1).max(MAX_IDLE_SECONDS).optional(),
  idleEndSeconds: z.number().int().min(1).max(MAX_IDLE_SECONDS).optional(),
});

const keypadSchema = z.strictObject({
  device: z.string().min(1).max(4096).describe('the input device, best its /dev/input/by-id/...-event-kbd link'),
  keys: keyMapSchema(laneCommandSchema)
    .refine((keys) => Object.keys(keys).length <= MAX_BOUND_KEYS, `binds at most ${MAX_BOUND_KEYS} keys`)
    .optional()
    .describe('key name to command; default: the layout in the README'),
});

export const lanesFileSchema = z.strictObject({
  lanes: z
    .array(
      z.strictObject({
        id: idSchema,
        camera: idSchema,
        locale: localeSchema,
        locales: z.array(localeSchema).min(1).max(MAX_LANE_LOCALES).optional().describe('the languages `language` cycles through; default [locale]'),
        zone: polygonSchema.optional().describe('default: the whole frame'),
        scale: z.boolean().default(true),
        overrides: tuningSchema.optional(),
        keypad: keypadSchema.optional(),
      }),
    )
    .min(1, 'must list at least one lane')
    .max(MAX_LANES, `must list at most ${MAX_LANES} lanes`),
});
export type LanesFile = z.infer<typeof lanesFileSchema>;

export function tuningFrom(settings: CheckoutEnv): LaneTuning {
  return {
    scanFrames: settings.SIGHTLINE_CHECKOUT_SCAN_FRAMES,
    scanMs: settings.SIGHTLINE_CHECKOUT_SCAN_MS,
    clearMs: settings.SIGHTLINE_CHECKOUT_CLEAR_MS,
    scoreThreshold: settings.SIGHTLINE_CHECKOUT_SCORE_THRESHOLD,
    ignoreLabels: settings.SIGHTLINE_CHECKOUT_IGNORE_LABELS,
    toleranceGrams: settings.SIGHTLINE_CHECKOUT_WEIGHT_TOLERANCE_GRAMS,
    settleMs: settings.SIGHTLINE_CHECKOUT_SETTLE_MS,
    minGrams: settings.SIGHTLINE_CHECKOUT_MIN_GRAMS,
    placeWaitMs: settings.SIGHTLINE_CHECKOUT_PLACE_WAIT_MS,
    weightTimeoutMs: settings.SIGHTLINE_CHECKOUT_WEIGHT_TIMEOUT_MS,
    cameraTimeoutMs: Math.round(settings.SIGHTLINE_CHECKOUT_CAMERA_TIMEOUT_SECONDS * 1000),
    scaleTimeoutMs: Math.round(settings.SIGHTLINE_CHECKOUT_SCALE_TIMEOUT_SECONDS * 1000),
    maxPresences: settings.SIGHTLINE_CHECKOUT_MAX_PRESENCES,
    maxPresenceBytes: settings.SIGHTLINE_CHECKOUT_MAX_PRESENCE_KB * 1024,
    idleWarningSeconds: settings.SIGHTLINE_CHECKOUT_IDLE_WARNING_SECONDS,
    idleEndSeconds: settings.SIGHTLINE_CHECKOUT_IDLE_END_SECONDS,
  };
}

function applyOverrides(base: LaneTuning, overrides: z.infer<typeof tuningSchema> | undefined): LaneTuning {
  if (!overrides) return base;
  const { cameraTimeoutSeconds, scaleTimeoutSeconds, ignoreLabels, ...rest } = overrides;
  const tuning: LaneTuning = { ...base };
  for (const [key, value] of Object.entries(rest)) if (value !== undefined) (tuning as unknown as Record<string, number>)[key] = value;
  if (ignoreLabels) tuning.ignoreLabels = ignoreLabels.map(normaliseLabel);
  if (cameraTimeoutSeconds !== undefined) tuning.cameraTimeoutMs = Math.round(cameraTimeoutSeconds * 1000);
  if (scaleTimeoutSeconds !== undefined) tuning.scaleTimeoutMs = Math.round(scaleTimeoutSeconds * 1000);
  return tuning;
}

/** A lane language must be one the catalog names its products in and one the voice has sentences for. */
function localeProblems(at: string, locale: string, catalog: CatalogIndex | undefined): string[] {
  const problems: string[] = [];
  if (catalog && !catalog.catalog.locales.includes(locale))
    problems.push(`${at}: ${locale} is not one of the catalog locales (${catalog.catalog.locales.join(', ')})`);
  if (!isSupportedLocale(locale)) problems.push(`${at}: ${locale} has no sentences to speak (supported: ${SUPPORTED_LOCALES.join(', ')})`);
  return problems;
}

/**
 * Loads the environment (through the kit: unknown keys refused), the catalog and the lanes file,
 * and checks them against each other. Every problem is reported together in one ConfigError.
 */
export function loadCheckoutConfig(environment: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): CheckoutConfig {
  const settings = loadConfig('checkout', checkoutEnvSchema, environment);
  const problems: string[] = [];
  const base = tuningFrom(settings);

  const catalogFile = settings.SIGHTLINE_CHECKOUT_CATALOG_FILE ? path.resolve(cwd, settings.SIGHTLINE_CHECKOUT_CATALOG_FILE) : SAMPLE_CATALOG_FILE;
  const { catalog, problems: catalogProblems } = loadCatalog(catalogFile, 'SIGHTLINE_CHECKOUT_CATALOG_FILE');
  problems.push(...catalogProblems);

  let lanes: LaneConfig[] = [];
  if (settings.SIGHTLINE_CHECKOUT_LANES_FILE !== undefined) {
    const key = 'SIGHTLINE_CHECKOUT_LANES_FILE';
    const file = path.resolve(cwd, settings.SIGHTLINE_CHECKOUT_LANES_FILE);
    const { value, problems: fileProblems } = loadDataFile(key, file, lanesFileSchema, MAX_LANES_FILE_BYTES);
    problems.push(...fileProblems);
    if (value) {
      const seen = new Map<string, number>();
      const devices = new Map<string, number>();
      value.lanes.forEach((lane, index) => {
        const at = `${key}: ${file}: lanes.${index}`;
        const first = seen.get(lane.id);
        if (first !== undefined) problems.push(`${at}.id: duplicate lane id "${lane.id}" (also lanes.${first}.id)`);
        seen.set(lane.id, index);
        if (lane.locales) {
          if (!lane.locales.includes(lane.locale)) problems.push(`${at}.locales: must include the lane locale ${lane.locale}`);
          lane.locales.forEach((locale, i) => {
            if (lane.locales!.indexOf(locale) !== i) problems.push(`${at}.locales.${i}: ${locale} is listed twice`);
          });
        }
        const locales = lane.locales ? lane.locales.map((locale, i) => [locale, `locales.${i}`] as const) : [[lane.locale, 'locale'] as const];
        for (const [locale, where] of locales) problems.push(...localeProblems(`${at}.${where}`, locale, catalog));
        const device = lane.keypad ? path.resolve(cwd, lane.keypad.device) : undefined;
        if (device !== undefined) {
          const other = devices.get(device);
          if (other !== undefined) problems.push(`${at}.keypad.device: ${device} is already the keypad of lanes.${other}`);
          devices.set(device, index);
        }
      });
      lanes = value.lanes.map((lane) => ({
        id: lane.id,
        camera: lane.camera,
        locale: lane.locale,
        locales: lane.locales ?? [lane.locale],
        zone: lane.zone ?? WHOLE_FRAME,
        scale: lane.scale,
        tuning: applyOverrides(base, lane.overrides),
        keypad: lane.keypad ? { device: path.resolve(cwd, lane.keypad.device), keys: lane.keypad.keys ?? { ...DEFAULT_KEYS } } : null,
      }));
    }
  } else {
    lanes = [{ id: 'lane-1', camera: 'demo', locale: 'en-US', locales: ['en-US'], zone: WHOLE_FRAME, scale: true, tuning: base, keypad: null }];
    if (catalog && !catalog.catalog.locales.includes('en-US')) {
      problems.push(
        `SIGHTLINE_CHECKOUT_CATALOG_FILE: the default lane speaks en-US, which the catalog does not name products in; list lanes in SIGHTLINE_CHECKOUT_LANES_FILE`,
      );
    }
  }

  if (problems.length > 0 || !catalog) throw new ConfigError('checkout', problems);
  return {
    logLevel: settings.SIGHTLINE_LOG_LEVEL,
    mqtt: mqttSettingsFrom(settings),
    http: httpSettingsFrom('checkout', { host: settings.SIGHTLINE_CHECKOUT_HTTP_HOST, port: settings.SIGHTLINE_CHECKOUT_HTTP_PORT }, settings),
    dataDir: serviceDataDir(settings, 'checkout', cwd),
    catalogFile,
    catalog,
    lanes,
    scaleSimulator: settings.SIGHTLINE_CHECKOUT_SCALE_SIMULATOR,
  };
}

import { z } from 'zod';
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
import { DEFAULT_DUPLICATE_DIFFERENCE } from './fingerprint.ts';

/** The account of `UseDevelopmentStorage=true`: Azure's name for the local emulator (Azurite) on 127.0.0.1:10000. */
export const DEV_ACCOUNT_NAME = 'devstoreaccount1';
/** With no store configured, the local emulator, as Azure's own tools do. */
export const DEFAULT_CONNECTION_STRING = 'UseDevelopmentStorage=true';

const MiB = 1024 * 1024;

export const syncEnvSchema = z.strictObject({
  ...mqttSettingsSchema,
  ...httpAccessSettingsSchema,
  ...dataDirSetting,
  SIGHTLINE_SYNC_HTTP_HOST: env.host('127.0.0.1'),
  SIGHTLINE_SYNC_HTTP_PORT: env.port(httpPortOf('sync')),
  SIGHTLINE_SYNC_CONNECTION_STRING: env.optionalString().describe('Azure Storage connection string (secret; _FILE reads it from a file)'),
  SIGHTLINE_SYNC_ACCOUNT_URL: env.optionalString().describe('blob endpoint URL, used with SIGHTLINE_SYNC_SAS_TOKEN instead of a connection string'),
  SIGHTLINE_SYNC_SAS_TOKEN: env.optionalString().describe('SAS token for SIGHTLINE_SYNC_ACCOUNT_URL (secret)'),
  SIGHTLINE_SYNC_CONTAINER: z
    .string()
    .regex(/^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/, 'must be a container name: 3-63 of a-z 0-9 and single hyphens, starting and ending with a letter or digit')
    .default('sightline-frames'),
  SIGHTLINE_SYNC_UNCERTAIN_MIN: env.number(0.3, 0, 1),
  SIGHTLINE_SYNC_UNCERTAIN_MAX: env.number(0.8, 0, 1),
  SIGHTLINE_SYNC_SAMPLES_PER_HOUR: env.int(2, 0, 3600),
  SIGHTLINE_SYNC_MAX_UPLOADS_PER_HOUR: env
    .int(200, 0, 1_000_000)
    .describe('images of all cameras per hour, a ceiling over the daily budgets (alert snapshots count and still go)'),
  SIGHTLINE_SYNC_DAILY_IMAGES: env
    .int(300, 0, 1_000_000)
    .describe('images per camera per UTC day, spent evenly over its hours (alert snapshots count and still go)'),
  SIGHTLINE_SYNC_DAILY_BYTES: env.int(32 * MiB, 0, Number.MAX_SAFE_INTEGER).describe('JPEG bytes per camera per UTC day, spent evenly over its hours'),
  SIGHTLINE_SYNC_LABEL_SHARE: env.number(0.25, 0.01, 1).describe("the most of a camera's daily images one label may take as uncertain images"),
  SIGHTLINE_SYNC_DUPLICATE_DIFFERENCE: env
    .number(DEFAULT_DUPLICATE_DIFFERENCE, 0, 10_000)
    .describe('pictures at most this different from one selected lately (same camera and labels) are near-duplicates (see pnpm bench:similarity)'),
  SIGHTLINE_SYNC_DUPLICATE_WINDOW_SECONDS: env
    .number(3600, 0, 7 * 86_400)
    .describe('how long a selected picture suppresses its near-duplicates; 0 turns suppression off'),
  SIGHTLINE_SYNC_EVENT_GAP_SECONDS: env.number(2, 0.1, 3600).describe('a label unseen on its camera for this long has gone: its event ends'),
  SIGHTLINE_SYNC_EVENT_MAX_SECONDS: env
    .number(60, 0, 86_400)
    .describe('an event still in view is closed after this long (its best frame chosen) and the next sighting opens another; 0: every frame is an event'),
  SIGHTLINE_SYNC_RING_FRAMES: env.int(50, 1, 10_000),
  SIGHTLINE_SYNC_RING_BYTES: env.int(32 * MiB, 64 * 1024, 4096 * MiB),
  SIGHTLINE_SYNC_RINGS_MAX_BYTES: env.int(256 * MiB, 64 * 1024, 64 * 1024 * MiB),
  SIGHTLINE_SYNC_CAMERAS: env
    .idList('camera')
    .describe('comma-separated camera ids to keep frames of (default: any camera, within SIGHTLINE_SYNC_MAX_CAMERAS)'),
  SIGHTLINE_SYNC_MAX_CAMERAS: env.int(64, 1, 4096),
  SIGHTLINE_SYNC_CAMERA_IDLE_SECONDS: env.number(60, 1, 86_400),
  SIGHTLINE_SYNC_OUTBOX_TTL_SECONDS: env.number(24 * 3600, 1, 365 * 24 * 3600),
  SIGHTLINE_SYNC_OUTBOX_MAX_BYTES: env.int(1024 * MiB, 64 * 1024, Number.MAX_SAFE_INTEGER),
  SIGHTLINE_SYNC_FSYNC: env.bool(true),
  SIGHTLINE_SYNC_UPLOAD_CONCURRENCY: env.int(4, 1, 64),
  SIGHTLINE_SYNC_UPLOAD_TIMEOUT_SECONDS: env.number(30, 0.5, 600),
  SIGHTLINE_SYNC_START_TIMEOUT_SECONDS: env.number(5, 0.5, 120),
  SIGHTLINE_SYNC_RETRY_MIN_SECONDS: env.number(0.5, 0.01, 600),
  SIGHTLINE_SYNC_RETRY_MAX_SECONDS: env.number(60, 0.05, 3600),
  SIGHTLINE_SYNC_KEPT_LIST: env
    .int(1000, 1, 100_000)
    .describe('kept images GET /kept remembers (the last accepted; after a restart filled from blob storage, today and yesterday)'),
});

export type SyncEnv = z.infer<typeof syncEnvSchema>;

export type BlobTarget =
  { kind: 'connection-string'; connectionString: string; accountName: string; blobEndpoint: string } | { kind: 'sas'; accountUrl: string; sasToken: string };

export interface SyncConfig {
  logLevel: string;
  mqtt: MqttSettings;
  http: HttpSettings;
  dataDir: string;
  blob: BlobTarget;
  container: string;
  selection: { uncertainMin: number; uncertainMax: number; samplesPerHour: number; maxUploadsPerHour: number };
  budget: { imagesPerDay: number; bytesPerDay: number; labelShare: number };
  duplicates: { windowMs: number; maxDifference: number };
  events: { gapMs: number; maxMs: number };
  ring: { frames: number; bytes: number; totalBytes: number };
  /** Cameras whose frames are kept; null: any camera, at most `maxCameras` at once. */
  cameras: string[] | null;
  maxCameras: number;
  /** A camera that sent no frame for this long is forgotten (its ring, its sampling state). */
  cameraIdleMs: number;
  outbox: { ttlMs: number; maxBytes: number; fsync: boolean };
  upload: { concurrency: number; timeoutMs: number; startTimeoutMs: number; retryMinMs: number; retryMaxMs: number };
  /** Kept images `GET /kept` remembers. */
  keptList: number;
}

/**
 * Parses an Azure Storage connection string without echoing it (it holds the account key).
 * Returns the problem, or the account and blob endpoint it names.
 */
export function parseConnectionString(text: string): { problem: string } | { accountName: string; blobEndpoint: string } {
  const fields = new Map<string, string>();
  for (const part of text.split(';')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return { problem: 'is not a connection string: expected Key=Value pairs separated by ";"' };
    fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  if (fields.get('usedevelopmentstorage') === 'true') return { accountName: DEV_ACCOUNT_NAME, blobEndpoint: `http://127.0.0.1:10000/${DEV_ACCOUNT_NAME}` };
  const accountName = fields.get('accountname');
  const accountKey = fields.get('accountkey');
  const sas = fields.get('sharedaccesssignature');
  if (!accountName) return { problem: 'has no AccountName' };
  if (!/^[a-z0-9]{3,64}$/.test(accountName)) return { problem: 'has an AccountName that is not 3-64 lowercase letters and digits' };
  if (accountKey === undefined && sas === undefined) return { problem: 'has neither AccountKey nor SharedAccessSignature' };
  if (accountKey !== undefined && (accountKey.length < 4 || !/^[A-Za-z0-9+/]+={0,2}$/.test(accountKey) || accountKey.length % 4 !== 0)) {
    return { problem: 'has an AccountKey that is not base64' };
  }
  let blobEndpoint = fields.get('blobendpoint');
  if (blobEndpoint === undefined) {
    const protocol = fields.get('defaultendpointsprotocol') ?? 'https';
    const suffix = fields.get('endpointsuffix') ?? 'core.windows.net';
    if (protocol !== 'http' && protocol !== 'https') return { problem: 'has a DefaultEndpointsProtocol other than http or https' };
    blobEndpoint = `${protocol}://${accountName}.blob.${suffix}`;
  }
  try {
    const url = new URL(blobEndpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return { problem: 'has a BlobEndpoint that is not an http(s) URL' };
  } catch {
    return { problem: 'has a BlobEndpoint that is not a URL' };
  }
  return { accountName, blobEndpoint };
}

export function loadSyncConfig(environment: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): SyncConfig {
  const raw = loadConfig('sync', syncEnvSchema, environment);
  const problems: string[] = [];
  let blob: BlobTarget | undefined;
  if (raw.SIGHTLINE_SYNC_CONNECTION_STRING !== undefined && raw.SIGHTLINE_SYNC_ACCOUNT_URL !== undefined) {
    problems.push('SIGHTLINE_SYNC_CONNECTION_STRING and SIGHTLINE_SYNC_ACCOUNT_URL are both set: use one');
  } else if (raw.SIGHTLINE_SYNC_ACCOUNT_URL !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(raw.SIGHTLINE_SYNC_ACCOUNT_URL);
    } catch {
      problems.push('SIGHTLINE_SYNC_ACCOUNT_URL: must be a URL like https://account.blob.core.windows.net');
    }
    if (url !== undefined && url.protocol !== 'https:' && url.protocol !== 'http:') problems.push('SIGHTLINE_SYNC_ACCOUNT_URL: must be an http(s) URL');
    if (url !== undefined && url.search !== '') problems.push('SIGHTLINE_SYNC_ACCOUNT_URL: put the SAS in SIGHTLINE_SYNC_SAS_TOKEN, not in the URL');
    if (raw.SIGHTLINE_SYNC_SAS_TOKEN === undefined) problems.push('SIGHTLINE_SYNC_SAS_TOKEN: required with SIGHTLINE_SYNC_ACCOUNT_URL');
    if (problems.length === 0) blob = { kind: 'sas', accountUrl: raw.SIGHTLINE_SYNC_ACCOUNT_URL, sasToken: raw.SIGHTLINE_SYNC_SAS_TOKEN!.replace(/^\?/, '') };
  } else {
    if (raw.SIGHTLINE_SYNC_SAS_TOKEN !== undefined) problems.push('SIGHTLINE_SYNC_SAS_TOKEN: only used with SIGHTLINE_SYNC_ACCOUNT_URL');
    const connectionString = raw.SIGHTLINE_SYNC_CONNECTION_STRING ?? DEFAULT_CONNECTION_STRING;
    const parsed = parseConnectionString(connectionString);
    if ('problem' in parsed) problems.push(`SIGHTLINE_SYNC_CONNECTION_STRING: ${parsed.problem} (value not shown: it is a secret)`);
    else blob = { kind: 'connection-string', connectionString, ...parsed };
  }
  if (raw.SIGHTLINE_SYNC_UNCERTAIN_MIN > raw.SIGHTLINE_SYNC_UNCERTAIN_MAX) {
    problems.push('SIGHTLINE_SYNC_UNCERTAIN_MIN: must not be above SIGHTLINE_SYNC_UNCERTAIN_MAX');
  }
  if (raw.SIGHTLINE_SYNC_RING_BYTES > raw.SIGHTLINE_SYNC_RINGS_MAX_BYTES) {
    problems.push("SIGHTLINE_SYNC_RING_BYTES: must not be above SIGHTLINE_SYNC_RINGS_MAX_BYTES (one camera's ring within all of them)");
  }
  if (raw.SIGHTLINE_SYNC_RETRY_MIN_SECONDS > raw.SIGHTLINE_SYNC_RETRY_MAX_SECONDS) {
    problems.push('SIGHTLINE_SYNC_RETRY_MIN_SECONDS: must not be above SIGHTLINE_SYNC_RETRY_MAX_SECONDS');
  }
  if (problems.length > 0 || blob === undefined) throw new ConfigError('sync', problems);
  return {
    logLevel: raw.SIGHTLINE_LOG_LEVEL,
    mqtt: mqttSettingsFrom(raw),
    http: httpSettingsFrom('sync', { host: raw.SIGHTLINE_SYNC_HTTP_HOST, port: raw.SIGHTLINE_SYNC_HTTP_PORT }, raw),
    dataDir: serviceDataDir(raw, 'sync', cwd),
    blob,
    container: raw.SIGHTLINE_SYNC_CONTAINER,
    selection: {
      uncertainMin: raw.SIGHTLINE_SYNC_UNCERTAIN_MIN,
      uncertainMax: raw.SIGHTLINE_SYNC_UNCERTAIN_MAX,
      samplesPerHour: raw.SIGHTLINE_SYNC_SAMPLES_PER_HOUR,
      maxUploadsPerHour: raw.SIGHTLINE_SYNC_MAX_UPLOADS_PER_HOUR,
    },
    budget: { imagesPerDay: raw.SIGHTLINE_SYNC_DAILY_IMAGES, bytesPerDay: raw.SIGHTLINE_SYNC_DAILY_BYTES, labelShare: raw.SIGHTLINE_SYNC_LABEL_SHARE },
    duplicates: { windowMs: raw.SIGHTLINE_SYNC_DUPLICATE_WINDOW_SECONDS * 1000, maxDifference: raw.SIGHTLINE_SYNC_DUPLICATE_DIFFERENCE },
    events: { gapMs: raw.SIGHTLINE_SYNC_EVENT_GAP_SECONDS * 1000, maxMs: raw.SIGHTLINE_SYNC_EVENT_MAX_SECONDS * 1000 },
    ring: { frames: raw.SIGHTLINE_SYNC_RING_FRAMES, bytes: raw.SIGHTLINE_SYNC_RING_BYTES, totalBytes: raw.SIGHTLINE_SYNC_RINGS_MAX_BYTES },
    cameras: raw.SIGHTLINE_SYNC_CAMERAS === undefined ? null : [...new Set(raw.SIGHTLINE_SYNC_CAMERAS)],
    maxCameras: raw.SIGHTLINE_SYNC_MAX_CAMERAS,
    cameraIdleMs: raw.SIGHTLINE_SYNC_CAMERA_IDLE_SECONDS * 1000,
    outbox: { ttlMs: raw.SIGHTLINE_SYNC_OUTBOX_TTL_SECONDS * 1000, maxBytes: raw.SIGHTLINE_SYNC_OUTBOX_MAX_BYTES, fsync: raw.SIGHTLINE_SYNC_FSYNC },
    upload: {
      concurrency: raw.SIGHTLINE_SYNC_UPLOAD_CONCURRENCY,
      timeoutMs: raw.SIGHTLINE_SYNC_UPLOAD_TIMEOUT_SECONDS * 1000,
      startTimeoutMs: raw.SIGHTLINE_SYNC_START_TIMEOUT_SECONDS * 1000,
      retryMinMs: raw.SIGHTLINE_SYNC_RETRY_MIN_SECONDS * 1000,
      retryMaxMs: raw.SIGHTLINE_SYNC_RETRY_MAX_SECONDS * 1000,
    },
    keptList: raw.SIGHTLINE_SYNC_KEPT_LIST,
  };
}

import path from 'node:path';
import { z } from 'zod';
import {
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
import { idSchema, MAX_FRAME_BYTES, modelIdSchema } from '@sightline/schemas';
import { normaliseUrlHost } from './custom-vision/image-url.ts';
import { BUILTIN_MODEL_ID } from './model/loader.ts';

/**
 * Intra-op threads by default. Measured on the 2-core target (bench/inference.bench.ts): the
 * default model runs faster on 2 threads than on 1, and the service does one run at a time, so
 * it uses both cores; the JPEG decoding of the next frame overlaps only briefly.
 */
export const DEFAULT_THREADS = 2;
const MiB = 1024 * 1024;

/**
 * Cosine similarity an object needs to its closest enrolled photo to be named that product. Set
 * from the grocery evaluation (`pnpm eval:recognition`): see the README for what it refuses and keeps.
 */
export const DEFAULT_RECOGNITION_THRESHOLD = 0.6;

export const inferenceEnvSchema = z.strictObject({
  ...mqttSettingsSchema,
  ...httpAccessSettingsSchema,
  ...dataDirSetting,
  SIGHTLINE_INFERENCE_HTTP_HOST: env.host('127.0.0.1'),
  SIGHTLINE_INFERENCE_HTTP_PORT: env.port(httpPortOf('inference')),
  SIGHTLINE_INFERENCE_MODELS_DIR: env.optionalString().describe('folder of model folders (default <data dir>/inference/models)'),
  SIGHTLINE_INFERENCE_MODEL: modelIdSchema.default(BUILTIN_MODEL_ID),
  SIGHTLINE_INFERENCE_THREADS: env.int(DEFAULT_THREADS, 1, 64),
  SIGHTLINE_INFERENCE_SCORE_THRESHOLD: z.coerce.number({ error: 'must be a number' }).min(0, 'must be 0-1').max(1, 'must be 0-1').optional(),
  SIGHTLINE_INFERENCE_CAMERAS: env
    .idList('camera')
    .describe('comma-separated camera ids to serve (default: any camera, within SIGHTLINE_INFERENCE_MAX_CAMERAS)'),
  SIGHTLINE_INFERENCE_MAX_CAMERAS: env.int(64, 1, 4096),
  SIGHTLINE_INFERENCE_CAMERA_IDLE_SECONDS: env.number(60, 1, 86_400),
  SIGHTLINE_INFERENCE_WAITING_MAX_BYTES: env.int(64 * MiB, MAX_FRAME_BYTES, 64 * 1024 * MiB),
  SIGHTLINE_INFERENCE_MAX_PREDICTIONS: env.int(4, 1, 64).describe('HTTP predictions in progress at once (each holds its decoded image); more are answered 429'),
  SIGHTLINE_INFERENCE_PRODUCTS_DIR: env.optionalString().describe('where enrolled products are kept (default <data dir>/inference/products)'),
  SIGHTLINE_INFERENCE_RECOGNITION_THRESHOLD: env.number(DEFAULT_RECOGNITION_THRESHOLD, 0, 1),
  SIGHTLINE_INFERENCE_RECOGNITION_MAX_OBJECTS: env.int(3, 1, 32).describe('objects per frame compared with the enrolled products, best score first'),
  SIGHTLINE_INFERENCE_RECOGNITION_IGNORE: z
    .string()
    .max(4096)
    .default('person')
    .transform((text) =>
      text
        .split(',')
        .map((label) => label.trim())
        .filter((label) => label !== ''),
    )
    .describe('comma-separated detector labels never compared with the products (default: person)'),
  SIGHTLINE_INFERENCE_MAX_PRODUCTS: env.int(1000, 1, 100_000),
  SIGHTLINE_INFERENCE_MAX_PHOTOS_PER_PRODUCT: env.int(200, 1, 10_000),
  SIGHTLINE_INFERENCE_MAX_PHOTOS: env.int(20_000, 1, 1_000_000),
  SIGHTLINE_INFERENCE_RECENT_FRAMES: env
    .int(150, 0, 10_000)
    .describe('frames of each camera kept with their objects (about 30 s at 5 fps), to teach products from by camera and seq; 0 turns it off'),
  SIGHTLINE_INFERENCE_RECENT_FRAMES_MAX_BYTES: env.int(64 * MiB, MAX_FRAME_BYTES, 64 * 1024 * MiB).describe('bytes of those frames, all cameras together'),
  SIGHTLINE_INFERENCE_SYNC_URL: z
    .string()
    .transform((text, ctx) => {
      let url: URL;
      try {
        url = new URL(text.trim());
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a URL like http://127.0.0.1:8088' });
        return z.NEVER;
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'must be an http(s) URL' });
      if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '')
        ctx.addIssue({ code: 'custom', message: 'must be a plain base URL: no credentials (the shared SIGHTLINE_HTTP_TOKEN is sent), query or fragment' });
      return url.href.replace(/\/+$/, '');
    })
    .optional()
    .describe("the sync service's HTTP API, where frames it kept are fetched from to teach products (default: none, kept frames are refused)"),
  SIGHTLINE_INFERENCE_REPLICA: idSchema
    .optional()
    .describe(
      "this replica's id (unique among them): set it on every inference service that should share the cameras (default: not a replica, serves every camera itself)",
    ),
  SIGHTLINE_INFERENCE_REPLICA_HEARTBEAT_MS: env
    .int(1000, 100, 60_000)
    .describe('how often a replica says it is alive; one silent for 3 heartbeats is counted gone and its cameras taken over'),
  SIGHTLINE_INFERENCE_PREDICTION_URL_HOSTS: z
    .string()
    .transform((text, ctx) => {
      const hosts = new Set<string>();
      for (const entry of text.split(',').map((e) => e.trim())) {
        if (entry === '') continue;
        try {
          hosts.add(normaliseUrlHost(entry));
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      }
      if (hosts.size === 0) ctx.addIssue({ code: 'custom', message: 'lists no hosts; leave it unset to keep predicting from URLs off' });
      if (hosts.size > 64) ctx.addIssue({ code: 'custom', message: 'at most 64 hosts' });
      return [...hosts];
    })
    .optional()
    .describe('comma-separated host or host:port the Custom Vision url routes may fetch images from (default: none, those routes are off)'),
});

export interface InferenceConfig {
  logLevel: string;
  mqtt: MqttSettings;
  http: HttpSettings;
  /** `<data dir>/inference`: the built-in model is converted and cached under it. */
  dataDir: string;
  modelsDir: string;
  model: string;
  threads: number;
  /** Overrides every model's own score threshold when set. */
  scoreThreshold: number | undefined;
  /** Cameras to serve; null for any, at most `maxCameras` at once. */
  cameras: string[] | null;
  maxCameras: number;
  /** A camera that sent no frame for this long is forgotten (its place and its metric series). */
  cameraIdleMs: number;
  /** Bytes of the frames waiting for their turn (one per camera), all cameras together. */
  waitingMaxBytes: number;
  /** HTTP predictions decoded or waiting for their turn at once. */
  maxPredictions: number;
  /** Hosts (`host` or `host:port`) the Custom Vision url routes fetch images from; empty: those routes are off. */
  predictionUrlHosts: string[];
  /** Recent frames kept per camera, and their bytes in all, to teach products from. */
  recentFrames: { perCamera: number; maxBytes: number };
  /** The sync service's HTTP API (kept frames), or null; the token sent is `http.token`. */
  syncUrl: string | null;
  /** Set when this service is one of several sharing the cameras (see replicas.ts); null when it serves every camera. */
  replica: { id: string; heartbeatMs: number } | null;
  recognition: {
    productsDir: string;
    threshold: number;
    maxObjects: number;
    /** Detector labels never compared with the products. */
    ignore: string[];
    limits: { maxProducts: number; maxPhotosPerProduct: number; maxPhotos: number };
  };
}

export function loadInferenceConfig(environment: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): InferenceConfig {
  const settings = loadConfig('inference', inferenceEnvSchema, environment);
  const cameras = settings.SIGHTLINE_INFERENCE_CAMERAS ?? null;
  const dataDir = serviceDataDir(settings, 'inference', cwd);
  return {
    logLevel: settings.SIGHTLINE_LOG_LEVEL,
    mqtt: mqttSettingsFrom(settings),
    http: httpSettingsFrom('inference', { host: settings.SIGHTLINE_INFERENCE_HTTP_HOST, port: settings.SIGHTLINE_INFERENCE_HTTP_PORT }, settings),
    dataDir,
    modelsDir:
      settings.SIGHTLINE_INFERENCE_MODELS_DIR !== undefined ? path.resolve(cwd, settings.SIGHTLINE_INFERENCE_MODELS_DIR) : path.join(dataDir, 'models'),
    model: settings.SIGHTLINE_INFERENCE_MODEL,
    threads: settings.SIGHTLINE_INFERENCE_THREADS,
    scoreThreshold: settings.SIGHTLINE_INFERENCE_SCORE_THRESHOLD,
    cameras,
    maxCameras: settings.SIGHTLINE_INFERENCE_MAX_CAMERAS,
    cameraIdleMs: settings.SIGHTLINE_INFERENCE_CAMERA_IDLE_SECONDS * 1000,
    waitingMaxBytes: settings.SIGHTLINE_INFERENCE_WAITING_MAX_BYTES,
    maxPredictions: settings.SIGHTLINE_INFERENCE_MAX_PREDICTIONS,
    predictionUrlHosts: settings.SIGHTLINE_INFERENCE_PREDICTION_URL_HOSTS ?? [],
    recentFrames: { perCamera: settings.SIGHTLINE_INFERENCE_RECENT_FRAMES, maxBytes: settings.SIGHTLINE_INFERENCE_RECENT_FRAMES_MAX_BYTES },
    syncUrl: settings.SIGHTLINE_INFERENCE_SYNC_URL ?? null,
    replica:
      settings.SIGHTLINE_INFERENCE_REPLICA !== undefined
        ? { id: settings.SIGHTLINE_INFERENCE_REPLICA, heartbeatMs: settings.SIGHTLINE_INFERENCE_REPLICA_HEARTBEAT_MS }
        : null,
    recognition: {
      productsDir:
        settings.SIGHTLINE_INFERENCE_PRODUCTS_DIR !== undefined ? path.resolve(cwd, settings.SIGHTLINE_INFERENCE_PRODUCTS_DIR) : path.join(dataDir, 'products'),
      threshold: settings.SIGHTLINE_INFERENCE_RECOGNITION_THRESHOLD,
      maxObjects: settings.SIGHTLINE_INFERENCE_RECOGNITION_MAX_OBJECTS,
      ignore: settings.SIGHTLINE_INFERENCE_RECOGNITION_IGNORE,
      limits: {
        maxProducts: settings.SIGHTLINE_INFERENCE_MAX_PRODUCTS,
        maxPhotosPerProduct: settings.SIGHTLINE_INFERENCE_MAX_PHOTOS_PER_PRODUCT,
        maxPhotos: settings.SIGHTLINE_INFERENCE_MAX_PHOTOS,
      },
    },
  };
}

import path from 'node:path';
import { z } from 'zod';
import { ConfigError, dataDirSetting, env, loadConfig, httpAccessSettingsSchema, httpSettingsFrom, mqttSettingsFrom, mqttSettingsSchema, serviceDataDir, type HttpSettings, type MqttSettings } from '@sightline/kit';
import { idSchema, modelIdSchema } from '@sightline/schemas';
import { BUILTIN_MODEL_ID } from './pipeline/model-session.ts';

/**
 * Intra-op threads by default. Measured on the 2-core target (bench/inference.bench.ts): the
 * default model runs faster on 2 threads than on 1, and the service does one run at a time, so
 * it uses both cores; the JPEG decoding of the next frame overlaps only briefly.
 */
export const DEFAULT_THREADS = 2;


export const inferenceEnvSchema = z.strictObject({
  ...mqttSettingsSchema,
  ...httpAccessSettingsSchema,
  ...dataDirSetting,
  SIGHTLINE_INFERENCE_HTTP_HOST: env.host('127.0.0.1'),
  SIGHTLINE_INFERENCE_HTTP_PORT: env.port(8083),
  SIGHTLINE_INFERENCE_MODELS_DIR: env.optionalString().describe('folder of model folders (default <data dir>/inference/models)'),
  SIGHTLINE_INFERENCE_MODEL: modelIdSchema.default(BUILTIN_MODEL_ID),
  SIGHTLINE_INFERENCE_THREADS: env.int(DEFAULT_THREADS, 1, 64),
  SIGHTLINE_INFERENCE_SCORE_THRESHOLD: z.coerce.number({ error: 'must be a number' }).min(0, 'must be 0-1').max(1, 'must be 0-1').optional(),
  SIGHTLINE_INFERENCE_CAMERAS: env.optionalString().describe('comma-separated camera ids to serve (default all)'),
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
  /** Cameras to serve; null for all. */
  cameras: string[] | null;
}

export function loadInferenceConfig(environment: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): InferenceConfig {
  const settings = loadConfig('inference', inferenceEnvSchema, environment);
  const problems: string[] = [];
  let cameras: string[] | null = null;
  if (settings.SIGHTLINE_INFERENCE_CAMERAS !== undefined) {
    cameras = [];
    for (const raw of settings.SIGHTLINE_INFERENCE_CAMERAS.split(',')) {
      const id = raw.trim();
      if (!idSchema.safeParse(id).success) problems.push(`SIGHTLINE_INFERENCE_CAMERAS: "${id}" is not a camera id (1-64 characters of A-Z a-z 0-9 _ - starting with a letter or digit)`);
      else if (!cameras.includes(id)) cameras.push(id);
    }
  }
  if (problems.length > 0) throw new ConfigError('inference', problems);
  const dataDir = serviceDataDir(settings, 'inference', cwd);
  return {
    logLevel: settings.SIGHTLINE_LOG_LEVEL,
    mqtt: mqttSettingsFrom(settings),
    http: httpSettingsFrom('inference', { host: settings.SIGHTLINE_INFERENCE_HTTP_HOST, port: settings.SIGHTLINE_INFERENCE_HTTP_PORT }, settings),
    dataDir,
    modelsDir: settings.SIGHTLINE_INFERENCE_MODELS_DIR !== undefined ? path.resolve(cwd, settings.SIGHTLINE_INFERENCE_MODELS_DIR) : path.join(dataDir, 'models'),
    model: settings.SIGHTLINE_INFERENCE_MODEL,
    threads: settings.SIGHTLINE_INFERENCE_THREADS,
    scoreThreshold: settings.SIGHTLINE_INFERENCE_SCORE_THRESHOLD,
    cameras,
  };
}

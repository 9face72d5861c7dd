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
  mqttSettingsFrom,
  mqttSettingsSchema,
  readSmallFile,
  whyUnreadable,
  serviceDataDir,
  type HttpSettings,
  type MqttSettings,
} from '@sightline/kit';
import { idSchema } from '@sightline/schemas';
import { selectFfmpeg } from './ffmpeg.ts';
import { parseSource, qscaleFromQuality, SourceError, type Source } from './sources.ts';

const FPS_MIN = 0.1;
const FPS_MAX = 60;
const SIZE_MIN = 16;
const SIZE_MAX = 4096;
/** A cameras file is a few lines of JSON; anything this big is a mistake or an attack. */
export const MAX_CAMERAS_FILE_BYTES = 256 * 1024;
export const MAX_CAMERAS = 32;

export const captureEnvSchema = z.strictObject({
  ...mqttSettingsSchema,
  ...httpAccessSettingsSchema,
  ...dataDirSetting,
  SIGHTLINE_CAPTURE_HTTP_HOST: env.host('127.0.0.1'),
  SIGHTLINE_CAPTURE_HTTP_PORT: env.port(httpPortOf('capture')),
  SIGHTLINE_CAPTURE_CAMERAS_FILE: env.optionalString().describe('JSON file listing the cameras'),
  SIGHTLINE_CAPTURE_CAMERA: idSchema.optional().describe('camera id when there is no cameras file (default demo)'),
  SIGHTLINE_CAPTURE_SOURCE: env.optionalString().describe('source spec when there is no cameras file (default sample)'),
  SIGHTLINE_CAPTURE_FPS: env.number(5, FPS_MIN, FPS_MAX),
  SIGHTLINE_CAPTURE_WIDTH: env.int(640, SIZE_MIN, SIZE_MAX),
  SIGHTLINE_CAPTURE_HEIGHT: env.int(480, SIZE_MIN, SIZE_MAX),
  SIGHTLINE_CAPTURE_QUALITY: env.int(75, 1, 100),
  SIGHTLINE_CAPTURE_MOTION: env.bool(false),
  SIGHTLINE_CAPTURE_MOTION_THRESHOLD: env.number(0.01, 0, 1),
  SIGHTLINE_CAPTURE_KEEPALIVE_SECONDS: env.number(10, 1, 3600),
  SIGHTLINE_CAPTURE_STALL_SECONDS: env.number(10, 1, 600),
  SIGHTLINE_CAPTURE_STATUS_SECONDS: env.number(30, 1, 3600).describe('an unchanged camera status is published again this often'),
  SIGHTLINE_CAPTURE_FFMPEG_PATH: env.optionalString(),
});

export type CaptureEnv = z.infer<typeof captureEnvSchema>;

const motionSchema = z.strictObject({
  threshold: z.number().min(0).max(1).optional(),
  keepaliveSeconds: z.number().min(1).max(3600).optional(),
});

const cameraEntrySchema = z.strictObject({
  id: idSchema,
  source: z.string().min(1, 'must not be empty').max(4096, 'is too long'),
  fps: z.number().min(FPS_MIN).max(FPS_MAX).optional(),
  width: z.number().int().min(SIZE_MIN).max(SIZE_MAX).optional(),
  height: z.number().int().min(SIZE_MIN).max(SIZE_MAX).optional(),
  quality: z.number().int().min(1).max(100).optional(),
  motion: z.union([z.boolean(), motionSchema]).optional(),
});

export const camerasFileSchema = z.strictObject({
  cameras: z.array(cameraEntrySchema).min(1, 'must list at least one camera').max(MAX_CAMERAS, `must list at most ${MAX_CAMERAS} cameras`),
});

export interface MotionGate {
  /** Share of 8x8 blocks that must change for a frame to be sent (mpdecimate frac). */
  threshold: number;
  /** A static scene still sends one frame this often. */
  keepaliveSeconds: number;
}

export interface CameraConfig {
  id: string;
  source: Source;
  fps: number;
  width: number;
  height: number;
  /** 1-100, higher is better. */
  quality: number;
  /** The ffmpeg -q:v the quality maps to (2-31, lower is better). */
  qscale: number;
  motion: MotionGate | null;
}

export interface CaptureConfig {
  logLevel: string;
  mqtt: MqttSettings;
  http: HttpSettings;
  dataDir: string;
  /** FFMPEG_PATH when set; otherwise the app picks system or bundled ffmpeg. */
  ffmpegPath: string | undefined;
  stallSeconds: number;
  /** Heartbeat of the camera status channel. */
  statusHeartbeatSeconds: number;
  cameras: CameraConfig[];
}

function issuePath(prefix: string, issuePath: readonly PropertyKey[]): string {
  return [prefix, ...issuePath.map(String)].join('.');
}

/**
 * Loads the whole configuration: the environment (through the kit, unknown keys refused), then the
 * cameras file or the single-camera settings, every source checked. All problems are reported
 * together in one ConfigError.
 */
export function loadCaptureConfig(environment: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): CaptureConfig {
  const settings = loadConfig('capture', captureEnvSchema, environment);
  const problems: string[] = [];
  const defaults = {
    fps: settings.SIGHTLINE_CAPTURE_FPS,
    width: settings.SIGHTLINE_CAPTURE_WIDTH,
    height: settings.SIGHTLINE_CAPTURE_HEIGHT,
    quality: settings.SIGHTLINE_CAPTURE_QUALITY,
    motion: settings.SIGHTLINE_CAPTURE_MOTION
      ? { threshold: settings.SIGHTLINE_CAPTURE_MOTION_THRESHOLD, keepaliveSeconds: settings.SIGHTLINE_CAPTURE_KEEPALIVE_SECONDS }
      : null,
  };

  let ffmpegPath: string | undefined;
  if (settings.SIGHTLINE_CAPTURE_FFMPEG_PATH !== undefined) {
    try {
      ffmpegPath = selectFfmpeg(path.resolve(cwd, settings.SIGHTLINE_CAPTURE_FFMPEG_PATH)).path;
    } catch (err) {
      problems.push(`SIGHTLINE_CAPTURE_FFMPEG_PATH: ${(err as Error).message.replace(/^FFMPEG_PATH /, '')}`);
    }
  }

  const cameras: CameraConfig[] = [];
  const addCamera = (key: string, entry: z.infer<typeof cameraEntrySchema>, baseDir: string) => {
    let source: Source;
    try {
      source = parseSource(entry.source, baseDir);
    } catch (err) {
      if (!(err instanceof SourceError)) throw err;
      problems.push(`${key}: ${err.message}`);
      return;
    }
    const quality = entry.quality ?? defaults.quality;
    let motion = defaults.motion;
    if (entry.motion === false) motion = null;
    else if (entry.motion === true)
      motion = { threshold: settings.SIGHTLINE_CAPTURE_MOTION_THRESHOLD, keepaliveSeconds: settings.SIGHTLINE_CAPTURE_KEEPALIVE_SECONDS };
    else if (entry.motion !== undefined) {
      motion = {
        threshold: entry.motion.threshold ?? settings.SIGHTLINE_CAPTURE_MOTION_THRESHOLD,
        keepaliveSeconds: entry.motion.keepaliveSeconds ?? settings.SIGHTLINE_CAPTURE_KEEPALIVE_SECONDS,
      };
    }
    cameras.push({
      id: entry.id,
      source,
      fps: entry.fps ?? defaults.fps,
      width: entry.width ?? defaults.width,
      height: entry.height ?? defaults.height,
      quality,
      qscale: qscaleFromQuality(quality),
      motion,
    });
  };

  const camerasFile = settings.SIGHTLINE_CAPTURE_CAMERAS_FILE;
  if (camerasFile !== undefined) {
    const key = 'SIGHTLINE_CAPTURE_CAMERAS_FILE';
    for (const single of ['SIGHTLINE_CAPTURE_CAMERA', 'SIGHTLINE_CAPTURE_SOURCE'] as const) {
      if (settings[single] !== undefined) problems.push(`${single}: cannot be used with ${key}; list the camera in the file`);
    }
    const file = path.resolve(cwd, camerasFile);
    let text: string | undefined;
    try {
      text = readSmallFile(file, MAX_CAMERAS_FILE_BYTES);
    } catch (err) {
      problems.push(`${key}: ${file} ${whyUnreadable(err)}`);
    }
    if (text !== undefined) {
      let raw: unknown;
      let parsedJson = false;
      if (text.trim() === '') problems.push(`${key}: ${file} is empty`);
      else {
        try {
          raw = JSON.parse(text);
          parsedJson = true;
        } catch (err) {
          problems.push(`${key}: ${file} is not valid JSON: ${(err as Error).message}`);
        }
      }
      if (parsedJson) {
        const parsed = camerasFileSchema.safeParse(raw);
        if (!parsed.success) {
          for (const issue of parsed.error.issues) problems.push(`${key}: ${file}: ${issuePath('', issue.path).slice(1) || '(top level)'}: ${issue.message}`);
        } else {
          const seen = new Map<string, number>();
          parsed.data.cameras.forEach((entry, index) => {
            const first = seen.get(entry.id);
            if (first !== undefined) {
              problems.push(`${key}: ${file}: cameras.${index}.id: duplicate camera id "${entry.id}" (also cameras.${first}.id)`);
              return;
            }
            seen.set(entry.id, index);
            addCamera(`${key}: ${file}: cameras.${index}.source`, entry, path.dirname(file));
          });
        }
      }
    }
  } else {
    addCamera('SIGHTLINE_CAPTURE_SOURCE', { id: settings.SIGHTLINE_CAPTURE_CAMERA ?? 'demo', source: settings.SIGHTLINE_CAPTURE_SOURCE ?? 'sample' }, cwd);
  }

  if (problems.length > 0) throw new ConfigError('capture', problems);
  return {
    logLevel: settings.SIGHTLINE_LOG_LEVEL,
    mqtt: mqttSettingsFrom(settings),
    http: httpSettingsFrom('capture', { host: settings.SIGHTLINE_CAPTURE_HTTP_HOST, port: settings.SIGHTLINE_CAPTURE_HTTP_PORT }, settings),
    dataDir: serviceDataDir(settings, 'capture', cwd),
    ffmpegPath,
    stallSeconds: settings.SIGHTLINE_CAPTURE_STALL_SECONDS,
    statusHeartbeatSeconds: settings.SIGHTLINE_CAPTURE_STATUS_SECONDS,
    cameras,
  };
}

import { execFile } from 'node:child_process';
import { createRuntime, type Logger, type Runtime } from '@sightline/kit';
import { channels } from '@sightline/schemas';
import { Camera, DEFAULT_BACKOFF, type BackoffOptions, type CameraStatus } from './camera.ts';
import type { CameraConfig, CaptureConfig } from './config.ts';
import { selectFfmpeg, type FfmpegBinary } from './ffmpeg.ts';
import { createCaptureMetrics } from './metrics.ts';
import { ensureSampleVideo } from './sample-video.ts';
import { inputArgs, listImages } from './sources.ts';

export interface CaptureDeps {
  /** Use this ffmpeg instead of choosing one (FFMPEG_PATH, then system, then bundled). */
  ffmpeg?: FfmpegBinary;
  /** Where to look for a system ffmpeg (default: the PATH). */
  searchPath?: string;
  /** Wall clock in ms; frames are stamped with it. */
  now?: () => number;
  backoff?: Partial<BackoffOptions>;
  /** Overrides the stall timeout from the config (tests). */
  stallMs?: number;
  /** Overrides MAX_FRAME_BYTES (tests). */
  maxFrameBytes?: number;
}

export interface CaptureApp {
  readonly runtime: Runtime;
  readonly cameras: readonly Camera[];
  readonly ffmpeg: FfmpegBinary;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The capture service: one Camera per configured camera, publishing frames on the bus, plus
 * `/cameras` (status of each camera) next to the kit's `/healthz`, `/readyz` and `/metrics`.
 * Ready means connected to the broker and every camera delivering frames.
 */
export function createCaptureApp(config: CaptureConfig, logger: Logger, deps: CaptureDeps = {}): CaptureApp {
  const now = deps.now ?? Date.now;
  const ffmpeg = deps.ffmpeg ?? selectFfmpeg(config.ffmpegPath, deps.searchPath);
  const backoff = { ...DEFAULT_BACKOFF, ...deps.backoff };
  const cameras: Camera[] = [];

  const runtime = createRuntime({
    service: 'capture',
    logger,
    mqtt: config.mqtt,
    http: config.http,
    notReadyReason: () => {
      const offline = cameras.filter((c) => !c.online).map((c) => {
        const s = c.status();
        return `${s.camera} (${s.state}${s.reason ? `: ${s.reason}` : ''})`;
      });
      return offline.length === 0 ? null : `camera${offline.length > 1 ? 's' : ''} not delivering frames: ${offline.join('; ')}`;
    },
  });

  const metrics = createCaptureMetrics(runtime.registry, () => cameras.map((c) => ({ camera: c.id, at: c.lastFrameAt })), now);
  const log = logger.child({ module: 'capture' });

  const publisher = {
    connected: () => runtime.client.connected,
    publish: (camera: string, jpeg: Buffer, meta: Parameters<typeof channels.frame.codec.encode>[0]['meta']) =>
      runtime.bus.publish(channels.frame, { camera }, { jpeg, meta }),
  };

  const argsFor = (camera: CameraConfig) => async (): Promise<string[]> => {
    const options = {
      fps: camera.fps,
      width: camera.width,
      height: camera.height,
      samplePath: '',
      ioTimeoutUs: Math.round((deps.stallMs ?? config.stallSeconds * 1000) * 1000),
    };
    if (camera.source.kind === 'sample') {
      options.samplePath = await ensureSampleVideo(ffmpeg.path, config.dataDir, (msg) => log.info(msg));
    }
    if (camera.source.kind === 'dir') {
      const images = listImages(camera.source.path);
      if (images.ignored.length > 0) {
        log.warn({ camera: camera.id, using: images.codec === 'png' ? 'png' : 'jpeg', ignored: images.ignored.length }, 'folder mixes JPEG and PNG images: ffmpeg shows one kind per stream, the other is left out');
      }
    }
    return inputArgs(camera.source, options);
  };

  for (const camera of config.cameras) {
    const stallMs = (deps.stallMs ?? config.stallSeconds * 1000) + (camera.motion ? camera.motion.keepaliveSeconds * 1000 : 0);
    const options = {
      config: camera,
      ffmpegPath: ffmpeg.path,
      inputArgs: argsFor(camera),
      publisher,
      metrics,
      logger,
      now,
      backoff,
      stallMs,
      ...(deps.maxFrameBytes !== undefined ? { maxFrameBytes: deps.maxFrameBytes } : {}),
    };
    cameras.push(new Camera(options));
  }

  runtime.http.get('/cameras', async (): Promise<{ cameras: CameraStatus[] }> => ({ cameras: cameras.map((c) => c.status()) }));

  return {
    runtime,
    cameras,
    ffmpeg,
    async start() {
      const version = await ffmpegVersion(ffmpeg.path);
      log.info({ ffmpeg: ffmpeg.path, origin: ffmpeg.origin, version }, `using ${ffmpeg.origin} ffmpeg`);
      await runtime.start();
      for (const camera of cameras) camera.start();
    },
    async stop() {
      await Promise.all(cameras.map((c) => c.stop().catch((err: unknown) => log.warn({ err, camera: c.id }, 'stopping camera failed'))));
      await runtime.stop();
    },
  };
}

function ffmpegVersion(file: string): Promise<string> {
  return new Promise((resolve) => {
    execFile(file, ['-hide_banner', '-version'], { timeout: 10_000 }, (err, stdout) => {
      resolve(err ? `unknown (${err.message})` : (/ffmpeg version (\S+)/.exec(String(stdout))?.[1] ?? 'unknown'));
    });
  });
}

import { execFile } from 'node:child_process';
import { createRuntime, type Logger, type Runtime } from '@sightline/kit';
import { channels, type FrameMeta, type JpegHeader } from '@sightline/schemas';
import { Camera, DEFAULT_BACKOFF, type BackoffOptions, type CameraReport } from './camera.ts';
import type { CameraConfig, CaptureConfig } from './config.ts';
import { selectFfmpeg, type FfmpegBinary, type FfmpegInput } from './ffmpeg.ts';
import { createCaptureMetrics } from './metrics.ts';
import { ensureSampleVideo } from './sample-video.ts';
import { ffmpegInput, ffmpegOutput } from './sources.ts';
import { StatusReporter } from './status.ts';

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
 * The capture service: one Camera per configured camera, publishing frames and the camera's
 * status on the bus, plus `/cameras` (status of each camera) next to the kit's `/healthz`,
 * `/readyz` and `/metrics`. Ready means connected to the broker and every camera delivering frames.
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
      const offline = cameras
        .filter((c) => !c.online)
        .map((c) => {
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
    publish: (camera: string, jpeg: Buffer, meta: FrameMeta, header: JpegHeader) => runtime.bus.publish(channels.frame, { camera }, { jpeg, meta, header }),
  };
  const reporter = new StatusReporter({
    cameras,
    publish: (status) => runtime.bus.publish(channels.cameraStatus, { camera: status.camera }, status),
    connected: () => runtime.client.connected,
    heartbeatMs: config.statusHeartbeatSeconds * 1000,
    now,
    logger,
  });

  const inputOf = (camera: CameraConfig) => async (): Promise<FfmpegInput> => {
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
    return ffmpegInput(camera.source, options);
  };

  for (const camera of config.cameras) {
    const stallMs = (deps.stallMs ?? config.stallSeconds * 1000) + (camera.motion ? camera.motion.keepaliveSeconds * 1000 : 0);
    if (camera.source.kind === 'dir' && camera.source.images.ignored.length > 0) {
      const { images } = camera.source;
      log.warn(
        { camera: camera.id, using: images.codec === 'png' ? 'png' : 'jpeg', ignored: images.ignored.length },
        'folder mixes JPEG and PNG images: ffmpeg shows one kind per stream, the other is left out',
      );
    }
    const options = {
      config: camera,
      ffmpegPath: ffmpeg.path,
      input: inputOf(camera),
      output: ffmpegOutput(camera),
      publisher,
      onChange: (c: Camera) => reporter.changed(c),
      metrics,
      logger,
      now,
      backoff,
      stallMs,
      ...(deps.maxFrameBytes !== undefined ? { maxFrameBytes: deps.maxFrameBytes } : {}),
    };
    cameras.push(new Camera(options));
  }

  runtime.http.get('/cameras', async (): Promise<{ cameras: CameraReport[] }> => ({ cameras: cameras.map((c) => c.status()) }));
  // After the kit's own handler has said `online`: consumers forget the statuses of a capture that went offline.
  const onConnect = () => reporter.republish();

  return {
    runtime,
    cameras,
    ffmpeg,
    async start() {
      const version = await ffmpegVersion(ffmpeg.path);
      log.info({ ffmpeg: ffmpeg.path, origin: ffmpeg.origin, version }, `using ${ffmpeg.origin} ffmpeg`);
      runtime.client.on('connect', onConnect);
      await runtime.start();
      reporter.start();
      for (const camera of cameras) camera.start();
    },
    async stop() {
      await Promise.all(cameras.map((c) => c.stop().catch((err: unknown) => log.warn({ err, camera: c.id }, 'stopping camera failed'))));
      await reporter.stop();
      runtime.client.off('connect', onConnect);
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

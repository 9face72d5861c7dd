import { Counter, Gauge, type Registry } from 'prom-client';

export type DropReason = 'corrupt' | 'oversize' | 'disconnected' | 'busy';
export const DROP_REASONS: readonly DropReason[] = ['corrupt', 'oversize', 'disconnected', 'busy'];

export interface CaptureMetrics {
  published: Counter<'camera'>;
  bytes: Counter<'camera'>;
  dropped: Counter<'camera' | 'reason'>;
  skippedBytes: Counter<'camera'>;
  restarts: Counter<'camera'>;
  online: Gauge<'camera'>;
  lastFrameAge: Gauge<'camera'>;
}

/**
 * The capture metrics. `lastFrameAge` is computed when scraped from `lastFrameAt`, which returns
 * each camera's last frame time (ms), or null before its first frame.
 */
export function createCaptureMetrics(registry: Registry, lastFrameAt: () => Array<{ camera: string; at: number | null }>, now: () => number): CaptureMetrics {
  const registers = [registry];
  return {
    published: new Counter({ name: 'sightline_capture_frames_published_total', help: 'Frames published to the broker', labelNames: ['camera'], registers }),
    bytes: new Counter({
      name: 'sightline_capture_bytes_published_total',
      help: 'Bytes of frames published (JPEG with its metadata segment)',
      labelNames: ['camera'],
      registers,
    }),
    dropped: new Counter({
      name: 'sightline_capture_frames_dropped_total',
      help: 'Frames not published: corrupt or oversize ffmpeg output, broker disconnected, or publisher busy (a newer frame won)',
      labelNames: ['camera', 'reason'],
      registers,
    }),
    skippedBytes: new Counter({
      name: 'sightline_capture_skipped_bytes_total',
      help: 'ffmpeg output bytes thrown away while resynchronising on a JPEG start',
      labelNames: ['camera'],
      registers,
    }),
    restarts: new Counter({
      name: 'sightline_capture_ffmpeg_restarts_total',
      help: 'Times ffmpeg was started again after it exited, crashed or stalled',
      labelNames: ['camera'],
      registers,
    }),
    online: new Gauge({
      name: 'sightline_capture_camera_online',
      help: '1 while the camera delivers frames, 0 while it is offline',
      labelNames: ['camera'],
      registers,
    }),
    lastFrameAge: new Gauge({
      name: 'sightline_capture_last_frame_age_seconds',
      help: 'Seconds since the camera last delivered a frame (absent before the first one)',
      labelNames: ['camera'],
      registers,
      collect() {
        const t = now();
        for (const { camera, at } of lastFrameAt()) {
          if (at !== null) this.set({ camera }, Math.max(0, (t - at) / 1000));
        }
      },
    }),
  };
}

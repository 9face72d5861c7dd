import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type SyncMetrics = ReturnType<typeof createSyncMetrics>;

export function createSyncMetrics(registry: Registry, outbox: () => { images: number; bytes: number; oldestAcceptedAt: number | null }, now: () => number) {
  const registers = [registry];
  return {
    framesSeen: new Counter({
      name: 'sightline_sync_frames_seen_total',
      help: "Frames kept for selection (every JPEG of a camera held, selected or not); a forgotten camera's series goes",
      labelNames: ['camera'],
      registers,
    }),
    framesRefused: new Counter({
      name: 'sightline_sync_frames_refused_total',
      help: 'Frames not kept: their camera is not in SIGHTLINE_SYNC_CAMERAS, or new while SIGHTLINE_SYNC_MAX_CAMERAS cameras are held',
      labelNames: ['cause'],
      registers,
    }),
    taskFailures: new Counter({
      name: 'sightline_sync_task_failures_total',
      help: 'Background work (selection, uploads, expiry) that failed unexpectedly; logged',
      labelNames: ['task'],
      registers,
    }),
    bytesCaptured: new Counter({ name: 'sightline_sync_bytes_captured_total', help: 'Bytes of every frame received', registers }),
    selected: new Counter({
      name: 'sightline_sync_images_selected_total',
      help: 'Images accepted into the outbox, by why they were chosen',
      labelNames: ['reason'],
      registers,
    }),
    suppressed: new Counter({
      name: 'sightline_sync_images_suppressed_total',
      help: "Images worth keeping but not taken: a near-duplicate of one selected lately (duplicate), not its event's most uncertain frame (same-event), past the camera's daily images, bytes, pace, or a label's share of the day (images, bytes, pace, label-share)",
      labelNames: ['cause'],
      registers,
    }),
    events: new Counter({
      name: 'sightline_sync_events_total',
      help: 'Objects followed across frames until they went: with an uncertain frame to send, or certain throughout',
      labelNames: ['outcome'],
      registers,
    }),
    fingerprintFailures: new Counter({
      name: 'sightline_sync_fingerprint_failures_total',
      help: 'Pictures that could not be decoded for the near-duplicate comparison (selected without it)',
      registers,
    }),
    bytesSelected: new Counter({ name: 'sightline_sync_bytes_selected_total', help: 'Bytes of JPEG accepted into the outbox', registers }),
    notSelected: new Counter({
      name: 'sightline_sync_images_not_selected_total',
      help: 'Images chosen by the policy but not taken: over the hourly cap, frame gone from the ring, larger than the whole outbox, or impossible to name or describe (error)',
      labelNames: ['reason', 'cause'],
      registers,
    }),
    uploaded: new Counter({
      name: 'sightline_sync_images_uploaded_total',
      help: 'Images confirmed in blob storage (created, or found already there after a retry)',
      labelNames: ['outcome'],
      registers,
    }),
    bytesUploaded: new Counter({ name: 'sightline_sync_bytes_uploaded_total', help: 'Bytes of JPEG confirmed in blob storage', registers }),
    uploadFailures: new Counter({
      name: 'sightline_sync_upload_failures_total',
      help: 'Upload attempts that failed and will be retried',
      labelNames: ['kind'],
      registers,
    }),
    evicted: new Counter({
      name: 'sightline_sync_images_evicted_total',
      help: 'Images dropped from the outbox without upload: ttl, disk cap, unreadable, refused by the store',
      labelNames: ['reason'],
      registers,
    }),
    evictedBytes: new Counter({ name: 'sightline_sync_bytes_evicted_total', help: 'Outbox bytes dropped without upload', labelNames: ['reason'], registers }),
    outboxImages: new Gauge({
      name: 'sightline_sync_outbox_images',
      help: 'Images waiting in the outbox',
      registers,
      collect() {
        this.set(outbox().images);
      },
    }),
    outboxBytes: new Gauge({
      name: 'sightline_sync_outbox_bytes',
      help: 'Bytes waiting in the outbox',
      registers,
      collect() {
        this.set(outbox().bytes);
      },
    }),
    outboxOldestAge: new Gauge({
      name: 'sightline_sync_outbox_oldest_age_seconds',
      help: 'Age of the oldest image waiting in the outbox (0 when empty)',
      registers,
      collect() {
        const oldest = outbox().oldestAcceptedAt;
        this.set(oldest === null ? 0 : Math.max(0, (now() - oldest) / 1000));
      },
    }),
    captureToBlob: new Histogram({
      name: 'sightline_sync_capture_to_blob_seconds',
      help: 'From a frame being captured to its blob existing',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400],
      registers,
    }),
    storeReachable: new Gauge({ name: 'sightline_sync_store_reachable', help: '1 when the last request to blob storage succeeded', registers }),
  };
}

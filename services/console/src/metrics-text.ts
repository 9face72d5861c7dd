/**
 * A few numbers from a service's Prometheus text, for the services page: each named metric summed
 * over its labels (histograms by their `_count`). Not a Prometheus client: just enough to show.
 */
export function sumMetrics(text: string, names: readonly string[]): Record<string, number> {
  const wanted = new Set(names);
  const sums: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})? ([^ ]+)/.exec(line);
    if (!match || !wanted.has(match[1]!)) continue;
    const value = Number(match[2]);
    if (Number.isFinite(value)) sums[match[1]!] = (sums[match[1]!] ?? 0) + value;
  }
  return sums;
}

/** What the services page shows of each service beside its health: memory, CPU and its own key counts. */
export const KEY_METRICS: Record<string, readonly string[]> = {
  broker: ['sightline_broker_connections', 'sightline_broker_messages_in_total'],
  capture: ['sightline_capture_frames_published_total', 'sightline_capture_frames_dropped_total'],
  inference: ['sightline_inference_frames_total', 'sightline_inference_frames_dropped_total'],
  checkout: ['sightline_checkout_scans_total', 'sightline_checkout_not_recognised_total'],
  tts: [],
  speaker: ['sightline_speaker_played_total', 'sightline_speaker_dropped_total'],
  alert: ['sightline_alert_alerts_open', 'sightline_alert_alerts_raised_total'],
  sync: ['sightline_sync_images_uploaded_total', 'sightline_sync_outbox_images'],
  azurite: [],
};
export const PROCESS_METRICS = ['process_resident_memory_bytes', 'process_cpu_seconds_total'] as const;

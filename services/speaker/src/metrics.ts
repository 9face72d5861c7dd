import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Why an announcement was not played; a small fixed set, it is a metric label. */
export const DROP_REASONS = [
  'stale',
  'superseded',
  'overflow',
  'too-long',
  'coalesced',
  'duplicate',
  'lane-mismatch',
  'stopped',
  'sink-error',
  'shutdown',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** What came of a control here: a result's outcome, `basket-requested` (a second repeat), or `checkout` (its command: only cut). */
export const CONTROL_OUTCOMES = ['repeated', 'paused', 'resumed', 'stopped', 'volume', 'refused', 'basket-requested', 'checkout'] as const;
export type ControlOutcomeLabel = (typeof CONTROL_OUTCOMES)[number];

export interface SpeakerMetrics {
  played: Counter<'lane' | 'kind'>;
  interrupted: Counter<'lane' | 'kind'>;
  dropped: Counter<'lane' | 'reason'>;
  sinkErrors: Counter<'sink'>;
  earconToSpeechGap: Histogram;
  startLatency: Histogram<'sink'>;
  outages: Counter;
  queued: Gauge<'lane'>;
  controls: Counter<'command' | 'outcome'>;
}

export function createSpeakerMetrics(registry: Registry, queueLengths: () => Array<{ lane: string; length: number }>): SpeakerMetrics {
  const registers = [registry];
  return {
    played: new Counter({
      name: 'sightline_speaker_played_total',
      help: 'Clips played to the end or cut, by lane and kind (earcon, speech, fallback)',
      labelNames: ['lane', 'kind'],
      registers,
    }),
    interrupted: new Counter({
      name: 'sightline_speaker_interrupted_total',
      help: 'Clips cut short by a newer scan or a control',
      labelNames: ['lane', 'kind'],
      registers,
    }),
    dropped: new Counter({
      name: 'sightline_speaker_dropped_total',
      help: 'Clips not played: stale (older than the max age), superseded (a newer scan or repeat came first), overflow (the lane holds too much), too-long (one clip over the bound), coalesced (a newer total or answer replaced it), duplicate, lane-mismatch, stopped (the shopper stopped the lane), sink-error, shutdown',
      labelNames: ['lane', 'reason'],
      registers,
    }),
    sinkErrors: new Counter({
      name: 'sightline_speaker_sink_errors_total',
      help: 'Times the audio output failed to play a clip',
      labelNames: ['sink'],
      registers,
    }),
    earconToSpeechGap: new Histogram({
      name: 'sightline_speaker_earcon_to_speech_gap_seconds',
      help: "From the end of a scan earcon to the start of that scan's speech",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5],
      registers,
    }),
    startLatency: new Histogram({
      name: 'sightline_speaker_start_latency_seconds',
      help: 'From handing a clip to the output to its first sample playing (as the output reports it)',
      labelNames: ['sink'],
      buckets: [0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1],
      registers,
    }),
    outages: new Counter({ name: 'sightline_speaker_speech_outages_total', help: 'Times the tts service went offline while this speaker ran', registers }),
    queued: new Gauge({
      name: 'sightline_speaker_queue_length',
      help: 'Clips waiting to play, by lane',
      labelNames: ['lane'],
      registers,
      collect() {
        // Only the lanes tracked now: a forgotten lane's series goes with it.
        this.reset();
        for (const { lane, length } of queueLengths()) this.set({ lane }, length);
      },
    }),
    controls: new Counter({
      name: 'sightline_speaker_controls_total',
      help: "Shoppers' controls received, by command and what came of them here (checkout: another service's command, only cut)",
      labelNames: ['command', 'outcome'],
      registers,
    }),
  };
}

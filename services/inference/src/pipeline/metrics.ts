import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export const DROP_REASONS = ['replaced', 'evicted', 'stopped', 'no-model', 'bad-image', 'failed', 'publish-failed', 'camera-cap', 'reassigned'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** Seconds; from a few ms (decoding a small JPEG) to several seconds (a big model on a slow CPU). */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createInferenceMetrics(registry: Registry) {
  const registers = [registry];
  return {
    frames: new Counter({ name: 'sightline_inference_frames_total', help: 'Frames run through the model and published', labelNames: ['camera'], registers }),
    dropped: new Counter({
      name: 'sightline_inference_frames_dropped_total',
      help: 'Frames not run: replaced by a newer frame of the same camera while waiting (latest wins), evicted past the bound on waiting bytes, an image that cannot be read, no model, a failed run or publish, or a camera beyond SIGHTLINE_INFERENCE_MAX_CAMERAS (no camera label)',
      labelNames: ['camera', 'reason'],
      registers,
    }),
    stage: new Histogram({
      name: 'sightline_inference_stage_seconds',
      help: 'Time per frame in each stage: decode, preprocess, inference, postprocess, total',
      labelNames: ['stage'],
      buckets: BUCKETS,
      registers,
    }),
    wait: new Histogram({ name: 'sightline_inference_wait_seconds', help: 'Time a frame waited for its turn', buckets: BUCKETS, registers }),
    predictionsRefused: new Counter({
      name: 'sightline_inference_predictions_refused_total',
      help: 'HTTP predictions refused because SIGHTLINE_INFERENCE_MAX_PREDICTIONS were already in progress',
      registers,
    }),
    switches: new Counter({ name: 'sightline_inference_model_switches_total', help: 'Model switch requests by outcome', labelNames: ['outcome'], registers }),
    modelInfo: new Gauge({ name: 'sightline_inference_model_info', help: 'The model running (1)', labelNames: ['model', 'version', 'threads'], registers }),
  };
}

export type InferenceMetrics = ReturnType<typeof createInferenceMetrics>;

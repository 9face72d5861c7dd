import type { Scan } from '@sightline/schemas';
import { BoundedMap } from '@sightline/kit';
import type { RuleOf } from '../rules.ts';
import { round, type EvaluatorFactory, type RuleContext } from './evaluator.ts';

/** A full window of the largest allowed size (10,000 scans) is 80 KB; the default (20) 160 B. */
const DRIFT_MAX_BYTES = 32 * 1024 * 1024;

interface DriftState {
  baseline: number | undefined;
  learning: number[];
  window: number[];
  sum: number;
  next: number;
}

/**
 * The mean confidence of one sku over the last `window` scans of a lane fell `margin` below its
 * baseline (configured, or learnt from its first window); over once the mean is back within half
 * the margin.
 */
export const modelDrift: EvaluatorFactory<'model-drift'> = (context) => {
  const windows = new BoundedMap<string, DriftState>({
    name: 'alert-drift-windows',
    maxEntries: context.limits.maxDriftStates,
    maxBytes: DRIFT_MAX_BYTES,
    sizeOf: (state) => 64 + 8 * (state.learning.length + state.window.length),
    ...context.bounded,
  });
  return {
    subject: 'lane',
    expires: false,
    scan(rule, scan, now, known) {
      const sku = scan.product.sku;
      const stateKey = `${rule.id}|${scan.lane}|${sku}`;
      let state = windows.get(stateKey);
      if (state === undefined) {
        state = { baseline: rule.baselines?.[sku] ?? context.store.getBaseline(stateKey), learning: [], window: [], sum: 0, next: 0 };
        windows.set(stateKey, state);
      }
      evaluateWindow(context, rule, scan, now, known, stateKey, state);
      windows.resize(stateKey);
    },
  };
};

function evaluateWindow(context: RuleContext, rule: RuleOf<'model-drift'>, scan: Scan, now: number, known: boolean, stateKey: string, state: DriftState): void {
  const sku = scan.product.sku;
  if (state.baseline === undefined) {
    state.learning.push(scan.confidence);
    if (state.learning.length >= rule.window) {
      state.baseline = state.learning.reduce((a, b) => a + b, 0) / state.learning.length;
      state.learning = [];
      context.store.setBaseline(stateKey, state.baseline);
      context.logger.info({ rule: rule.id, lane: scan.lane, sku, baseline: state.baseline }, 'learned drift baseline');
    }
    return;
  }
  if (state.window.length < rule.window) {
    state.window.push(scan.confidence);
  } else {
    state.sum -= state.window[state.next]!;
    state.window[state.next] = scan.confidence;
    state.next = (state.next + 1) % rule.window;
  }
  state.sum += scan.confidence;
  if (state.window.length < rule.window) return;
  const mean = state.sum / state.window.length;
  if (mean < state.baseline - rule.margin) {
    context.raise(rule, now, {
      subject: { lane: scan.lane },
      known,
      part: sku,
      message: `model drift on lane ${scan.lane}: mean confidence of ${sku} over the last ${rule.window} scans is ${mean.toFixed(2)}, baseline ${state.baseline.toFixed(2)}`,
      details: { sku, mean: round(mean), baseline: round(state.baseline), margin: rule.margin, window: rule.window },
      snapshot: { camera: scan.camera, seq: scan.seq, capturedAt: scan.capturedAt },
    });
  } else if (mean >= state.baseline - rule.margin / 2) {
    context.resolve(rule, { lane: scan.lane }, 'recovered', sku);
  }
}

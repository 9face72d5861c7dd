import { round, type EvaluatorFactory } from './evaluator.ts';

/** A scan whose confidence is below the rule's threshold. */
export const lowConfidenceScan: EvaluatorFactory<'low-confidence-scan'> = (context) => ({
  subject: 'lane',
  expires: true,
  scan(rule, scan, now, known) {
    if (scan.confidence >= rule.below) return;
    context.raise(rule, now, {
      subject: { lane: scan.lane, camera: scan.camera },
      known,
      message: `low-confidence scan of ${scan.product.sku} on lane ${scan.lane}: ${scan.confidence.toFixed(2)} < ${rule.below}`,
      details: { sku: scan.product.sku, confidence: round(scan.confidence), threshold: rule.below, scan: scan.id },
      snapshot: { camera: scan.camera, seq: scan.seq, capturedAt: scan.capturedAt },
    });
  },
});

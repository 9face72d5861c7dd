import type { EvaluatorFactory } from './evaluator.ts';

/** The scale weighed an item outside its product's expected range. */
export const weightMismatch: EvaluatorFactory<'weight-mismatch'> = (context) => ({
  subject: 'lane',
  expires: true,
  laneEvent(rule, event, now, known) {
    if (event.type !== 'weight-mismatch') return;
    const { sku } = event.product;
    context.raise(rule, now, {
      subject: { lane: event.lane },
      known,
      message: `weight mismatch on lane ${event.lane}: ${sku} weighs ${event.weightGrams} g, expected ${event.expected.min}-${event.expected.max} g`,
      details: { sku, weightGrams: event.weightGrams, expectedMin: event.expected.min, expectedMax: event.expected.max, event: event.id },
      snapshot: event.frame ?? null,
    });
  },
});

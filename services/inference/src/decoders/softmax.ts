import type { DecoderSpec } from '../model/descriptor.ts';
import { checkLabels, readOutput, squeezeTo } from './common.ts';
import type { DecodeContext, OutputDecoder, Prediction } from './types.ts';

export function softmaxInPlace(values: Float64Array): Float64Array {
  let max = -Infinity;
  for (const v of values) max = Math.max(max, v);
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] = Math.exp(values[i]! - max);
  for (let i = 0; i < values.length; i++) values[i]! /= sum;
  return values;
}

/** Class scores in labels order as predictions (box null), best first, at or above the threshold. */
export function classify(probabilities: ArrayLike<number>, context: DecodeContext): Prediction[] {
  const found: Prediction[] = [];
  for (let c = 0; c < probabilities.length; c++) {
    const score = probabilities[c]!;
    if (score >= context.scoreThreshold) found.push({ classId: c, label: context.labels[c]!, score, box: null });
  }
  return found.sort((a, b) => b.score - a.score || a.classId - b.classId).slice(0, context.maxDetections);
}

/** Classification scores `[1, C]` or `[C]`, logits (softmax applied here) or probabilities as given. */
export function createSoftmaxDecoder(spec: Extract<DecoderSpec, { type: 'softmax' }>): OutputDecoder {
  return {
    outputs: [spec.output],
    decode(outputs, context) {
      const { dims, values } = readOutput(outputs, spec.output);
      const [classes] = squeezeTo(spec.output, dims, 1, '[1, classes] or [classes]');
      checkLabels(spec.output, classes!, context.labels);
      const scores = Float64Array.from(values);
      return classify(spec.applySoftmax ? softmaxInPlace(scores) : scores, context);
    },
  };
}

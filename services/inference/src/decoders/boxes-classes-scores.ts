import type { DecoderSpec } from '../model/descriptor.ts';
import { checkContext, classwiseNms, DecodeError, inputBoxToFrame, labelOf, readOutput, squeezeTo } from './common.ts';
import type { OutputDecoder, Prediction } from './types.ts';

/**
 * Detections already decoded by the graph (Custom Vision compact [S1]): boxes `[1, N, 4]` as
 * input-normalised x1, y1, x2, y2; classes `[1, N]` (int64); scores `[1, N]`. The graph has done its
 * NMS; the class-wise pass here only enforces the configured IoU and the limit.
 */
export function createBoxesClassesScoresDecoder(spec: Extract<DecoderSpec, { type: 'boxes-classes-scores' }>): OutputDecoder {
  return {
    outputs: [spec.boxes, spec.classes, spec.scores],
    decode(outputs, context) {
      checkContext(context);
      const boxes = readOutput(outputs, spec.boxes);
      const classes = readOutput(outputs, spec.classes);
      const scores = readOutput(outputs, spec.scores);
      const [n, four] = squeezeTo(spec.boxes, boxes.dims, 2, '[1, N, 4]') as [number, number];
      if (four !== 4) throw new DecodeError(`output "${spec.boxes}" has shape [${boxes.dims.join(',')}], expected [1, N, 4]`);
      const [nc] = squeezeTo(spec.classes, classes.dims, 1, '[1, N]');
      const [ns] = squeezeTo(spec.scores, scores.dims, 1, '[1, N]');
      if (nc !== n || ns !== n) throw new DecodeError(`detections disagree in number: ${n} boxes, ${nc} classes, ${ns} scores`);
      const candidates: Prediction[] = [];
      for (let i = 0; i < n; i++) {
        const score = scores.values[i]!;
        if (score < context.scoreThreshold) continue;
        const classId = classes.values[i]!;
        if (!Number.isInteger(classId) || classId < 0 || classId >= context.labels.length) {
          throw new DecodeError(`output "${spec.classes}" names class ${classId} but there are ${context.labels.length} labels`);
        }
        const b = boxes.values;
        const box = inputBoxToFrame(b[i * 4]!, b[i * 4 + 1]!, b[i * 4 + 2]!, b[i * 4 + 3]!, context);
        if (box) candidates.push({ classId, label: labelOf(context.labels, classId), score, box });
      }
      return classwiseNms(candidates, context.iouThreshold, context.maxDetections);
    },
  };
}

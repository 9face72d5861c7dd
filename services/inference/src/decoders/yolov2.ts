import type { DecoderSpec } from '../model/descriptor.ts';
import { checkContext, checkLabels, classwiseNms, DecodeError, inputBoxToFrame, labelOf, readOutput, squeezeTo } from './common.ts';
import type { OutputDecoder, Prediction } from './types.ts';

/** The anchors of Custom Vision's "General (compact)" detection exports, in grid cells. */
export const CUSTOM_VISION_ANCHORS: ReadonlyArray<readonly [number, number]> = [
  [0.573, 0.677],
  [1.87, 2.06],
  [3.34, 5.47],
  [7.88, 3.53],
  [9.77, 9.17],
];

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

/**
 * YOLOv2 as Custom Vision exports it: `[1, A*(5+C), gh, gw]`, per anchor the channels tx, ty, tw, th,
 * objectness, C class logits. Centre = (sigmoid(t) + cell) / grid, size = exp(t) * anchor / grid,
 * class probability = softmax(logits) * sigmoid(objectness); class-wise NMS.
 */
export function createYoloV2Decoder(spec: Extract<DecoderSpec, { type: 'yolov2' }>): OutputDecoder {
  const anchors = spec.anchors;
  return {
    outputs: [spec.output],
    decode(outputs, context) {
      checkContext(context);
      const { dims, values: v } = readOutput(outputs, spec.output);
      const [channels, gh, gw] = squeezeTo(spec.output, dims, 3, '[1, anchors*(5+classes), gridHeight, gridWidth]') as [number, number, number];
      const perAnchor = channels / anchors.length;
      if (!Number.isInteger(perAnchor) || perAnchor < 6) {
        throw new DecodeError(`output "${spec.output}" has ${channels} channels, not ${anchors.length} anchors x (5 + classes)`);
      }
      const classes = perAnchor - 5;
      checkLabels(spec.output, classes, context.labels);
      const plane = gh * gw;
      const at = (a: number, k: number, cell: number): number => v[(a * perAnchor + k) * plane + cell]!;
      const logits = new Float64Array(classes);
      const candidates: Prediction[] = [];
      for (let a = 0; a < anchors.length; a++) {
        const [aw, ah] = anchors[a]!;
        for (let gy = 0; gy < gh; gy++) {
          for (let gx = 0; gx < gw; gx++) {
            const cell = gy * gw + gx;
            const objectness = sigmoid(at(a, 4, cell));
            if (objectness < context.scoreThreshold) continue;
            let max = -Infinity;
            for (let c = 0; c < classes; c++) max = Math.max(max, (logits[c] = at(a, 5 + c, cell)));
            let sum = 0;
            for (let c = 0; c < classes; c++) sum += logits[c] = Math.exp(logits[c]! - max);
            const cx = (sigmoid(at(a, 0, cell)) + gx) / gw;
            const cy = (sigmoid(at(a, 1, cell)) + gy) / gh;
            const w = (Math.exp(at(a, 2, cell)) * aw) / gw;
            const h = (Math.exp(at(a, 3, cell)) * ah) / gh;
            let box: ReturnType<typeof inputBoxToFrame> | undefined;
            for (let c = 0; c < classes; c++) {
              const score = (logits[c]! / sum) * objectness;
              if (score < context.scoreThreshold) continue;
              box ??= inputBoxToFrame(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, context);
              if (box === null) break;
              candidates.push({ classId: c, label: labelOf(context.labels, c), score, box });
            }
          }
        }
      }
      return classwiseNms(candidates, context.iouThreshold, context.maxDetections);
    },
  };
}

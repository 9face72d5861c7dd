import type { DecoderSpec } from '../model/descriptor.ts';
import { createBoxesClassesScoresDecoder } from './boxes-classes-scores.ts';
import { decodeCenterNet } from './centernet.ts';
import { checkContext, checkLabels, DecodeError, readOutput, squeezeTo } from './common.ts';
import { createCustomVisionClassificationDecoder } from './custom-vision-classification.ts';
import { createSoftmaxDecoder } from './softmax.ts';
import type { OutputDecoder } from './types.ts';
import { createYoloV2Decoder } from './yolov2.ts';

export { DecodeError } from './common.ts';
export { checkOutputsReadable, OLD_LOSS_EXPORT_MESSAGE, UnsupportedModelError } from './custom-vision-classification.ts';
export { CUSTOM_VISION_ANCHORS } from './yolov2.ts';
export type { DecodeContext, InputRegion, OutputDecoder, Prediction } from './types.ts';

/** CenterNet heads: heatmaps NHWC `[1, gh, gw, C]` (probabilities), sizes `[1, gh, gw, 4]` in input pixels. */
export function createCenterNetDecoder(spec: Extract<DecoderSpec, { type: 'centernet' }>): OutputDecoder {
  return {
    outputs: [spec.heatmaps, spec.sizes],
    decode(outputs, context) {
      checkContext(context);
      const heat = readOutput(outputs, spec.heatmaps);
      const sizes = readOutput(outputs, spec.sizes);
      const [gh, gw, classes] = squeezeTo(spec.heatmaps, heat.dims, 3, '[1, gridHeight, gridWidth, classes]') as [number, number, number];
      const [sh, sw, four] = squeezeTo(spec.sizes, sizes.dims, 3, '[1, gridHeight, gridWidth, 4]') as [number, number, number];
      if (sh !== gh || sw !== gw || four !== 4) throw new DecodeError(`output "${spec.sizes}" has shape [${sizes.dims.join(',')}], expected [1, ${gh}, ${gw}, 4]`);
      checkLabels(spec.heatmaps, classes, context.labels);
      return decodeCenterNet(
        {
          heatmaps: Float32Array.from(heat.values),
          sizes: Float32Array.from(sizes.values),
          gridWidth: gw,
          gridHeight: gh,
          classes,
          inputWidth: context.inputWidth,
          inputHeight: context.inputHeight,
        },
        {
          labels: context.labels,
          scoreThreshold: context.scoreThreshold,
          iouThreshold: context.iouThreshold,
          maxDetections: context.maxDetections,
          region: context.region,
        },
      );
    },
  };
}

export function createDecoder(spec: DecoderSpec): OutputDecoder {
  switch (spec.type) {
    case 'softmax':
      return createSoftmaxDecoder(spec);
    case 'centernet':
      return createCenterNetDecoder(spec);
    case 'yolov2':
      return createYoloV2Decoder(spec);
    case 'boxes-classes-scores':
      return createBoxesClassesScoresDecoder(spec);
    case 'custom-vision-classification':
      return createCustomVisionClassificationDecoder(spec);
  }
}

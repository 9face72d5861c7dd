import type { DecoderSpec } from '../model/descriptor.ts';
import { createBoxesClassesScoresDecoder } from './boxes-classes-scores.ts';
import { createCenterNetDecoder } from './centernet.ts';
import { createCustomVisionClassificationDecoder } from './custom-vision-classification.ts';
import { createSoftmaxDecoder } from './softmax.ts';
import type { OutputDecoder } from './types.ts';
import { createYoloV2Decoder } from './yolov2.ts';

export { DecodeError, iou } from './common.ts';
export { checkOutputsReadable, OLD_LOSS_EXPORT_MESSAGE, UnsupportedModelError } from './custom-vision-classification.ts';
export { CUSTOM_VISION_ANCHORS } from './yolov2.ts';
export type { Box, DecodeContext, Detection, InputRegion, OutputDecoder, Prediction } from './types.ts';

/**
 * The decoder for a descriptor's `decoder` spec: the one entry point, used by the model session
 * and by the shared decoder suite alike.
 */
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

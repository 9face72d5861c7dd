import type { Tensor } from '../onnxruntime.ts';
import { decodeCenterNet } from '../decoders/centernet.ts';
import { createDecoder as createFormDecoder } from '../decoders/index.ts';
import type { DecodeContext, OutputDecoder, Prediction } from '../decoders/types.ts';
import type { DecoderSpec } from '../model/descriptor.ts';

/**
 * The decoder registry: a descriptor's `decoder` spec to the OutputDecoder that reads those
 * outputs. `centernet` is this module's own wrapper of decodeCenterNet (it reads the float32
 * outputs in place, no copy: the default model's heatmaps are 1.3 M values per frame); the other
 * forms (softmax, yolov2, boxes-classes-scores, custom-vision-classification) come from
 * ../decoders/index.ts.
 */

export class UnsupportedDecoderError extends Error {
  constructor(type: string) {
    super(`decoder "${type}" is not available in this build (available: ${Object.keys(factories).join(', ')})`);
    this.name = 'UnsupportedDecoderError';
  }
}

function floatData(tensor: Tensor | undefined, name: string): Float32Array {
  if (!tensor) throw new Error(`the model gave no output "${name}"`);
  if (tensor.type !== 'float32') throw new Error(`output "${name}" is ${tensor.type}, expected float32`);
  return tensor.data as Float32Array;
}

/** CenterNet heads, NHWC: heatmaps [1, gh, gw, classes] (probabilities), sizes [1, gh, gw, 4]. */
export function centerNetDecoder(spec: { heatmaps: string; sizes: string }): OutputDecoder {
  return {
    outputs: [spec.heatmaps, spec.sizes],
    decode(outputs: Readonly<Record<string, Tensor>>, context: DecodeContext): Prediction[] {
      const heatmaps = outputs[spec.heatmaps];
      const data = floatData(heatmaps, spec.heatmaps);
      const dims = heatmaps!.dims;
      if (dims.length !== 4) throw new Error(`output "${spec.heatmaps}" has shape [${dims.join(', ')}], expected [1, height, width, classes]`);
      return decodeCenterNet(
        {
          heatmaps: data,
          sizes: floatData(outputs[spec.sizes], spec.sizes),
          gridHeight: dims[1]!,
          gridWidth: dims[2]!,
          classes: dims[3]!,
          inputWidth: context.inputWidth,
          inputHeight: context.inputHeight,
        },
        {
          labels: context.labels,
          region: context.region,
          scoreThreshold: context.scoreThreshold,
          iouThreshold: context.iouThreshold,
          maxDetections: context.maxDetections,
        },
      );
    },
  };
}

type Factory = (spec: DecoderSpec) => OutputDecoder;

const factories: Partial<Record<DecoderSpec['type'], Factory>> = {
  centernet: (spec) => centerNetDecoder(spec as Extract<DecoderSpec, { type: 'centernet' }>),
  softmax: createFormDecoder,
  yolov2: createFormDecoder,
  'boxes-classes-scores': createFormDecoder,
  'custom-vision-classification': createFormDecoder,
};

export function availableDecoders(): string[] {
  return Object.keys(factories);
}

export function createDecoder(spec: DecoderSpec): OutputDecoder {
  const factory = factories[spec.type];
  if (!factory) throw new UnsupportedDecoderError(spec.type);
  return factory(spec);
}

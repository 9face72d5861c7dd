import type { DecoderSpec } from '../model/descriptor.ts';
import { checkLabels, DecodeError, readOutput, squeezeTo } from './common.ts';
import { classify } from './softmax.ts';
import type { OutputDecoder } from './types.ts';

/** onnxruntime-node 1.30 creates a session for such a model but `run` fails: "Non tensor type is temporarily not supported." */
export const OLD_LOSS_EXPORT_MESSAGE =
  'this older Custom Vision export (loss output as sequence of maps) is not supported by onnxruntime-node; re-export with a newer Custom Vision version';

export class UnsupportedModelError extends Error {
  override name = 'UnsupportedModelError';
}

/**
 * Custom Vision classification: `model_output` float probabilities in labels.txt order (newer
 * exports), used as given. The older `loss` output, a sequence of map<string, float> (ZipMap), cannot
 * be read through onnxruntime-node: that form is refused with OLD_LOSS_EXPORT_MESSAGE.
 */
export function createCustomVisionClassificationDecoder(spec: Extract<DecoderSpec, { type: 'custom-vision-classification' }>): OutputDecoder {
  return {
    outputs: [spec.output],
    decode(outputs, context) {
      const tensor = outputs[spec.output] as unknown;
      if (tensor !== undefined && (tensor === null || typeof tensor !== 'object' || !('dims' in tensor) || !('data' in tensor))) {
        throw new UnsupportedModelError(OLD_LOSS_EXPORT_MESSAGE);
      }
      const { dims, values } = readOutput(outputs, spec.output);
      const [classes] = squeezeTo(spec.output, dims, 1, '[1, classes] or [classes]');
      checkLabels(spec.output, classes!, context.labels);
      for (const p of values) if (p < 0 || p > 1) throw new DecodeError(`output "${spec.output}" holds ${p}, not a probability`);
      return classify(values, context);
    },
  };
}

/**
 * Refuses, when the model loads, outputs onnxruntime-node cannot hand back (sequences, maps): the
 * session's output metadata says `isTensor: false` for them.
 */
export function checkOutputsReadable(decoderOutputs: readonly string[], outputMetadata: ReadonlyArray<{ name: string; isTensor: boolean }>): void {
  for (const name of decoderOutputs) {
    const meta = outputMetadata.find((m) => m.name === name);
    if (meta === undefined) throw new DecodeError(`the model has no output "${name}" (it has: ${outputMetadata.map((m) => m.name).join(', ')})`);
    if (!meta.isTensor) {
      throw new UnsupportedModelError(name === 'loss' ? OLD_LOSS_EXPORT_MESSAGE : `output "${name}" is not a tensor; onnxruntime-node cannot read it`);
    }
  }
}

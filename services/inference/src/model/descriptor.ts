import { z } from 'zod';
import { modelIdSchema } from '@sightline/schemas';

/**
 * A model is a folder: the ONNX file, its labels, and `model.json`, this descriptor. Everything
 * the service needs to feed the model and read its answer is said here, nothing is guessed.
 * A Custom Vision export folder gets its descriptor made from its manifest and ONNX metadata.
 */

const name = z.string().min(1).max(256);
const triple = z.tuple([z.number(), z.number(), z.number()]);

export const inputSpecSchema = z.strictObject({
  name: name.describe('the ONNX input name'),
  width: z.number().int().min(1).max(4096),
  height: z.number().int().min(1).max(4096),
  layout: z.enum(['NCHW', 'NHWC']),
  channels: z.enum(['RGB', 'BGR']),
  /** Each 0..255 pixel value becomes (value * scale - mean[c]) / std[c]. */
  scale: z.number().positive().default(1),
  mean: triple.default([0, 0, 0]),
  std: triple.default([1, 1, 1]),
  /**
   * stretch: the frame is resized to the input, aspect ignored; letterbox: fitted inside with grey
   * bars, boxes mapped back; custom-vision: Custom Vision's own (longer side at most 1600, largest
   * centred square, 256x256, centre crop to the input).
   */
  resize: z.enum(['stretch', 'letterbox', 'custom-vision']),
});
export type InputSpec = z.infer<typeof inputSpecSchema>;

export const decoderSpecSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('softmax'), output: name, applySoftmax: z.boolean().default(true) }),
  z.strictObject({
    type: z.literal('centernet'),
    heatmaps: name,
    sizes: name,
    // The graph's own post-processing, when it has one: [1, K, 6] rows of x1, y1, x2, y2 (input
    // pixels), score, class, best first. Read instead of the heads: 600 values instead of 1.3 M.
    detections: name.optional(),
  }),
  z.strictObject({
    type: z.literal('yolov2'),
    output: name,
    anchors: z
      .array(z.tuple([z.number().positive(), z.number().positive()]))
      .min(1)
      .max(16),
  }),
  z.strictObject({ type: z.literal('boxes-classes-scores'), boxes: name, classes: name, scores: name }),
  z.strictObject({ type: z.literal('custom-vision-classification'), output: name }),
]);
export type DecoderSpec = z.infer<typeof decoderSpecSchema>;

export const modelDescriptorSchema = z.strictObject({
  id: modelIdSchema,
  version: z.string().min(1).max(64),
  file: z.string().min(1).max(256).default('model.onnx'),
  task: z.enum(['classification', 'detection']),
  input: inputSpecSchema,
  /** The labels, or the name of a file in the folder with one label per line. */
  labels: z.union([z.array(z.string().max(256)).min(1).max(100_000), z.string().min(1).max(256)]),
  decoder: decoderSpecSchema,
  thresholds: z
    .strictObject({
      score: z.number().min(0).max(1).default(0.25),
      iou: z.number().min(0).max(1).default(0.45),
      maxDetections: z.number().int().min(1).max(1000).default(50),
    })
    .prefault({}),
});
export type ModelDescriptor = z.infer<typeof modelDescriptorSchema>;

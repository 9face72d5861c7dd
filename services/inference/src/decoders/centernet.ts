import type { DecoderSpec } from '../model/descriptor.ts';
import { checkContext, checkLabels, classwiseNms, DecodeError, labelOf, nonFinite, pixelBoxToFrame, readNumbers, readOutput, squeezeTo } from './common.ts';
import type { Detection, InputRegion, OutputDecoder } from './types.ts';

/**
 * CenterNet decoding for the default model's heads (checked against the graph's own `tower_0/detections`):
 *
 * - heatmaps `[1, gh, gw, classes]` are already probabilities (the graph ends in a Sigmoid);
 * - a peak is a cell whose score equals the maximum of its 3x3 neighbourhood in the same class;
 * - sizes `[1, gh, gw, 4]` are distances in input pixels (the graph already multiplied them by 16) from
 *   the cell's corner point `(gx * stride, gy * stride)` — not its centre — to the box's left, top,
 *   right and bottom edges, stride = input size / grid size (512 / 128 = 4).
 */

export interface CenterNetOutput {
  /** NHWC heatmaps, probabilities. */
  heatmaps: Float32Array;
  /** NHWC distances left, top, right, bottom in input pixels. */
  sizes: Float32Array;
  gridWidth: number;
  gridHeight: number;
  classes: number;
  inputWidth: number;
  inputHeight: number;
}

/** A heatmap peak with its box in input pixels, as in the graph's `tower_0/detections` rows. */
export interface Peak {
  classId: number;
  score: number;
  gx: number;
  gy: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface PeakOptions {
  /** How many peaks to keep, best first (the graph keeps 100). */
  topK: number;
  /** Peaks scoring below this are skipped before sorting (0 keeps everything, like the graph). */
  minScore: number;
  /** Told of each NaN or +Infinity heatmap value (a NaN is never a peak). -Infinity is a low score. */
  onNonFinite?: (index: number, value: number) => void;
}

export interface DecodeOptions {
  labels: readonly string[];
  scoreThreshold?: number;
  /** Boxes of the same class overlapping more than this (IoU) are suppressed. */
  iouThreshold?: number;
  maxDetections?: number;
  /** Peaks looked at before NMS. */
  topK?: number;
  /** Default: the frame was stretched over the whole input. */
  region?: InputRegion;
  onNonFinite?: PeakOptions['onNonFinite'];
}

export const DEFAULT_DECODE = { scoreThreshold: 0.25, iouThreshold: 0.5, maxDetections: 50, topK: 100 } as const;

function checkShapes(out: CenterNetOutput): void {
  const cells = out.gridWidth * out.gridHeight;
  if (out.heatmaps.length !== cells * out.classes) throw new Error(`heatmaps hold ${out.heatmaps.length} values, expected ${cells} x ${out.classes}`);
  if (out.sizes.length !== cells * 4) throw new Error(`sizes hold ${out.sizes.length} values, expected ${cells} x 4`);
}

export function findPeaks(out: CenterNetOutput, options: PeakOptions): Peak[] {
  checkShapes(out);
  const { heatmaps: h, sizes, gridWidth: gw, gridHeight: gh, classes: nc } = out;
  const strideX = out.inputWidth / gw;
  const strideY = out.inputHeight / gh;
  const found: Array<{ index: number; score: number }> = [];
  // Two steps: a tight scan for the values not below the threshold (almost none are), then the
  // 3x3 peak test for those few only. `v >= least` keeps exactly what `v >= minScore && v > 0`
  // kept: for every double, v > 0 is v >= Number.MIN_VALUE, and NaN fails both. The scan keeps
  // NaN too (`!(v < least)`, still one comparison), so they are found here at no cost: looking
  // for them in a pass of their own took 1.8 ms per frame of the default model.
  const least = options.minScore > 0 ? options.minScore : Number.MIN_VALUE;
  const rowStride = gw * nc;
  for (const index of indicesNotBelow(h, least)) {
    const v = h[index]!;
    if (!(v < Infinity)) {
      options.onNonFinite?.(index, v);
      if (Number.isNaN(v)) continue;
    }
    const cell = (index / nc) | 0;
    const gx = cell % gw;
    const gy = (cell - gx) / gw;
    let peak = true;
    for (let dy = -1; dy <= 1 && peak; dy++) {
      const y = gy + dy;
      if (y < 0 || y >= gh) continue;
      for (let dx = -1; dx <= 1; dx++) {
        const x = gx + dx;
        if (x < 0 || x >= gw || (dx === 0 && dy === 0)) continue;
        if (h[index + dy * rowStride + dx * nc]! > v) {
          peak = false;
          break;
        }
      }
    }
    if (peak) found.push({ index, score: v });
  }
  found.sort((a, b) => b.score - a.score || a.index - b.index);
  return found.slice(0, options.topK).map(({ index, score }) => {
    const classId = index % nc;
    const cell = (index - classId) / nc;
    const gx = cell % gw;
    const gy = (cell - gx) / gw;
    const [l, t, r, b] = [sizes[cell * 4]!, sizes[cell * 4 + 1]!, sizes[cell * 4 + 2]!, sizes[cell * 4 + 3]!];
    return { classId, score, gx, gy, x1: gx * strideX - l, y1: gy * strideY - t, x2: gx * strideX + r, y2: gy * strideY + b };
  });
}

/** Indices of the values not below `least` (NaN included), in order: one comparison per value, in a loop of its own (kept small so it is optimised as such). */
function indicesNotBelow(values: Float32Array, least: number): number[] {
  const hits: number[] = [];
  const n = values.length;
  for (let i = 0; i < n; i++) {
    if (!(values[i]! < least)) hits.push(i);
  }
  return hits;
}

/** Peaks above the score threshold, boxes normalised to the frame, class-wise NMS, best first. */
export function decodeCenterNet(out: CenterNetOutput, options: DecodeOptions): Detection[] {
  const scoreThreshold = options.scoreThreshold ?? DEFAULT_DECODE.scoreThreshold;
  const region = options.region ?? { x: 0, y: 0, width: out.inputWidth, height: out.inputHeight };
  const candidates: Detection[] = [];
  const peakOptions: PeakOptions = {
    topK: options.topK ?? DEFAULT_DECODE.topK,
    minScore: scoreThreshold,
    ...(options.onNonFinite ? { onNonFinite: options.onNonFinite } : {}),
  };
  for (const p of findPeaks(out, peakOptions)) {
    const box = pixelBoxToFrame(p.x1, p.y1, p.x2, p.y2, region);
    if (box) candidates.push({ classId: p.classId, label: labelOf(options.labels, p.classId), score: p.score, box });
  }
  return classwiseNms(candidates, options.iouThreshold ?? DEFAULT_DECODE.iouThreshold, options.maxDetections ?? DEFAULT_DECODE.maxDetections);
}

/**
 * The `centernet` form: heatmaps `[1, gh, gw, classes]`, sizes `[1, gh, gw, 4]`. Float32 outputs are
 * read in place: the default model's heatmaps are 1.3 M values per frame, and copying them took 4.5 ms.
 */
export function createCenterNetDecoder(spec: Extract<DecoderSpec, { type: 'centernet' }>): OutputDecoder {
  if (spec.detections !== undefined) return graphDetectionsDecoder(spec.detections);
  return {
    outputs: [spec.heatmaps, spec.sizes],
    decode(outputs, context) {
      checkContext(context);
      const heat = readNumbers(outputs, spec.heatmaps);
      const sizes = readOutput(outputs, spec.sizes);
      const [gh, gw, classes] = squeezeTo(spec.heatmaps, heat.dims, 3, '[1, gridHeight, gridWidth, classes]') as [number, number, number];
      const [sh, sw, four] = squeezeTo(spec.sizes, sizes.dims, 3, '[1, gridHeight, gridWidth, 4]') as [number, number, number];
      if (sh !== gh || sw !== gw || four !== 4)
        throw new DecodeError(`output "${spec.sizes}" has shape [${sizes.dims.join(',')}], expected [1, ${gh}, ${gw}, 4]`);
      checkLabels(spec.heatmaps, classes, context.labels);
      return decodeCenterNet(
        {
          heatmaps: asFloat32(heat.values),
          sizes: asFloat32(sizes.values),
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
          onNonFinite: (index, value) => {
            throw nonFinite(spec.heatmaps, index, value);
          },
        },
      );
    },
  };
}

const asFloat32 = (values: Float32Array | Float64Array): Float32Array => (values instanceof Float32Array ? values : Float32Array.from(values));

/**
 * The `centernet` form with the graph's own post-processing (`detections`): its rows are the peaks
 * findPeaks finds in the heads, the best K (100 in the default model), so the predictions are the
 * same (the decoder tests compare both), without copying 5 MB of heads out of onnxruntime and
 * scanning 1.3 M values per frame.
 */
function graphDetectionsDecoder(name: string): OutputDecoder {
  return {
    outputs: [name],
    decode(outputs, context) {
      checkContext(context);
      const { dims, values } = readOutput(outputs, name);
      const [rows, six] = squeezeTo(name, dims, 2, '[1, K, 6]') as [number, number];
      if (six !== 6) throw new DecodeError(`output "${name}" has shape [${dims.join(',')}], expected [1, K, 6]`);
      // As findPeaks: a score not above 0 is never an object, whatever the threshold.
      const least = context.scoreThreshold > 0 ? context.scoreThreshold : Number.MIN_VALUE;
      const candidates: Detection[] = [];
      for (let row = 0; row < rows; row++) {
        const at = row * 6;
        const score = values[at + 4]!;
        if (score < least) continue;
        const classId = values[at + 5]!;
        if (!Number.isInteger(classId) || classId < 0 || classId >= context.labels.length)
          throw new DecodeError(`output "${name}" names class ${classId} in row ${row}, but there are ${context.labels.length} labels`);
        const box = pixelBoxToFrame(values[at]!, values[at + 1]!, values[at + 2]!, values[at + 3]!, context.region);
        if (box) candidates.push({ classId, label: labelOf(context.labels, classId), score, box });
      }
      return classwiseNms(candidates, context.iouThreshold, context.maxDetections);
    },
  };
}

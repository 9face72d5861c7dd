import type { Tensor } from '../onnxruntime.ts';
import type { Box, DecodeContext, InputRegion, Prediction } from './types.ts';

/** A model answered something a decoder cannot read: a missing output, a wrong shape or type, NaN. */
export class DecodeError extends Error {
  override name = 'DecodeError';
}

type NumericData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | BigUint64Array;

export interface OutputValues {
  dims: readonly number[];
  /** A float32 output as it is (no copy), any other numeric type converted. */
  values: Float64Array | Float32Array;
}

/** The named output as plain numbers, after checking it exists, is numeric, has the expected size and holds no NaN/Infinity. */
export function readOutput(outputs: Readonly<Record<string, Tensor>>, name: string): OutputValues {
  const output = readNumbers(outputs, name);
  const { values } = output;
  const bad = values instanceof Float32Array ? firstNonFinite32(values) : firstNonFinite64(values);
  if (bad >= 0) throw nonFinite(name, bad, values[bad]!);
  return output;
}

export const nonFinite = (name: string, index: number, value: number): DecodeError => new DecodeError(`output "${name}" holds ${value} at index ${index}`);

/** As readOutput, without looking for NaN/Infinity: for a caller whose own pass over the values finds them. */
export function readNumbers(outputs: Readonly<Record<string, Tensor>>, name: string): OutputValues {
  const tensor = outputs[name];
  if (tensor === undefined || tensor === null)
    throw new DecodeError(`the model gave no output "${name}" (it gave: ${Object.keys(outputs).join(', ') || 'nothing'})`);
  if (typeof tensor !== 'object' || !('data' in tensor) || !('dims' in tensor)) throw new DecodeError(`output "${name}" is not a tensor`);
  const data = tensor.data as unknown;
  if (!ArrayBuffer.isView(data)) throw new DecodeError(`output "${name}" is a ${tensor.type} tensor, expected numbers`);
  const dims = tensor.dims;
  const size = dims.reduce((a, b) => a * b, 1);
  const numeric = data as NumericData;
  if (numeric.length !== size) throw new DecodeError(`output "${name}" holds ${numeric.length} values but its shape [${dims.join(',')}] says ${size}`);
  let values: Float64Array | Float32Array;
  if (numeric instanceof Float32Array) values = numeric;
  else if (numeric instanceof BigInt64Array || numeric instanceof BigUint64Array) values = Float64Array.from(numeric, (v) => Number(v));
  else values = Float64Array.from(numeric as ArrayLike<number>);
  return { dims, values };
}

// The index of the first NaN or ±Infinity (v - v is NaN for them, 0 for any other value), or -1.
// One function per array type keeps each loop monomorphic.
function firstNonFinite32(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (values[i]! - values[i]! !== 0) return i;
  return -1;
}

function firstNonFinite64(values: Float64Array): number {
  for (let i = 0; i < values.length; i++) if (values[i]! - values[i]! !== 0) return i;
  return -1;
}

/** Drops leading 1s (the batch) until `rank` dimensions remain; throws when the shape cannot be that. */
export function squeezeTo(name: string, dims: readonly number[], rank: number, what: string): number[] {
  const d = [...dims];
  while (d.length > rank && d[0] === 1) d.shift();
  if (d.length !== rank) throw new DecodeError(`output "${name}" has shape [${dims.join(',')}], expected ${what}`);
  return d;
}

export function checkLabels(name: string, classes: number, labels: readonly string[]): void {
  if (classes !== labels.length) throw new DecodeError(`output "${name}" has ${classes} classes but there are ${labels.length} labels`);
}

const clamp01 = (v: number): number => Math.min(1, Math.max(0, v));

export function iou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (a.width * a.height + b.width * b.height - inter);
}

/**
 * A box given by its corners in input pixels to the frame: through the frame's place in the input
 * (letterbox bars removed), clipped to [0, 1]; null when nothing of it is left inside the frame.
 */
export function pixelBoxToFrame(x1: number, y1: number, x2: number, y2: number, region: InputRegion): Box | null {
  const fx1 = clamp01((x1 - region.x) / region.width);
  const fy1 = clamp01((y1 - region.y) / region.height);
  const fx2 = clamp01((x2 - region.x) / region.width);
  const fy2 = clamp01((y2 - region.y) / region.height);
  if (!(fx2 > fx1) || !(fy2 > fy1)) return null;
  return { x: fx1, y: fy1, width: fx2 - fx1, height: fy2 - fy1 };
}

/** As pixelBoxToFrame, for corners normalised to the input. */
export function inputBoxToFrame(
  x1: number,
  y1: number,
  x2: number,
  y2: number,
  context: Pick<DecodeContext, 'inputWidth' | 'inputHeight' | 'region'>,
): Box | null {
  return pixelBoxToFrame(x1 * context.inputWidth, y1 * context.inputHeight, x2 * context.inputWidth, y2 * context.inputHeight, context.region);
}

/** Best first; boxes of the same class overlapping the kept ones more than iouThreshold dropped; at most maxDetections. */
export function classwiseNms<P extends Prediction>(candidates: readonly P[], iouThreshold: number, maxDetections: number): P[] {
  const sorted = [...candidates].sort((a, b) => b.score - a.score);
  const kept: P[] = [];
  for (const c of sorted) {
    if (kept.length >= maxDetections) break;
    if (c.box && kept.some((k) => k.classId === c.classId && k.box !== null && iou(k.box, c.box!) > iouThreshold)) continue;
    kept.push(c);
  }
  return kept;
}

export function checkContext(context: DecodeContext): void {
  const r = context.region;
  if (!(r.width > 0 && r.height > 0 && context.inputWidth > 0 && context.inputHeight > 0)) {
    throw new DecodeError(`bad decode context: input ${context.inputWidth}x${context.inputHeight}, region ${r.width}x${r.height}`);
  }
}

export const labelOf = (labels: readonly string[], classId: number): string => labels[classId] ?? `class ${classId}`;

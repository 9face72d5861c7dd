import type { Tensor } from '../onnxruntime.ts';

/** A rectangle normalised to the frame: origin top-left, all values in [0, 1]. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One thing the model saw: a detected object (with its box) or a class (box null). */
export interface Prediction {
  classId: number;
  label: string;
  score: number;
  /** Normalised to the frame, origin top-left; null for a classification. */
  box: Box | null;
}

/** A prediction of a detector: it always has a box. */
export interface Detection extends Prediction {
  box: Box;
}

/** Where the frame lies in the model input, in input pixels (letterboxing fills part of it). */
export interface InputRegion {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface DecodeContext {
  labels: readonly string[];
  inputWidth: number;
  inputHeight: number;
  region: InputRegion;
  scoreThreshold: number;
  iouThreshold: number;
  maxDetections: number;
}

/**
 * Turns a model's outputs into objects with boxes normalised to the frame (null box for a
 * classification). One implementation per output form; all pass the same shared test suite.
 */
export interface OutputDecoder {
  /** The ONNX outputs it reads; checked against the session when the model loads. */
  readonly outputs: readonly string[];
  decode(outputs: Readonly<Record<string, Tensor>>, context: DecodeContext): Prediction[];
}

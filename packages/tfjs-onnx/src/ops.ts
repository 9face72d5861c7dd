import { attrBool, attrElemType, attrFloat, attrInt, attrInts, attrString, attrStrings, ConversionError } from './attrs.ts';
import { attr, ElemType, type Attr, type ElemTypeCode, type OnnxGraphBuilder } from './onnx-builder.ts';
import type { GraphNode, WeightTensor } from './tfjs-model.ts';

/** What an op mapping sees of the node it converts. */
export interface OpContext {
  readonly node: GraphNode;
  readonly b: OnnxGraphBuilder;
  /** Data inputs (control inputs left out). */
  readonly inputCount: number;
  /** ONNX name of data input i; a Const input becomes an initializer the first time it is asked for. */
  input(i: number): string;
  inputType(i: number): ElemTypeCode;
  /** The value of input i when it is a Const. */
  constant(i: number): WeightTensor | undefined;
  /** ONNX name for output k of the node, recording its element type. */
  output(k: number, elemType: ElemTypeCode): string;
}

export type OpMapping = (ctx: OpContext) => void;

const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

function requireConstant(ctx: OpContext, i: number, what: string): WeightTensor {
  const value = ctx.constant(i);
  if (value === undefined) throw new ConversionError(ctx.node, `${what} (input ${i}) must be a constant`);
  return value;
}

function requireInputs(ctx: OpContext, count: number): void {
  if (ctx.inputCount < count) throw new ConversionError(ctx.node, `expects ${count} inputs, has ${ctx.inputCount}`);
}

function constInts(ctx: OpContext, i: number, what: string): number[] {
  return Array.from(requireConstant(ctx, i, what).data, Number);
}

function requireNhwc(ctx: OpContext): void {
  const format = attrString(ctx.node, 'data_format', 'NHWC');
  if (format !== 'NHWC') throw new ConversionError(ctx.node, `data_format ${format} is not supported (only NHWC)`);
}

/** Spatial (H, W) values of an NHWC 4-vector attribute such as strides or ksize. */
function spatial(ctx: OpContext, key: string, fallback: number[]): [number, number] {
  const v = attrInts(ctx.node, key, fallback);
  if (v.length !== 4 || v[0] !== 1 || v[3] !== 1) throw new ConversionError(ctx.node, `${key} ${JSON.stringify(v)} is not supported`);
  return [v[1]!, v[2]!];
}

/** MaxPool and AvgPool: NHWC in and out, the ONNX pool between transposes. */
function pooling(onnxOp: 'MaxPool' | 'AveragePool'): OpMapping {
  return (ctx) => {
    requireInputs(ctx, 1);
    requireNhwc(ctx);
    const { b, node } = ctx;
    const y = b.op(onnxOp, [transposed(b, ctx.input(0), TO_NCHW, node.name)], node.name, {
      kernel_shape: attr.ints(spatial(ctx, 'ksize', [])),
      strides: attr.ints(spatial(ctx, 'strides', [1, 1, 1, 1])),
      ...paddingAttrs(ctx),
    });
    b.node('Transpose', [y], [ctx.output(0, ctx.inputType(0))], { perm: attr.ints(TO_NHWC) });
  };
}

function paddingAttrs(ctx: OpContext): Record<string, Attr> {
  const padding = attrString(ctx.node, 'padding');
  if (padding === 'SAME') return { auto_pad: attr.string('SAME_UPPER') };
  if (padding === 'VALID') return { auto_pad: attr.string('VALID') };
  if (padding === 'EXPLICIT') {
    const p = attrInts(ctx.node, 'explicit_paddings');
    if (p.length !== 8 || p.slice(0, 2).some(Boolean) || p.slice(6).some(Boolean))
      throw new ConversionError(ctx.node, `explicit_paddings ${JSON.stringify(p)} are not supported`);
    return { pads: attr.ints([p[2]!, p[4]!, p[3]!, p[5]!]) };
  }
  throw new ConversionError(ctx.node, `padding ${padding} is not supported`);
}

function transposed(b: OnnxGraphBuilder, x: string, perm: number[], base: string): string {
  return b.op('Transpose', [x], base, { perm: attr.ints(perm) });
}

/** TF filter [kh, kw, in, out] to ONNX [out, in, kh, kw]. */
function convFilter(w: WeightTensor): { dims: number[]; data: Float32Array } {
  const [kh, kw, ci, co] = w.shape as [number, number, number, number];
  const out = new Float32Array(w.data.length);
  for (let h = 0; h < kh; h++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) out[((o * ci + i) * kh + h) * kw + x] = w.data[((h * kw + x) * ci + i) * co + o]!;
  return { dims: [co, ci, kh, kw], data: out };
}

/** TF depthwise filter [kh, kw, in, multiplier] to an ONNX grouped filter [in * multiplier, 1, kh, kw]. */
function depthwiseFilter(w: WeightTensor): { dims: number[]; data: Float32Array } {
  const [kh, kw, ci, m] = w.shape as [number, number, number, number];
  const out = new Float32Array(w.data.length);
  for (let h = 0; h < kh; h++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++) for (let j = 0; j < m; j++) out[((i * m + j) * kh + h) * kw + x] = w.data[((h * kw + x) * ci + i) * m + j]!;
  return { dims: [ci * m, 1, kh, kw], data: out };
}

function activation(ctx: OpContext, kind: string, x: string): string {
  const { b, node } = ctx;
  switch (kind) {
    case 'Relu':
      return b.op('Relu', [x], node.name);
    case 'Relu6':
      return b.op('Clip', [x, b.sharedScalar(ElemType.float, 0), b.sharedScalar(ElemType.float, 6)], node.name);
    case 'LeakyRelu':
      return b.op('LeakyRelu', [x], node.name, { alpha: attr.float(attrFloat(node, 'leakyrelu_alpha', 0.2)) });
    case 'Sigmoid':
      return b.op('Sigmoid', [x], node.name);
    default:
      throw new ConversionError(node, `fused activation ${kind} is not supported`);
  }
}

/** Conv2D and DepthwiseConv2dNative, plain or fused with BiasAdd and an activation. */
function convolution(depthwise: boolean): OpMapping {
  return (ctx) => {
    const { b, node } = ctx;
    requireInputs(ctx, 2);
    requireNhwc(ctx);
    const w = requireConstant(ctx, 1, 'the filter');
    if (w.shape.length !== 4 || w.dtype !== 'float32') throw new ConversionError(node, `filter of shape ${JSON.stringify(w.shape)} is not a 4-D float filter`);
    const filter = depthwise ? depthwiseFilter(w) : convFilter(w);
    const fused = attrStrings(node, 'fused_ops');
    let rest = fused;
    const inputs = [transposed(b, ctx.input(0), TO_NCHW, node.name), b.floats(`${node.name}/filter`, filter.dims, filter.data)];
    if (rest[0] === 'BiasAdd') {
      requireInputs(ctx, 3);
      inputs.push(ctx.input(2));
      rest = rest.slice(1);
    }
    if (rest.length > 1) throw new ConversionError(node, `fused ops ${fused.join('+')} are not supported`);
    const conv: Record<string, Attr> = {
      strides: attr.ints(spatial(ctx, 'strides', [1, 1, 1, 1])),
      dilations: attr.ints(spatial(ctx, 'dilations', [1, 1, 1, 1])),
      kernel_shape: attr.ints(filter.dims.slice(2)),
      ...paddingAttrs(ctx),
    };
    if (depthwise) conv['group'] = attr.int(w.shape[2]!);
    let y = b.op('Conv', inputs, node.name, conv);
    if (rest[0] !== undefined) y = activation(ctx, rest[0], y);
    b.node('Transpose', [y], [ctx.output(0, ElemType.float)], { perm: attr.ints(TO_NHWC) });
  };
}

function unary(onnxOp: string): OpMapping {
  return (ctx) => {
    requireInputs(ctx, 1);
    ctx.b.node(onnxOp, [ctx.input(0)], [ctx.output(0, ctx.inputType(0))]);
  };
}

function binary(onnxOp: string, resultType?: ElemTypeCode): OpMapping {
  return (ctx) => {
    requireInputs(ctx, 2);
    ctx.b.node(onnxOp, [ctx.input(0), ctx.input(1)], [ctx.output(0, resultType ?? ctx.inputType(0))]);
  };
}

const isInteger = (t: ElemTypeCode): boolean => t === ElemType.int32 || t === ElemType.int64 || t === ElemType.uint8 || t === ElemType.int8;

/** floor(a / b); integers go through float64, which is exact for 32-bit operands. */
function floorDivide(ctx: OpContext, base: string): string {
  const { b } = ctx;
  const type = ctx.inputType(0);
  if (!isInteger(type)) return b.op('Floor', [b.op('Div', [ctx.input(0), ctx.input(1)], base)], base);
  const asDouble = (x: string): string => b.op('Cast', [x], base, { to: attr.int(ElemType.double) });
  const q = b.op('Floor', [b.op('Div', [asDouble(ctx.input(0)), asDouble(ctx.input(1))], base)], base);
  return b.op('Cast', [q], base, { to: attr.int(type) });
}

const ops: Record<string, OpMapping> = {
  Identity: unary('Identity'),
  Relu: unary('Relu'),
  Sigmoid: unary('Sigmoid'),
  Relu6: (ctx) => {
    requireInputs(ctx, 1);
    const { b } = ctx;
    b.node('Clip', [ctx.input(0), b.sharedScalar(ElemType.float, 0), b.sharedScalar(ElemType.float, 6)], [ctx.output(0, ElemType.float)]);
  },
  Add: binary('Add'),
  AddV2: binary('Add'),
  BiasAdd: (ctx) => {
    requireNhwc(ctx);
    binary('Add')(ctx);
  },
  Sub: binary('Sub'),
  Mul: binary('Mul'),
  Equal: binary('Equal', ElemType.bool),
  FloorDiv: (ctx) => {
    requireInputs(ctx, 2);
    ctx.b.node('Identity', [floorDivide(ctx, ctx.node.name)], [ctx.output(0, ctx.inputType(0))]);
  },
  FloorMod: (ctx) => {
    requireInputs(ctx, 2);
    const { b, node } = ctx;
    const type = ctx.inputType(0);
    const out = ctx.output(0, type);
    // ONNX Mod with fmod=0 takes the divisor's sign, as TF FloorMod does, but only for integers.
    if (isInteger(type)) b.node('Mod', [ctx.input(0), ctx.input(1)], [out], { fmod: attr.int(0) });
    else b.node('Sub', [ctx.input(0), b.op('Mul', [floorDivide(ctx, node.name), ctx.input(1)], node.name)], [out]);
  },
  Cast: (ctx) => {
    requireInputs(ctx, 1);
    const to = attrElemType(ctx.node, 'DstT');
    ctx.b.node('Cast', [ctx.input(0)], [ctx.output(0, to)], { to: attr.int(to) });
  },
  _FusedConv2D: convolution(false),
  Conv2D: convolution(false),
  FusedDepthwiseConv2dNative: convolution(true),
  DepthwiseConv2dNative: convolution(true),
  MaxPool: pooling('MaxPool'),
  // TF's SAME average excludes the padding from the count, as ONNX's count_include_pad=0 (the default) does.
  AvgPool: pooling('AveragePool'),
  Mean: (ctx) => {
    requireInputs(ctx, 2);
    const axes = constInts(ctx, 1, 'the reduction axes');
    ctx.b.node('ReduceMean', [ctx.input(0)], [ctx.output(0, ctx.inputType(0))], {
      axes: attr.ints(axes),
      keepdims: attr.int(attrBool(ctx.node, 'keep_dims', false) ? 1 : 0),
    });
  },
  ResizeBilinear: (ctx) => {
    requireInputs(ctx, 2);
    const { b, node } = ctx;
    const size = constInts(ctx, 1, 'the output size');
    if (size.length !== 2) throw new ConversionError(node, `size ${JSON.stringify(size)} is not [height, width]`);
    const alignCorners = attrBool(node, 'align_corners', false);
    const halfPixel = attrBool(node, 'half_pixel_centers', false);
    const mode = alignCorners ? 'align_corners' : halfPixel ? 'half_pixel' : 'asymmetric';
    const x = transposed(b, ctx.input(0), TO_NCHW, node.name);
    // Resize wants all four sizes; N and C come from the input (ORT folds this at load).
    const nc = b.op('Slice', [b.op('Shape', [x], node.name), b.int64s(`${node.name}/nc_start`, [0]), b.int64s(`${node.name}/nc_end`, [2])], node.name);
    const sizes = b.op('Concat', [nc, b.int64s(`${node.name}/hw`, size)], node.name, { axis: attr.int(0) });
    const y = b.op('Resize', [x, '', '', sizes], node.name, {
      mode: attr.string('linear'),
      coordinate_transformation_mode: attr.string(mode),
    });
    b.node('Transpose', [y], [ctx.output(0, ctx.inputType(0))], { perm: attr.ints(TO_NHWC) });
  },
  ConcatV2: (ctx) => {
    requireInputs(ctx, 2);
    const n = ctx.inputCount - 1;
    const [axis] = constInts(ctx, n, 'the axis');
    const inputs = Array.from({ length: n }, (_, i) => ctx.input(i));
    ctx.b.node('Concat', inputs, [ctx.output(0, ctx.inputType(0))], { axis: attr.int(axis!) });
  },
  Reshape: (ctx) => {
    requireInputs(ctx, 2);
    const { b, node } = ctx;
    const shape = ctx.constant(1);
    let shapeInput: string;
    let allowZero = 0;
    if (shape) {
      const dims = Array.from(shape.data, Number);
      shapeInput = b.int64s(`${node.name}/shape`, dims);
      allowZero = dims.includes(0) ? 1 : 0;
    } else {
      shapeInput = b.op('Cast', [ctx.input(1)], node.name, { to: attr.int(ElemType.int64) });
    }
    b.node('Reshape', [ctx.input(0), shapeInput], [ctx.output(0, ctx.inputType(0))], { allowzero: attr.int(allowZero) });
  },
  ExpandDims: (ctx) => {
    requireInputs(ctx, 2);
    const axes = constInts(ctx, 1, 'the dimension');
    ctx.b.node('Unsqueeze', [ctx.input(0), ctx.b.int64s(`${ctx.node.name}/axes`, axes)], [ctx.output(0, ctx.inputType(0))]);
  },
  Squeeze: (ctx) => {
    requireInputs(ctx, 1);
    const axes = attrInts(ctx.node, 'squeeze_dims');
    // TF squeezes every dimension of size 1 when none are named; ONNX does the same without the axes input.
    const inputs = axes.length > 0 ? [ctx.input(0), ctx.b.int64s(`${ctx.node.name}/axes`, axes)] : [ctx.input(0)];
    ctx.b.node('Squeeze', inputs, [ctx.output(0, ctx.inputType(0))]);
  },
  TopKV2: (ctx) => {
    requireInputs(ctx, 2);
    const { b, node } = ctx;
    const k = constInts(ctx, 1, 'k');
    const indices = b.unique(`${node.name}/indices_int64`);
    // Always sorted: TF's unsorted order is unspecified, so sorted is a valid answer too.
    b.node('TopK', [ctx.input(0), b.int64s(`${node.name}/k`, k, [1])], [ctx.output(0, ctx.inputType(0)), indices], {
      axis: attr.int(-1),
      largest: attr.int(1),
      sorted: attr.int(1),
    });
    b.node('Cast', [indices], [ctx.output(1, ElemType.int32)], { to: attr.int(ElemType.int32) });
  },
  GatherV2: (ctx) => {
    requireInputs(ctx, 3);
    const [axis] = constInts(ctx, 2, 'the axis');
    if (attrInt(ctx.node, 'batch_dims', 0) !== 0) throw new ConversionError(ctx.node, 'batch_dims other than 0 are not supported');
    ctx.b.node('Gather', [ctx.input(0), ctx.input(1)], [ctx.output(0, ctx.inputType(0))], { axis: attr.int(axis!) });
  },
  StridedSlice: (ctx) => {
    requireInputs(ctx, 4);
    const { b, node } = ctx;
    const begin = constInts(ctx, 1, 'begin');
    const end = constInts(ctx, 2, 'end');
    const strides = constInts(ctx, 3, 'strides');
    for (const mask of ['ellipsis_mask', 'new_axis_mask']) {
      if (attrInt(node, mask, 0) !== 0) throw new ConversionError(node, `${mask} is not supported`);
    }
    const beginMask = attrInt(node, 'begin_mask', 0);
    const endMask = attrInt(node, 'end_mask', 0);
    const shrinkMask = attrInt(node, 'shrink_axis_mask', 0);
    const starts: bigint[] = [];
    const ends: bigint[] = [];
    const axes: number[] = [];
    const steps: number[] = [];
    const squeeze: number[] = [];
    begin.forEach((start, i) => {
      const step = strides[i] ?? 1;
      if (step === 0) throw new ConversionError(node, 'a stride of 0 is not valid');
      const bit = 1 << i;
      let s = beginMask & bit ? (step > 0 ? 0n : INT64_MAX) : BigInt(start);
      let e = endMask & bit ? (step > 0 ? INT64_MAX : INT64_MIN) : BigInt(end[i] ?? 0);
      let st = step;
      if (shrinkMask & bit) {
        s = BigInt(start);
        e = start === -1 ? INT64_MAX : s + 1n;
        st = 1;
        squeeze.push(i);
      }
      if (s === 0n && e === INT64_MAX && st === 1) return;
      starts.push(s);
      ends.push(e);
      axes.push(i);
      steps.push(st);
    });
    const type = ctx.inputType(0);
    let y = ctx.input(0);
    if (axes.length > 0) {
      y = b.op(
        'Slice',
        [
          y,
          b.int64s(`${node.name}/starts`, starts),
          b.int64s(`${node.name}/ends`, ends),
          b.int64s(`${node.name}/axes`, axes),
          b.int64s(`${node.name}/steps`, steps),
        ],
        node.name,
      );
    }
    if (squeeze.length > 0) y = b.op('Squeeze', [y, b.int64s(`${node.name}/squeeze_axes`, squeeze)], node.name);
    b.node('Identity', [y], [ctx.output(0, type)]);
  },
};

/** The TF.js ops this converter maps, and how. */
export const OP_MAPPINGS: Readonly<Record<string, OpMapping>> = ops;

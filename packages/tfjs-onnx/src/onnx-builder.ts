import { endianness } from 'node:os';
import onnxProto from 'onnx-proto';

export const { onnx } = onnxProto;
export type OnnxNode = onnxProto.onnx.INodeProto;
export type OnnxTensor = onnxProto.onnx.ITensorProto;
export type OnnxValueInfo = onnxProto.onnx.IValueInfoProto;
type OnnxAttribute = onnxProto.onnx.IAttributeProto;

/** ONNX TensorProto.DataType codes used here. */
export const ElemType = { float: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, double: 11 } as const;
export type ElemTypeCode = (typeof ElemType)[keyof typeof ElemType];

export type Attr =
  { kind: 'int'; value: number } | { kind: 'ints'; value: readonly number[] } | { kind: 'float'; value: number } | { kind: 'string'; value: string };

export const attr = {
  int: (value: number): Attr => ({ kind: 'int', value }),
  ints: (value: readonly number[]): Attr => ({ kind: 'ints', value }),
  float: (value: number): Attr => ({ kind: 'float', value }),
  string: (value: string): Attr => ({ kind: 'string', value }),
};

function toAttribute(name: string, a: Attr): OnnxAttribute {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int':
      return { name, type: T.INT, i: a.value };
    case 'ints':
      return { name, type: T.INTS, ints: [...a.value] };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'string':
      return { name, type: T.STRING, s: Buffer.from(a.value, 'utf8') };
  }
}

function rawBytes(data: Float32Array | Int32Array | BigInt64Array | Float64Array | Uint8Array): Uint8Array {
  if (endianness() !== 'LE') throw new Error('ONNX raw tensor data is little-endian; this host is not');
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Accumulates nodes and initializers with names that never collide. */
export class OnnxGraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  readonly #names = new Set<string>();
  readonly #shared = new Map<string, string>();

  /** Marks names as taken (the source graph's tensor names). */
  reserve(names: Iterable<string>): void {
    for (const n of names) this.#names.add(n);
  }

  /** A fresh name starting with `base`. */
  unique(base: string): string {
    let name = base;
    for (let i = 1; this.#names.has(name); i++) name = `${base}_${i}`;
    this.#names.add(name);
    return name;
  }

  node(opType: string, inputs: readonly string[], outputs: readonly string[], attrs: Record<string, Attr> = {}, name?: string): void {
    this.nodes.push({
      opType,
      name: name ?? this.unique(`${outputs[0] ?? opType}/${opType}`),
      input: [...inputs],
      output: [...outputs],
      attribute: Object.entries(attrs).map(([k, v]) => toAttribute(k, v)),
    });
  }

  /** Adds one node with a single fresh output and returns the output's name. */
  op(opType: string, inputs: readonly string[], base: string, attrs: Record<string, Attr> = {}): string {
    const out = this.unique(`${base}/${opType}`);
    this.node(opType, inputs, [out], attrs);
    return out;
  }

  initializer(
    name: string,
    elemType: ElemTypeCode,
    dims: readonly number[],
    data: Float32Array | Int32Array | BigInt64Array | Float64Array | Uint8Array,
  ): string {
    this.initializers.push({ name, dataType: elemType, dims: [...dims], rawData: rawBytes(data) });
    return name;
  }

  floats(base: string, dims: readonly number[], data: Float32Array): string {
    return this.initializer(this.unique(base), ElemType.float, dims, data);
  }

  int64s(base: string, values: readonly (number | bigint)[], dims: readonly number[] = [values.length]): string {
    return this.initializer(
      this.unique(base),
      ElemType.int64,
      dims,
      BigInt64Array.from(values, (v) => BigInt(v)),
    );
  }

  /** A small constant reused wherever the same value is needed (Clip bounds, shape pieces). */
  sharedScalar(elemType: typeof ElemType.float | typeof ElemType.int64, value: number): string {
    const key = `${elemType}:${value}`;
    const known = this.#shared.get(key);
    if (known) return known;
    const name = elemType === ElemType.float ? this.floats(`const_f32_${value}`, [], Float32Array.of(value)) : this.int64s(`const_i64_${value}`, [value], []);
    this.#shared.set(key, name);
    return name;
  }
}

export interface ValueInfo {
  name: string;
  elemType: ElemTypeCode;
  /** Known sizes, or a symbolic name; undefined when the shape is unknown. */
  shape?: (number | string)[];
}

export function valueInfo(v: ValueInfo): OnnxValueInfo {
  const tensorType: onnxProto.onnx.TypeProto.ITensor = { elemType: v.elemType };
  if (v.shape) tensorType.shape = { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
  return { name: v.name, type: { tensorType } };
}

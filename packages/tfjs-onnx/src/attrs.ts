import { ElemType, type ElemTypeCode } from './onnx-builder.ts';
import type { GraphNode } from './tfjs-model.ts';

/** The graph cannot be expressed in ONNX by this converter; names the node and its op. */
export class ConversionError extends Error {
  readonly node: string;
  readonly op: string;
  constructor(node: GraphNode, reason: string) {
    super(`node "${node.name}" (op ${node.op}): ${reason}`);
    this.name = 'ConversionError';
    this.node = node.name;
    this.op = node.op;
  }
}

export class UnsupportedOpError extends ConversionError {
  constructor(node: GraphNode) {
    super(node, `unsupported op "${node.op}"`);
    this.name = 'UnsupportedOpError';
  }
}

const decode = (b64: string): string => Buffer.from(b64, 'base64').toString('utf8');

export function attrString(node: GraphNode, key: string, fallback?: string): string {
  const s = node.attr?.[key]?.s;
  if (s !== undefined) return decode(s);
  if (fallback !== undefined) return fallback;
  throw new ConversionError(node, `attribute ${key} is missing`);
}

export function attrStrings(node: GraphNode, key: string): string[] {
  return (node.attr?.[key]?.list?.s ?? []).map(decode);
}

export function attrInt(node: GraphNode, key: string, fallback: number): number {
  const i = node.attr?.[key]?.i;
  return i === undefined ? fallback : Number(i);
}

export function attrInts(node: GraphNode, key: string, fallback?: number[]): number[] {
  const list = node.attr?.[key]?.list?.i;
  if (list !== undefined) return list.map(Number);
  if (fallback !== undefined) return fallback;
  throw new ConversionError(node, `attribute ${key} is missing`);
}

export function attrBool(node: GraphNode, key: string, fallback: boolean): boolean {
  return node.attr?.[key]?.b ?? fallback;
}

export function attrFloat(node: GraphNode, key: string, fallback: number): number {
  return node.attr?.[key]?.f ?? fallback;
}

const TF_TYPES: Record<string, ElemTypeCode> = {
  DT_FLOAT: ElemType.float,
  DT_DOUBLE: ElemType.double,
  DT_INT32: ElemType.int32,
  DT_INT64: ElemType.int64,
  DT_BOOL: ElemType.bool,
  DT_UINT8: ElemType.uint8,
  DT_INT8: ElemType.int8,
};

export function elemTypeOf(node: GraphNode, tfType: string): ElemTypeCode {
  const t = TF_TYPES[tfType];
  if (t === undefined) throw new ConversionError(node, `data type ${tfType} is not supported`);
  return t;
}

export function attrElemType(node: GraphNode, key: string): ElemTypeCode {
  const t = node.attr?.[key]?.type;
  if (t === undefined) throw new ConversionError(node, `attribute ${key} is missing`);
  return elemTypeOf(node, t);
}

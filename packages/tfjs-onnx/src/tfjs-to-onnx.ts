import { createHash } from 'node:crypto';
import { attrElemType, ConversionError, elemTypeOf, UnsupportedOpError } from './attrs.ts';
import { ElemType, onnx, OnnxGraphBuilder, valueInfo, type ElemTypeCode, type ValueInfo } from './onnx-builder.ts';
import { OP_MAPPINGS, type OpContext } from './ops.ts';
import type { GraphNode, TensorInfo, TfjsGraphModel, WeightTensor } from './tfjs-model.ts';

export const CONVERTER_NAME = '@sightline/tfjs-onnx';
/**
 * Bump when the ONNX this produces changes: cached conversions carry it and are rebuilt when it
 * differs. 1.0.1: the docString names this package (it named @sightline/inference, where it lived).
 */
export const CONVERTER_VERSION = '1.0.1';
export const OPSET = 17;
const IR_VERSION = 8;

export interface ConvertOptions {
  /** Tensors to expose as graph outputs (default: the signature's outputs). */
  outputs?: readonly string[];
  /** Extra model metadata (metadata_props), e.g. source_sha256. */
  metadata?: Record<string, string>;
  graphName?: string;
}

export interface ConversionResult {
  onnx: Uint8Array;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** How many nodes of each TF.js op were converted (only those the outputs depend on). */
  ops: Record<string, number>;
  sha256: string;
}

/** "name", "name:0" -> { node: name, index: 0 }; control inputs ("^name") give null. */
function parseRef(ref: string): { node: string; index: number } | null {
  if (ref.startsWith('^')) return null;
  const m = /^(.*):(\d+)$/.exec(ref);
  return m ? { node: m[1]!, index: Number(m[2]) } : { node: ref, index: 0 };
}

const tensorName = (node: string, index: number): string => (index === 0 ? node : `${node}:${index}`);

/** Nodes the outputs depend on, inputs before the nodes that use them. */
function orderedDependencies(byName: Map<string, GraphNode>, outputs: readonly string[]): GraphNode[] {
  const order: GraphNode[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  for (const out of outputs) {
    const stack: Array<{ node: GraphNode; next: number }> = [];
    const push = (name: string, from?: GraphNode): void => {
      const node = byName.get(name);
      if (!node) throw new Error(from ? `node "${from.name}" uses "${name}", which is not in the graph` : `output "${name}" is not in the graph`);
      const s = state.get(name);
      if (s === 'done') return;
      if (s === 'visiting') throw new ConversionError(node, 'the graph has a cycle through this node');
      state.set(name, 'visiting');
      stack.push({ node, next: 0 });
    };
    push(out);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const inputs = top.node.input ?? [];
      if (top.next < inputs.length) {
        const ref = parseRef(inputs[top.next++]!);
        if (ref) push(ref.node, top.node);
      } else {
        stack.pop();
        state.set(top.node.name, 'done');
        order.push(top.node);
      }
    }
  }
  return order;
}

function weightElemType(w: WeightTensor): ElemTypeCode {
  return w.dtype === 'int32' ? ElemType.int32 : ElemType.float;
}

function signatureShape(info: TensorInfo | undefined): (number | string)[] | undefined {
  const dims = info?.tensorShape?.dim;
  if (!dims || info?.tensorShape?.unknownRank) return undefined;
  return dims.map((d, i) => {
    const n = Number(d.size ?? -1);
    return n >= 0 ? n : `d${i}`;
  });
}

function placeholderShape(node: GraphNode): (number | string)[] | undefined {
  const shape = node.attr?.['shape']?.['shape'] as { dim?: Array<{ size?: string | number }>; unknownRank?: boolean } | undefined;
  if (!shape?.dim || shape.unknownRank) return undefined;
  return shape.dim.map((d, i) => {
    const n = Number(d.size ?? -1);
    return n >= 0 ? n : `${node.name}_d${i}`;
  });
}

const stripIndex = (name: string): string => name.replace(/:0$/, '');

/**
 * Converts a TensorFlow.js graph model to an ONNX model (opset 17). Only the nodes the requested
 * outputs depend on are converted; an op without a mapping fails with UnsupportedOpError naming it.
 * Layout stays NHWC as in TF; convolutions, pooling and resizing are wrapped in transposes, which
 * onnxruntime's optimizer cancels between neighbouring nodes.
 */
export function convertTfjsToOnnx(model: TfjsGraphModel, options: ConvertOptions = {}): ConversionResult {
  const { json, weights } = model;
  const nodes = json.modelTopology.node;
  const byName = new Map<string, GraphNode>();
  for (const node of nodes) {
    if (byName.has(node.name)) throw new ConversionError(node, 'two nodes have this name');
    byName.set(node.name, node);
  }
  const signatureOutputs = Object.values(json.signature?.outputs ?? {});
  const outputNames = (options.outputs ?? signatureOutputs.map((o) => o.name)).map(stripIndex);
  if (outputNames.length === 0) throw new Error('no outputs: the model has no signature outputs and none were asked for');

  const b = new OnnxGraphBuilder();
  b.reserve(byName.keys());
  const types = new Map<string, ElemTypeCode>();
  const emittedConsts = new Set<string>();
  const inputs: ValueInfo[] = [];
  const opCounts: Record<string, number> = {};

  const constValue = (name: string): WeightTensor | undefined => (byName.get(name)?.op === 'Const' ? weights.get(name) : undefined);

  for (const node of orderedDependencies(byName, outputNames)) {
    opCounts[node.op] = (opCounts[node.op] ?? 0) + 1;
    if (node.op === 'Const') {
      const w = weights.get(node.name);
      if (!w) throw new ConversionError(node, 'constant has no weights in the manifest');
      types.set(node.name, weightElemType(w));
      continue;
    }
    if (node.op === 'Placeholder') {
      const elemType = attrElemType(node, 'dtype');
      const signature = json.signature?.inputs?.[node.name];
      const shape = placeholderShape(node) ?? signatureShape(signature);
      inputs.push(shape ? { name: node.name, elemType, shape } : { name: node.name, elemType });
      types.set(node.name, elemType);
      continue;
    }
    const mapping = OP_MAPPINGS[node.op];
    if (!mapping) throw new UnsupportedOpError(node);
    const refs = (node.input ?? []).map(parseRef).filter((r) => r !== null);
    const refAt = (i: number) => {
      const r = refs[i];
      if (!r) throw new ConversionError(node, `has no input ${i}`);
      return r;
    };
    const ctx: OpContext = {
      node,
      b,
      inputCount: refs.length,
      input(i) {
        const r = refAt(i);
        const w = r.index === 0 ? constValue(r.node) : undefined;
        if (w && !emittedConsts.has(r.node)) {
          emittedConsts.add(r.node);
          b.initializer(r.node, weightElemType(w), w.shape, w.data);
        }
        return tensorName(r.node, r.index);
      },
      inputType(i) {
        const r = refAt(i);
        const t = types.get(tensorName(r.node, r.index));
        if (t === undefined) throw new ConversionError(node, `the type of input ${i} is unknown`);
        return t;
      },
      constant(i) {
        const r = refAt(i);
        return r.index === 0 ? constValue(r.node) : undefined;
      },
      output(k, elemType) {
        const name = tensorName(node.name, k);
        types.set(name, elemType);
        return name;
      },
    };
    mapping(ctx);
  }

  const outputs: ValueInfo[] = outputNames.map((name) => {
    const elemType = types.get(name);
    if (elemType === undefined) throw new Error(`output "${name}" was not produced`);
    const signature = signatureOutputs.find((o) => stripIndex(o.name) === name);
    if (signature?.dtype !== undefined && elemTypeOf(byName.get(name)!, signature.dtype) !== elemType) {
      throw new ConversionError(byName.get(name)!, `signature says ${signature.dtype} but the graph computes ONNX type ${elemType}`);
    }
    if (byName.get(name)?.op === 'Const') throw new ConversionError(byName.get(name)!, 'a constant as a graph output is not supported');
    const shape = signatureShape(signature);
    return shape ? { name, elemType, shape } : { name, elemType };
  });

  const modelProto = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'sightline',
    producerVersion: CONVERTER_VERSION,
    docString: `Converted from a TensorFlow.js graph model${json.generatedBy ? ` (${json.generatedBy})` : ''} by ${CONVERTER_NAME}`,
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: options.graphName ?? 'tfjs_graph',
      node: b.nodes,
      initializer: b.initializers,
      input: inputs.map(valueInfo),
      output: outputs.map(valueInfo),
    },
  });
  const bytes = onnx.ModelProto.encode(modelProto).finish();
  return { onnx: bytes, inputs, outputs, ops: opCounts, sha256: createHash('sha256').update(bytes).digest('hex') };
}

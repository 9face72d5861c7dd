import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { dequantizeFloat16 } from './float16.ts';

/** The model files are not a TensorFlow.js graph model we can read: bad JSON, wrong shape, missing or truncated weights. */
export class TfjsModelError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TfjsModelError';
  }
}

const attrValueSchema = z.looseObject({
  s: z.string().optional(),
  i: z.union([z.string(), z.number()]).optional(),
  f: z.number().optional(),
  b: z.boolean().optional(),
  type: z.string().optional(),
  list: z
    .looseObject({
      s: z.array(z.string()).optional(),
      i: z.array(z.union([z.string(), z.number()])).optional(),
      f: z.array(z.number()).optional(),
    })
    .optional(),
});

const nodeSchema = z.looseObject({
  name: z.string().min(1),
  op: z.string().min(1),
  input: z.array(z.string()).optional(),
  attr: z.record(z.string(), attrValueSchema).optional(),
});

const dimSchema = z.looseObject({ size: z.union([z.string(), z.number()]).optional() });
const tensorInfoSchema = z.looseObject({
  name: z.string(),
  dtype: z.string().optional(),
  tensorShape: z.looseObject({ dim: z.array(dimSchema).optional(), unknownRank: z.boolean().optional() }).optional(),
});

const quantizationSchema = z.looseObject({
  dtype: z.enum(['float16', 'uint8', 'uint16']),
  scale: z.number().optional(),
  min: z.number().optional(),
  original_dtype: z.string().optional(),
});

const weightEntrySchema = z.looseObject({
  name: z.string().min(1),
  shape: z.array(z.number().int().nonnegative()),
  dtype: z.enum(['float32', 'int32']),
  quantization: quantizationSchema.optional(),
});

const weightGroupSchema = z.looseObject({
  paths: z.array(z.string().min(1)).min(1),
  weights: z.array(weightEntrySchema),
});

export const modelJsonSchema = z.looseObject({
  format: z.literal('graph-model'),
  generatedBy: z.string().optional(),
  convertedBy: z.string().nullable().optional(),
  signature: z
    .looseObject({
      inputs: z.record(z.string(), tensorInfoSchema).optional(),
      outputs: z.record(z.string(), tensorInfoSchema).optional(),
    })
    .optional(),
  modelTopology: z.looseObject({ node: z.array(nodeSchema).min(1) }),
  weightsManifest: z.array(weightGroupSchema),
});

export type ModelJson = z.infer<typeof modelJsonSchema>;
export type GraphNode = z.infer<typeof nodeSchema>;
export type AttrValue = z.infer<typeof attrValueSchema>;
export type TensorInfo = z.infer<typeof tensorInfoSchema>;
type WeightEntry = z.infer<typeof weightEntrySchema>;

export interface WeightTensor {
  name: string;
  dtype: 'float32' | 'int32';
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface TfjsGraphModel {
  json: ModelJson;
  weights: Map<string, WeightTensor>;
}

/** The model.json and the weight shards as bytes, in manifest order. */
export interface TfjsModelFiles {
  modelJson: Uint8Array | string;
  /** One array per weightsManifest group, one buffer per path of the group. */
  shards: Uint8Array[][];
}

const elementCount = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

function storedBytesPerElement(entry: WeightEntry): number {
  switch (entry.quantization?.dtype) {
    case 'float16':
    case 'uint16':
      return 2;
    case 'uint8':
      return 1;
    default:
      return 4;
  }
}

export function parseModelJson(text: Uint8Array | string): ModelJson {
  const source = typeof text === 'string' ? text : Buffer.from(text).toString('utf8');
  if (source.trim() === '') throw new TfjsModelError('model.json is empty');
  let raw: unknown;
  try {
    raw = JSON.parse(source);
  } catch (err) {
    throw new TfjsModelError(`model.json is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = modelJsonSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new TfjsModelError(`model.json is not a TensorFlow.js graph model: ${problems.join('; ')}`);
  }
  return parsed.data;
}

function decodeWeight(entry: WeightEntry, bytes: Uint8Array): WeightTensor {
  const count = elementCount(entry.shape);
  const q = entry.quantization;
  let data: Float32Array | Int32Array;
  if (q === undefined) {
    // A copy at offset 0 of its own buffer (Buffer#slice would share, and could be unaligned).
    const copy = new Uint8Array(bytes.subarray(0, count * 4));
    data = entry.dtype === 'int32' ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer);
  } else if (q.dtype === 'float16') {
    if (entry.dtype !== 'float32') throw new TfjsModelError(`weight ${entry.name}: float16 quantization of ${entry.dtype} is not supported`);
    data = dequantizeFloat16(bytes, count);
  } else {
    if (q.scale === undefined || q.min === undefined) throw new TfjsModelError(`weight ${entry.name}: ${q.dtype} quantization needs scale and min`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const read = q.dtype === 'uint8' ? (i: number) => view.getUint8(i) : (i: number) => view.getUint16(i * 2, true);
    data = entry.dtype === 'int32' ? new Int32Array(count) : new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const value = read(i) * q.scale + q.min;
      data[i] = entry.dtype === 'int32' ? Math.round(value) : value;
    }
  }
  return { name: entry.name, dtype: entry.dtype, shape: entry.shape, data };
}

/** Checks the weights against the manifest and decodes them; float16 and uint8/uint16 weights come out as float32. */
export function parseTfjsGraphModel(files: TfjsModelFiles): TfjsGraphModel {
  const json = parseModelJson(files.modelJson);
  const weights = new Map<string, WeightTensor>();
  json.weightsManifest.forEach((group, g) => {
    const shards = files.shards[g];
    if (shards === undefined || shards.length !== group.paths.length) {
      throw new TfjsModelError(`weights group ${g} lists ${group.paths.length} file(s) but ${shards?.length ?? 0} were given`);
    }
    const expected = group.weights.reduce((sum, w) => sum + elementCount(w.shape) * storedBytesPerElement(w), 0);
    const actual = shards.reduce((sum, s) => sum + s.byteLength, 0);
    if (actual !== expected) {
      const what = actual < expected ? 'truncated' : 'longer than described';
      throw new TfjsModelError(`weights ${group.paths.join(', ')} are ${actual} bytes but the manifest describes ${expected}: ${what}`);
    }
    const bytes = shards.length === 1 ? shards[0]! : Buffer.concat(shards);
    let offset = 0;
    for (const entry of group.weights) {
      const size = elementCount(entry.shape) * storedBytesPerElement(entry);
      if (weights.has(entry.name)) throw new TfjsModelError(`weight ${entry.name} appears twice in the manifest`);
      weights.set(entry.name, decodeWeight(entry, bytes.subarray(offset, offset + size)));
      offset += size;
    }
  });
  return { json, weights };
}

/** Reads model.json and the shards it names (which must sit in its folder). */
export async function readTfjsModelFiles(modelJsonPath: string): Promise<TfjsModelFiles> {
  const dir = path.dirname(path.resolve(modelJsonPath));
  const modelJson = await readFile(modelJsonPath).catch((err: NodeJS.ErrnoException) => {
    throw new TfjsModelError(`cannot read ${modelJsonPath}: ${err.code ?? err.message}`, { cause: err });
  });
  const json = parseModelJson(modelJson);
  const shards = await Promise.all(
    json.weightsManifest.map((group) =>
      Promise.all(
        group.paths.map(async (p) => {
          const file = path.resolve(dir, p);
          if (path.relative(dir, file).startsWith('..') || path.isAbsolute(p)) throw new TfjsModelError(`weights path ${p} leaves the model folder`);
          return new Uint8Array(await readFile(file));
        }),
      ),
    ),
  ).catch((err: unknown) => {
    if (err instanceof TfjsModelError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new TfjsModelError(`cannot read weights of ${modelJsonPath}: ${e.code ?? ''} ${e.message}`.trim(), { cause: err });
  });
  return { modelJson, shards };
}

export async function loadTfjsGraphModel(modelJsonPath: string): Promise<TfjsGraphModel> {
  return parseTfjsGraphModel(await readTfjsModelFiles(modelJsonPath));
}

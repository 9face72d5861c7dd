import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import * as ort from '../onnxruntime.ts';
import { z } from 'zod';
import { modelIdSchema } from '@sightline/schemas';
import { ExportFolderError, loadCustomVisionExport, MANIFEST_FILE } from '../custom-vision/export-folder.ts';
import { checkOutputsReadable, createDecoder } from '../decoders/index.ts';
import type { OutputDecoder, Prediction } from '../decoders/types.ts';
import { modelDescriptorSchema, type ModelDescriptor } from './descriptor.ts';
import { COCO_LABELS } from './coco-labels.ts';
import { DEFAULT_MODEL, ensureDefaultModel } from './default-model.ts';
import type { PreparedInput } from '../pipeline/image.ts';
import { WorkerSession, type ModelSession, type SessionOptions } from './session-worker.ts';

/**
 * A model ready to serve: its descriptor, labels, onnxruntime session and decoder, checked against
 * each other and warmed up with one run. Loading never touches the model that is serving.
 */

export const BUILTIN_MODEL_ID = 'centernet-coco';
const MAX_DESCRIPTOR_BYTES = 1024 * 1024;
const MAX_LABELS_BYTES = 8 * 1024 * 1024;

export type ModelFault =
  'not-found' | 'invalid-descriptor' | 'not-onnx' | 'input-mismatch' | 'output-mismatch' | 'unsupported' | 'warmup-failed' | 'superseded';

export class ModelError extends Error {
  readonly fault: ModelFault;
  readonly model: string;
  constructor(model: string, fault: ModelFault, message: string, options?: { cause?: unknown }) {
    super(`model ${model}: ${message}`, options);
    this.name = 'ModelError';
    this.fault = fault;
    this.model = model;
  }
  /** 404 for an unknown model, 409 for a request a later one replaced, 422 for one that exists but cannot be used. */
  get status(): number {
    if (this.fault === 'superseded') return 409;
    return this.fault === 'not-found' ? 404 : 422;
  }
}

/** The built-in default: the converted CenterNet, fed as the TF.js original was. */
export function builtinDescriptor(version: string): ModelDescriptor {
  return modelDescriptorSchema.parse({
    id: BUILTIN_MODEL_ID,
    version,
    file: 'model.onnx',
    task: 'detection',
    input: { name: DEFAULT_MODEL.input.name, width: 512, height: 512, layout: 'NHWC', channels: 'RGB', scale: 1, resize: 'stretch' },
    labels: [...COCO_LABELS],
    decoder: { type: 'centernet', heatmaps: DEFAULT_MODEL.outputs.heatmaps, sizes: DEFAULT_MODEL.outputs.sizes, detections: DEFAULT_MODEL.outputs.detections },
    thresholds: { score: 0.25, iou: 0.5, maxDetections: 50 },
  });
}

export interface ModelInfo {
  id: string;
  version: string;
  task: ModelDescriptor['task'];
  source: 'builtin' | 'folder' | 'custom-vision';
}

export interface RunResult {
  predictions: Prediction[];
  inferenceMs: number;
  postprocessMs: number;
}

export interface LoadedModel {
  readonly info: ModelInfo;
  readonly descriptor: ModelDescriptor;
  readonly labels: readonly string[];
  readonly threads: number;
  /**
   * `afterRun`, awaited between the model run and the decoding of its outputs: the frame path
   * uses it to start decoding the next JPEG (libvips) while this run's outputs are decoded here.
   */
  run(input: PreparedInput, scoreThreshold?: number, afterRun?: () => Promise<void> | void): Promise<RunResult>;
  /** A tensor of the right shape, for warm-up and benchmarks. */
  blankInput(): PreparedInput;
  /** On a worker thread: see WorkerSession. */
  readonly session: ModelSession;
  release(): Promise<void>;
}

/**
 * How every session of the service is opened (the benchmark's bare ceiling too). `spinning`:
 * whether idle intra-op threads spin for a while before they sleep. Off for the service: the next
 * frame is decoded and the last one published while a run is in flight, and spinning threads take
 * the cores that work needs. The benchmark measures the bare model both ways.
 */
export function sessionOptions(threads: number, spinning = false): SessionOptions {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } },
  };
}

export interface LoadOptions {
  threads: number;
  /** Folder of model folders (each with a model.json). */
  modelsDir: string;
  /** Where the built-in model is converted and cached (`<data dir>/inference`). */
  dataDir: string;
  log?: (msg: string) => void;
}

/**
 * Models that can be asked for: the built-in one and every folder of modelsDir holding a
 * model.json, or a Custom Vision export (cvexport.manifest) loaded with no descriptor written.
 */
export async function listModels(modelsDir: string): Promise<string[]> {
  const ids = [BUILTIN_MODEL_ID];
  let entries: string[] = [];
  try {
    entries = (await readdir(modelsDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return ids;
  }
  for (const name of entries.sort()) {
    if (!modelIdSchema.safeParse(name).success || name === BUILTIN_MODEL_ID) continue;
    if ((await isFile(path.join(modelsDir, name, 'model.json'))) || (await isFile(path.join(modelsDir, name, MANIFEST_FILE)))) ids.push(name);
  }
  return ids;
}

async function isFile(file: string): Promise<boolean> {
  return stat(file).then(
    (info) => info.isFile(),
    () => false,
  );
}

async function readLimited(file: string, limit: number, what: string, model: string): Promise<Buffer> {
  let info;
  try {
    info = await stat(file);
  } catch {
    throw new ModelError(model, what === 'descriptor' ? 'not-found' : 'invalid-descriptor', `${what} ${file} does not exist`);
  }
  if (!info.isFile()) throw new ModelError(model, 'invalid-descriptor', `${what} ${file} is not a file`);
  if (info.size > limit) throw new ModelError(model, 'invalid-descriptor', `${what} ${file} is larger than ${limit} bytes`);
  return readFile(file);
}

export async function readDescriptor(folder: string, model: string): Promise<ModelDescriptor> {
  const bytes = await readLimited(path.join(folder, 'model.json'), MAX_DESCRIPTOR_BYTES, 'descriptor', model);
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new ModelError(model, 'invalid-descriptor', `model.json is not JSON: ${(err as Error).message}`);
  }
  const parsed = modelDescriptorSchema.safeParse(raw);
  if (!parsed.success) throw new ModelError(model, 'invalid-descriptor', `model.json is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

async function readLabels(folder: string, descriptor: ModelDescriptor, model: string): Promise<string[]> {
  if (Array.isArray(descriptor.labels)) return descriptor.labels;
  const file = path.resolve(folder, descriptor.labels);
  if (path.dirname(file) !== path.resolve(folder))
    throw new ModelError(model, 'invalid-descriptor', `labels file "${descriptor.labels}" must be inside the model folder`);
  const text = (await readLimited(file, MAX_LABELS_BYTES, 'labels file', model)).toString('utf8');
  const labels = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  if (labels.length === 0) throw new ModelError(model, 'invalid-descriptor', `labels file ${descriptor.labels} is empty`);
  return labels;
}

/** Loads, checks and warms up a model; the caller owns the result (release it when done). */
export async function loadModel(id: string, options: LoadOptions): Promise<LoadedModel> {
  let descriptor: ModelDescriptor;
  let onnxPath: string;
  let labels: string[];
  let source: ModelInfo['source'];
  if (id === BUILTIN_MODEL_ID) {
    const prepared = await ensureDefaultModel(options.dataDir, { log: options.log });
    descriptor = builtinDescriptor(prepared.provenance.onnx.sha256.slice(0, 12));
    onnxPath = prepared.onnxPath;
    labels = descriptor.labels as string[];
    source = 'builtin';
  } else {
    if (!modelIdSchema.safeParse(id).success) throw new ModelError(id, 'not-found', 'is not a valid model id');
    const folder = path.join(options.modelsDir, id);
    if (!(await isFile(path.join(folder, 'model.json'))) && (await isFile(path.join(folder, MANIFEST_FILE)))) {
      try {
        ({ descriptor, labels } = await loadCustomVisionExport(folder, { id }));
      } catch (err) {
        if (err instanceof ExportFolderError) throw new ModelError(id, 'invalid-descriptor', err.message, { cause: err });
        throw err;
      }
      source = 'custom-vision';
    } else {
      descriptor = await readDescriptor(folder, id);
      labels = await readLabels(folder, descriptor, id);
      source = 'folder';
    }
    onnxPath = path.resolve(folder, descriptor.file);
    if (path.dirname(onnxPath) !== path.resolve(folder))
      throw new ModelError(id, 'invalid-descriptor', `file "${descriptor.file}" must be inside the model folder`);
  }

  const decoder: OutputDecoder = createDecoder(descriptor.decoder);

  let session: ModelSession;
  try {
    session = await WorkerSession.create(onnxPath, sessionOptions(options.threads));
  } catch (err) {
    const message = (err as Error).message;
    if (/ENOENT|No such file|does not exist/i.test(message)) throw new ModelError(id, 'invalid-descriptor', `ONNX file ${descriptor.file} does not exist`);
    throw new ModelError(id, 'not-onnx', `${descriptor.file} is not a usable ONNX model: ${message.split('\n')[0]}`, { cause: err });
  }

  const fail = async (fault: ModelFault, message: string, cause?: unknown): Promise<never> => {
    await session.release().catch(() => {});
    throw new ModelError(id, fault, message, { cause });
  };
  if (!session.inputNames.includes(descriptor.input.name)) {
    await fail(
      'input-mismatch',
      `the descriptor's input "${descriptor.input.name}" is not an input of the ONNX model (it has: ${session.inputNames.map((n) => `"${n}"`).join(', ')})`,
    );
  }
  const missing = decoder.outputs.filter((o) => !session.outputNames.includes(o));
  if (missing.length > 0) {
    await fail(
      'output-mismatch',
      `the decoder reads ${missing.map((n) => `"${n}"`).join(', ')}, which the ONNX model does not output (it has: ${session.outputNames.map((n) => `"${n}"`).join(', ')})`,
    );
  }
  try {
    checkOutputsReadable(decoder.outputs, session.outputMetadata);
  } catch (err) {
    await fail('unsupported', (err as Error).message, err);
  }

  const { width: W, height: H, layout } = descriptor.input;
  const dims = layout === 'NCHW' ? [1, 3, H, W] : [1, H, W, 3];
  const blank = (): PreparedInput => ({
    tensor: new Float32Array(W * H * 3),
    dims,
    width: W,
    height: H,
    region: { x: 0, y: 0, width: W, height: H },
    decodeMs: 0,
    preprocessMs: 0,
  });
  const fetches = [...decoder.outputs];

  const model: LoadedModel = {
    info: { id, version: descriptor.version, task: descriptor.task, source },
    descriptor,
    labels,
    threads: options.threads,
    session,
    blankInput: blank,
    async run(input, scoreThreshold, afterRun) {
      const t0 = performance.now();
      const feeds = { [descriptor.input.name]: new ort.Tensor('float32', input.tensor, input.dims) };
      const outputs = await session.run(feeds, fetches);
      const t1 = performance.now();
      if (afterRun) await afterRun();
      const t2 = performance.now();
      const predictions = decoder.decode(outputs, {
        labels,
        inputWidth: W,
        inputHeight: H,
        region: input.region,
        scoreThreshold: scoreThreshold ?? descriptor.thresholds.score,
        iouThreshold: descriptor.thresholds.iou,
        maxDetections: descriptor.thresholds.maxDetections,
      });
      for (const tensor of Object.values(outputs)) tensor.dispose?.();
      return { predictions, inferenceMs: t1 - t0, postprocessMs: performance.now() - t2 };
    },
    release: () => session.release(),
  };

  try {
    await model.run(blank());
  } catch (err) {
    await fail('warmup-failed', `the warm-up run failed: ${(err as Error).message.split('\n')[0]}`, err);
  }
  return model;
}

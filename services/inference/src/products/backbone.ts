import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';
import { ensureBuiltinModel, type EnsureModelOptions, type BuiltinModelSpec } from '../model/builtin.ts';
import * as ort from '../onnxruntime.ts';
import { sessionOptions } from '../model/loader.ts';
import { WorkerSession, type ModelSession } from '../model/session-worker.ts';

const PACKAGE = 'nsfwjs';
const MODEL_DIR = path.join('dist', 'models', 'mobilenet_v2_mid');
const SHARDS = ['group1-shard1of2.min.js', 'group1-shard2of2.min.js'];
const PREFIX = 'StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/StatefulPartitionedCall/predict/MobilenetV2/';

/**
 * The image backbone that turns a crop into a vector for product recognition: MobileNetV2 (depth
 * 1.4, 224x224, ImageNet-pretrained from TF Hub) as nsfwjs ships it. Of the backbones found on the
 * npm registry it recognised grocery products best (see the README's figures). Features are
 * pooled from four depths and concatenated: the last layer alone was tuned for nsfwjs's own
 * classes, the middle ones keep more of what tells one product from another.
 */
export const BACKBONE = Object.freeze({
  name: 'mobilenetv2-140',
  description: 'MobileNetV2 1.4 (TF Hub, ImageNet) as shipped in nsfwjs, pooled at four depths',
  size: 224,
  layers: [
    { output: `${PREFIX}expanded_conv_12/add`, pool: 'mean' },
    { output: `${PREFIX}expanded_conv_15/add`, pool: 'mean' },
    { output: `${PREFIX}expanded_conv_16/project/BatchNorm/FusedBatchNormV3`, pool: 'mean' },
    { output: `${PREFIX}Conv_1/Relu6`, pool: 'gem' },
  ] as ReadonlyArray<{ output: string; pool: 'mean' | 'gem' }>,
});

/**
 * The backbone's mean vector over photos of shop shelves and counters (the Grocery Store Dataset's
 * train split, MIT), subtracted before comparing: without it every crop is ~0.8 similar to every
 * other (the mean dominates), and no threshold can tell a known product from an unknown one.
 * Made by `pnpm backbone:mean --data <dataset>`.
 */
export const MEAN_FILE = new URL('./backbone-mean.json', import.meta.url);

export interface BackboneMean {
  backbone: string;
  source: string;
  photos: number;
  /** Float32 little-endian, base64. */
  values: string;
}

/** The mean vector for this backbone, or null without one (vectors are then raw). */
function readMean(): Float32Array | null {
  let mean: BackboneMean;
  try {
    mean = JSON.parse(readFileSync(MEAN_FILE, 'utf8')) as BackboneMean;
  } catch {
    return null;
  }
  const bytes = Buffer.from(mean.values, 'base64');
  if (mean.backbone !== BACKBONE.name || bytes.length === 0 || bytes.length % 4 !== 0)
    throw new Error(`${MEAN_FILE.pathname} is for ${mean.backbone} with ${bytes.length / 4} values; run pnpm backbone:mean`);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

/** nsfwjs wraps each model file in a UMD module: model.json as an object, weight shards as base64. */
const BACKBONE_SPEC: BuiltinModelSpec = {
  name: BACKBONE.name,
  description: BACKBONE.description,
  packageName: PACKAGE,
  upstream: { repository: 'https://github.com/GantMan/nsfw_model', licence: 'MIT' },
  licenceNote:
    'nsfwjs (MIT) ships the weights its authors fine-tuned (nsfw_model, MIT) from TF Hub MobileNetV2 (Apache-2.0): ' +
    'both licences allow shipping them in a product.',
  outputs: BACKBONE.layers.map((l) => l.output),
  async read(packageDir) {
    const require = createRequire(import.meta.url);
    const dir = path.join(packageDir, MODEL_DIR);
    const relative = (file: string) => path.relative(packageDir, path.join(dir, file)).split(path.sep).join('/');
    const json = require(path.join(dir, 'model.min.js')) as { modelTopology?: { node?: Array<{ op: string; attr?: Record<string, unknown> }> } };
    // The graph is cut before its fixed 7x7 pooling, so any input size would do; the placeholder
    // says 224 and so the ONNX input is 224 too.
    const shards = SHARDS.map((file) => Buffer.from(require(path.join(dir, file)) as string, 'base64'));
    const sources = await Promise.all(['model.min.js', ...SHARDS].map(async (file) => ({ path: relative(file), bytes: await readFile(path.join(dir, file)) })));
    return { files: { modelJson: JSON.stringify(json), shards: [shards] }, sources };
  },
};

/** A normalised box: origin top-left, 0-1. */
export interface UnitBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface RgbImage {
  data: Buffer;
  width: number;
  height: number;
}

/** Share of a detector box added on each side before cropping: the boxes are tight, photos are not. */
export const CROP_MARGIN = 0.1;

/** The pixels of `box` (with the margin, clipped to the image), or the whole image. */
export function cropRect(image: { width: number; height: number }, box: UnitBox | null): { left: number; top: number; width: number; height: number } {
  if (box === null) return { left: 0, top: 0, width: image.width, height: image.height };
  const mx = box.width * CROP_MARGIN;
  const my = box.height * CROP_MARGIN;
  const x0 = Math.max(0, Math.floor((box.x - mx) * image.width));
  const y0 = Math.max(0, Math.floor((box.y - my) * image.height));
  const x1 = Math.min(image.width, Math.ceil((box.x + box.width + mx) * image.width));
  const y1 = Math.min(image.height, Math.ceil((box.y + box.height + my) * image.height));
  return { left: x0, top: y0, width: Math.max(1, x1 - x0), height: Math.max(1, y1 - y0) };
}

/** The crop squeezed to the backbone's square input, RGB bytes. */
export async function cropPixels(image: RgbImage, box: UnitBox | null, size: number = BACKBONE.size): Promise<Buffer> {
  const rect = cropRect(image, box);
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .extract(rect)
    .resize(size, size, { fit: 'fill' })
    .raw()
    .toBuffer();
}

function l2normalise(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < v.length; i++) v[i]! /= n;
  return v;
}

/** Pools an NHWC feature map over H and W: the mean, or the generalised mean (p = 3) of the positive part. */
function pool(data: Float32Array, positions: number, channels: number, how: 'mean' | 'gem'): Float32Array {
  const out = new Float32Array(channels);
  for (let i = 0; i < positions; i++) {
    const row = i * channels;
    if (how === 'mean') for (let c = 0; c < channels; c++) out[c]! += data[row + c]!;
    else
      for (let c = 0; c < channels; c++) {
        const x = Math.max(0, data[row + c]!);
        out[c]! += x * x * x;
      }
  }
  for (let c = 0; c < channels; c++) out[c] = how === 'mean' ? out[c]! / positions : Math.cbrt(out[c]! / positions);
  return out;
}

/**
 * Turns crops into unit vectors with the backbone; one run at a time. The session (a worker thread
 * and about 130 MB) opens at the first crop, not before: a store that teaches no products never
 * pays for it. Its vector length is known before (the mean vector's), except for raw vectors,
 * where the session opens at once to measure it.
 */
export class Embedder {
  readonly id: string;
  readonly #onnxPath: string;
  readonly #threads: number;
  readonly #mean: Float32Array | null;
  #dims: number | null;
  #opened: Promise<Opened> | null = null;

  private constructor(id: string, onnxPath: string, threads: number, mean: Float32Array | null) {
    this.#onnxPath = onnxPath;
    this.#threads = threads;
    this.#mean = mean;
    this.#dims = mean?.length ?? null;
    // Vectors made with and without the mean are not comparable: the id says which.
    this.id = mean ? id : `${id}-raw`;
  }

  /** Converts the backbone at first use (cached in `dir`); the session itself opens at the first crop. */
  static async open(dir: string, options: EnsureModelOptions & { threads: number; centred?: boolean }): Promise<Embedder> {
    const prepared = await ensureBuiltinModel(dir, BACKBONE_SPEC, options);
    const mean = (options.centred ?? true) ? readMean() : null;
    const embedder = new Embedder(`${BACKBONE.name}-${prepared.provenance.source.sha256.slice(0, 12)}`, prepared.onnxPath, options.threads, mean);
    if (embedder.#dims === null) await embedder.#session();
    return embedder;
  }

  /** The length of a vector. */
  get dims(): number {
    return this.#dims!;
  }

  /** Whether the session has been opened (by a first crop). */
  get loaded(): boolean {
    return this.#opened !== null;
  }

  #session(): Promise<Opened> {
    this.#opened ??= (async () => {
      // On a thread of its own, as the detector: a frame's crops are embedded while the event
      // loop keeps receiving and publishing.
      const session = await WorkerSession.create(this.#onnxPath, sessionOptions(this.#threads));
      // One warm-up run gives the channel count of each output (and the first real run its speed).
      const size = BACKBONE.size;
      const result = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', new Float32Array(size * size * 3), [1, size, size, 3]) });
      const outputs = BACKBONE.layers.map((l) => ({ name: l.output, pool: l.pool, channels: result[l.output]!.dims[3]! }));
      for (const t of Object.values(result)) t.dispose();
      const dims = outputs.reduce((sum, o) => sum + o.channels, 0);
      if (this.#dims !== null && dims !== this.#dims) {
        await session.release();
        throw new Error(`${MEAN_FILE.pathname} holds ${this.#dims} values but the backbone gives ${dims}; run pnpm backbone:mean`);
      }
      this.#dims = dims;
      return { session, input: session.inputNames[0]!, outputs };
    })();
    // A failed open is tried again at the next crop.
    this.#opened.catch(() => (this.#opened = null));
    return this.#opened;
  }

  /** One crop's vector: each depth pooled and normalised, concatenated, the mean subtracted, normalised again. */
  async embed(pixels: Uint8Array): Promise<Float32Array> {
    const size = BACKBONE.size;
    if (pixels.length !== size * size * 3) throw new Error(`expected ${size}x${size} RGB, got ${pixels.length} bytes`);
    const { session, input: inputName, outputs } = await this.#session();
    const input = new Float32Array(pixels.length);
    for (let i = 0; i < pixels.length; i++) input[i] = pixels[i]! / 255;
    const result = await session.run({ [inputName]: new ort.Tensor('float32', input, [1, size, size, 3]) });
    const vector = new Float32Array(this.dims);
    let at = 0;
    try {
      for (const o of outputs) {
        const t = result[o.name]!;
        const [, h, w] = t.dims as number[];
        vector.set(l2normalise(pool(t.data as Float32Array, h! * w!, o.channels, o.pool)), at);
        at += o.channels;
      }
    } finally {
      // Their shared buffers go back to the session for the next crop.
      for (const t of Object.values(result)) t.dispose();
    }
    if (this.#mean) for (let i = 0; i < vector.length; i++) vector[i]! -= this.#mean[i]!;
    return l2normalise(vector);
  }

  async release(): Promise<void> {
    const opened = await this.#opened?.catch(() => null);
    this.#opened = null;
    await opened?.session.release();
  }
}

interface Opened {
  session: ModelSession;
  input: string;
  outputs: Array<{ name: string; pool: 'mean' | 'gem'; channels: number }>;
}

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import sharp from 'sharp';

export const INPUT_SIZE = 512;
const INPUT_NAME = 'tower_0/images';
const require = createRequire(import.meta.url);

export function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `sightline-tfjs-onnx-${prefix}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// onnxruntime 1.29+ sends usage telemetry unless this is set before it loads, hence the late import.
process.env.ORT_DISABLE_TELEMETRY ??= '1';
export const ort = await import('onnxruntime-node');

/** The CenterNet TF.js graph model inside @vladmandic/human (its main file is dist/human.node.js). */
export function centerNetModelJson(): string {
  return path.join(path.dirname(require.resolve('@vladmandic/human')), '..', 'models', 'centernet.json');
}

/**
 * A deterministic 512x512 RGB picture (0..255 floats, NHWC): a vertical gradient, a red disc, a
 * blue rectangle, a green triangle and a little hash noise, so every part of the net gets varied input.
 */
export function syntheticImage(): Float32Array {
  const img = new Float32Array(INPUT_SIZE * INPUT_SIZE * 3);
  for (let y = 0; y < INPUT_SIZE; y++) {
    for (let x = 0; x < INPUT_SIZE; x++) {
      let rgb = [90 + (y / INPUT_SIZE) * 80, 110, 130 - (x / INPUT_SIZE) * 60];
      if ((x - 150) ** 2 + (y - 170) ** 2 < 90 ** 2) rgb = [220, 40, 30];
      if (x > 300 && x < 470 && y > 260 && y < 420) rgb = [30, 60, 200];
      if (y > 330 && y < 490 && Math.abs(x - 130) < (y - 330) * 0.6) rgb = [40, 180, 60];
      const noise = (((x * 73856093) ^ (y * 19349663)) >>> 0) % 17;
      const i = (y * INPUT_SIZE + x) * 3;
      img[i] = Math.min(255, rgb[0]! + noise);
      img[i + 1] = Math.min(255, rgb[1]! + noise);
      img[i + 2] = Math.min(255, rgb[2]! + noise);
    }
  }
  return img;
}

/** The tangerine emoji (1f34a) at 260 px in the middle of a grey 640x480 frame, stretched to the 512x512 float input. */
export async function tangerineInput(): Promise<Float32Array> {
  const file = path.join(path.dirname(require.resolve('@lobehub/fluent-emoji-3d/package.json')), 'assets', '1f34a.webp');
  const emoji = await sharp(file).resize(260, 260).png().toBuffer();
  const frame = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 128, g: 128, b: 128 } } })
    .composite([{ input: emoji, left: 190, top: 110 }])
    .removeAlpha()
    .raw()
    .toBuffer();
  const resized = await sharp(frame, { raw: { width: 640, height: 480, channels: 3 } })
    .resize(INPUT_SIZE, INPUT_SIZE, { fit: 'fill' })
    .raw()
    .toBuffer();
  return Float32Array.from(resized);
}

export interface ModelOutputs {
  keypoints: Float32Array;
  wh: Float32Array;
  detections: Float32Array;
}

export async function runOnnx(session: import('onnxruntime-node').InferenceSession, input: Float32Array): Promise<ModelOutputs> {
  const out = await session.run({ [INPUT_NAME]: new ort.Tensor('float32', input, [1, INPUT_SIZE, INPUT_SIZE, 3]) });
  const data = (name: string) => out[name]!.data as Float32Array;
  return { keypoints: data('tower_0/keypoints'), wh: data('tower_0/wh'), detections: data('tower_0/detections') };
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** The original TF.js graph model on the pure-JS CPU backend, loaded from the same files. */
export async function loadTfjsReference(modelJson: string): Promise<{ run: (input: Float32Array) => Promise<ModelOutputs> }> {
  const tf = await import('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  const json = JSON.parse(readFileSync(modelJson, 'utf8')) as {
    modelTopology: object;
    weightsManifest: Array<{ paths: string[]; weights: unknown[] }>;
    format: string;
    generatedBy: string;
    convertedBy: string;
    signature: object;
  };
  const shards = json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(path.join(path.dirname(modelJson), p))));
  const weights = Buffer.concat(shards);
  const artifacts: import('@tensorflow/tfjs').io.ModelArtifacts = {
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights) as import('@tensorflow/tfjs').io.WeightsManifestEntry[],
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    signature: json.signature,
  };
  const model = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
  return {
    async run(input) {
      const x = tf.tensor4d(input, [1, INPUT_SIZE, INPUT_SIZE, 3]);
      const outs = model.execute(x, ['tower_0/keypoints', 'tower_0/wh', 'tower_0/detections']) as import('@tensorflow/tfjs').Tensor[];
      const [keypoints, wh, detections] = (await Promise.all(outs.map((o) => o.data()))) as Float32Array[];
      tf.dispose([x, ...outs]);
      return { keypoints: keypoints!, wh: wh!, detections: detections! };
    },
  };
}

import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import * as ort from '../src/onnxruntime.ts';
import sharp from 'sharp';
import { DEFAULT_MODEL } from '../src/model/default-model.ts';
import type { CenterNetOutput } from '../src/decoders/centernet.ts';
import type { Box } from '../src/decoders/index.ts';

export const INPUT_SIZE = 512;

export function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `sightline-inference-${prefix}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function emojiFile(codepoint: string): string {
  const require = createRequire(import.meta.url);
  const pkgDir = path.dirname(require.resolve('@lobehub/fluent-emoji-3d/package.json'));
  return path.join(pkgDir, 'assets', `${codepoint}.webp`);
}

export interface EmojiScene {
  rgb: Buffer;
  width: number;
  height: number;
  /** Bounding box of the emoji's opaque pixels (alpha > 50%), normalised to the frame. */
  object: Box;
}

/** An emoji scaled to `size` px in the middle of a plain grey 640x480 frame, as RGB bytes. */
export async function emojiScene(codepoint: string, size = 260): Promise<EmojiScene> {
  const width = 640;
  const height = 480;
  const { data: rgba } = await sharp(emojiFile(codepoint)).resize(size, size).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const left = Math.round((width - size) / 2);
  const top = Math.round((height - size) / 2);
  let [x1, y1, x2, y2] = [size, size, 0, 0];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (rgba[(y * size + x) * 4 + 3]! <= 128) continue;
      [x1, y1, x2, y2] = [Math.min(x1, x), Math.min(y1, y), Math.max(x2, x + 1), Math.max(y2, y + 1)];
    }
  }
  const emoji = await sharp(rgba, { raw: { width: size, height: size, channels: 4 } })
    .png()
    .toBuffer();
  const rgb = await sharp({ create: { width, height, channels: 3, background: { r: 128, g: 128, b: 128 } } })
    .composite([{ input: emoji, left, top }])
    .removeAlpha()
    .raw()
    .toBuffer();
  const object = { x: (left + x1) / width, y: (top + y1) / height, width: (x2 - x1) / width, height: (y2 - y1) / height };
  return { rgb, width, height, object };
}

/** RGB bytes of any size stretched to the 512x512 float input. */
export async function toModelInput(rgb: Buffer, width: number, height: number): Promise<Float32Array> {
  const resized = await sharp(rgb, { raw: { width, height, channels: 3 } })
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

export async function runOnnx(session: ort.InferenceSession, input: Float32Array): Promise<ModelOutputs> {
  const out = await session.run({ [DEFAULT_MODEL.input.name]: new ort.Tensor('float32', input, [1, INPUT_SIZE, INPUT_SIZE, 3]) });
  const data = (name: string) => out[name]!.data as Float32Array;
  return { keypoints: data('tower_0/keypoints'), wh: data('tower_0/wh'), detections: data('tower_0/detections') };
}

export function centerNetOutput(o: Pick<ModelOutputs, 'keypoints' | 'wh'>): CenterNetOutput {
  return { heatmaps: o.keypoints, sizes: o.wh, gridWidth: 128, gridHeight: 128, classes: 80, inputWidth: INPUT_SIZE, inputHeight: INPUT_SIZE };
}

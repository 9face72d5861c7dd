import sharp, { type Metadata } from 'sharp';
import { PayloadError, readJpegHeader, type JpegHeader } from '@sightline/schemas';
import type { InputRegion } from '../decoders/types.ts';
import type { InputSpec } from '../model/descriptor.ts';

/**
 * Image bytes to the model's input tensor: checked (format, size, pixel count) before anything is
 * decoded, EXIF orientation applied, resized the way the descriptor says (sharp/libvips), then one
 * tight loop turns the raw 8-bit pixels into floats in the model's layout, channel order and scale.
 */

export type ImageFormat = 'jpeg' | 'png' | 'webp';

/** 40 megapixels: far above any camera frame, far below a decompression bomb. */
export const DEFAULT_MAX_PIXELS = 40_000_000;
export const DEFAULT_MAX_IMAGE_BYTES = 16 * 1024 * 1024;
/** Custom Vision's own preprocessing: the longer side is first brought down to this. */
const CUSTOM_VISION_MAX_SIDE = 1600;
const CUSTOM_VISION_SQUARE = 256;
const LETTERBOX_GREY = 114;

export type ImageFault = 'empty' | 'oversize' | 'unsupported-format' | 'too-many-pixels' | 'corrupt';

/** What is wrong with an input image; `status` is the HTTP status to answer with. */
export class ImageError extends Error {
  readonly fault: ImageFault;
  readonly status: number;
  constructor(fault: ImageFault, message: string) {
    super(message);
    this.name = 'ImageError';
    this.fault = fault;
    this.status = fault === 'oversize' || fault === 'too-many-pixels' ? 413 : fault === 'unsupported-format' ? 415 : 400;
  }
}

export interface ImageLimits {
  formats: readonly ImageFormat[];
  maxPixels: number;
  maxBytes: number;
}

export const FRAME_LIMITS: ImageLimits = { formats: ['jpeg'], maxPixels: DEFAULT_MAX_PIXELS, maxBytes: DEFAULT_MAX_IMAGE_BYTES };
export const UPLOAD_LIMITS: ImageLimits = { formats: ['jpeg', 'png', 'webp'], maxPixels: DEFAULT_MAX_PIXELS, maxBytes: DEFAULT_MAX_IMAGE_BYTES };

export interface PreparedInput {
  tensor: Float32Array;
  /** The tensor shape: [1, C, H, W] or [1, H, W, C]. */
  dims: number[];
  /** The image size after EXIF orientation. */
  width: number;
  height: number;
  /** Where the image lies in the model input, in input pixels. */
  region: InputRegion;
  /** Decoding and resizing (sharp). */
  decodeMs: number;
  /** Pixels to floats. */
  preprocessMs: number;
}

export function sniffFormat(bytes: Buffer): ImageFormat | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  return null;
}

/** The header of a JPEG, or null when it is not one whole JPEG (libvips then says what is wrong). */
function jpegHeaderOf(bytes: Buffer): JpegHeader | null {
  try {
    return readJpegHeader(bytes);
  } catch (err) {
    if (err instanceof PayloadError) return null;
    throw err;
  }
}

/**
 * `into`: an array to fill instead of allocating the tensor (the frame path reuses two); it is
 * used only when it has the input's size, and must not be in use by a run at the same time.
 * `header`: the JPEG header of `bytes` when it was already read (a camera frame, by decodeFrame).
 */
export async function prepareInput(
  bytes: Buffer,
  input: InputSpec,
  limits: ImageLimits = FRAME_LIMITS,
  into?: Float32Array,
  header?: JpegHeader,
): Promise<PreparedInput> {
  const t0 = performance.now();
  if (bytes.length === 0) throw new ImageError('empty', 'empty image');
  if (bytes.length > limits.maxBytes) throw new ImageError('oversize', `image of ${bytes.length} bytes exceeds ${limits.maxBytes}`);
  const format = sniffFormat(bytes);
  if (format === null || !limits.formats.includes(format)) {
    throw new ImageError(
      'unsupported-format',
      `${format === null ? 'not an image this service reads' : `${format.toUpperCase()} is not accepted here`}: expected ${limits.formats.map((f) => f.toUpperCase()).join(', ')}`,
    );
  }
  let image = sharp(bytes, { limitInputPixels: limits.maxPixels, autoOrient: true, failOn: 'warning', sequentialRead: true });
  // A JPEG without Exif is measured from its header: a camera frame's was read by decodeFrame, an
  // upload's is read here. Anything else, or an orientation to apply, asks libvips (one more trip
  // through its thread pool).
  let meta: Pick<Metadata, 'width' | 'height' | 'orientation'>;
  try {
    const jpeg = format === 'jpeg' ? (header ?? jpegHeaderOf(bytes)) : null;
    meta = jpeg !== null && !jpeg.exif ? { width: jpeg.width, height: jpeg.height, orientation: 1 } : await image.metadata();
  } catch (err) {
    const message = (err as Error).message;
    if (/pixel limit/i.test(message)) throw new ImageError('too-many-pixels', `image exceeds the limit of ${limits.maxPixels} pixels (a decompression bomb?)`);
    throw new ImageError('corrupt', `cannot read the ${format.toUpperCase()} header: ${message}`);
  }
  const rawWidth = meta.width ?? 0;
  const rawHeight = meta.height ?? 0;
  if (rawWidth * rawHeight > limits.maxPixels) {
    throw new ImageError('too-many-pixels', `image of ${rawWidth}x${rawHeight} pixels exceeds the limit of ${limits.maxPixels} pixels`);
  }
  const swapped = (meta.orientation ?? 1) >= 5;
  const width = swapped ? rawHeight : rawWidth;
  const height = swapped ? rawWidth : rawHeight;
  const W = input.width;
  const H = input.height;
  // Where the image goes in the input (dst) and which part of it is used (src), in pixels.
  let src: Rect = { x: 0, y: 0, width, height };
  let dst: Rect = { x: 0, y: 0, width: W, height: H };
  if (input.resize === 'letterbox') {
    const scale = Math.min(W / width, H / height);
    const w = Math.max(1, Math.min(W, Math.round(width * scale)));
    const h = Math.max(1, Math.min(H, Math.round(height * scale)));
    dst = { x: Math.floor((W - w) / 2), y: Math.floor((H - h) / 2), width: w, height: h };
  } else if (input.resize === 'custom-vision') {
    // Custom Vision: longer side at most CUSTOM_VISION_MAX_SIDE, largest centred square, 256x256,
    // centre crop to the input. The cap only shrinks the square before it is shrunk to 256 anyway,
    // so the crop is mapped straight back to the source: one resampling instead of three.
    const side = Math.min(width, height);
    const square = { x: Math.floor((width - side) / 2), y: Math.floor((height - side) / 2), width: side, height: side };
    const k = side / CUSTOM_VISION_SQUARE;
    src =
      W > CUSTOM_VISION_SQUARE || H > CUSTOM_VISION_SQUARE
        ? square
        : {
            x: square.x + Math.floor((CUSTOM_VISION_SQUARE - W) / 2) * k,
            y: square.y + Math.floor((CUSTOM_VISION_SQUARE - H) / 2) * k,
            width: W * k,
            height: H * k,
          };
  }
  const region: InputRegion = { ...dst };

  // Up to a 2x reduction, the frame is decoded as it is and resampled (bilinear) in the same loop
  // that makes the floats: much cheaper than a libvips resize of a camera frame. A bigger
  // reduction goes through libvips, which shrinks JPEGs while decoding and filters properly.
  const fused = src.width <= 2 * dst.width && src.height <= 2 * dst.height;
  if (!fused) {
    const left = Math.floor(src.x);
    const top = Math.floor(src.y);
    image = image
      .extract({
        left,
        top,
        width: Math.max(1, Math.min(width - left, Math.round(src.width))),
        height: Math.max(1, Math.min(height - top, Math.round(src.height))),
      })
      .resize(dst.width, dst.height, { fit: 'fill' });
  }
  let raw: Buffer;
  let info: { width: number; height: number; channels: number };
  try {
    ({ data: raw, info } = await image.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true }));
  } catch (err) {
    const message = (err as Error).message;
    if (/pixel limit/i.test(message)) throw new ImageError('too-many-pixels', `image exceeds the limit of ${limits.maxPixels} pixels (a decompression bomb?)`);
    throw new ImageError('corrupt', `cannot decode the ${format.toUpperCase()}: ${message}`);
  }
  if (info.channels !== 3 || raw.length !== info.width * info.height * 3)
    throw new ImageError('corrupt', `decoded ${raw.length} bytes in ${info.channels} channels, expected RGB`);
  const t1 = performance.now();
  const tensor = fused
    ? resampleToTensor(raw, info.width, info.height, src, dst, input, into)
    : resampleToTensor(raw, info.width, info.height, { x: 0, y: 0, width: info.width, height: info.height }, dst, input, into);
  const t2 = performance.now();
  return {
    tensor,
    dims: input.layout === 'NCHW' ? [1, 3, H, W] : [1, H, W, 3],
    width,
    height,
    region,
    decodeMs: t1 - t0,
    preprocessMs: t2 - t1,
  };
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

type TensorSpec = Pick<InputSpec, 'width' | 'height' | 'layout' | 'channels' | 'scale' | 'mean' | 'std'>;

/**
 * Resamples `src` of an RGB image (bilinear, pixel centres aligned) onto `dst` of the model
 * input and converts to floats in the same pass; the input outside `dst` is letterbox grey.
 * When src and dst have the same size this is a plain copy of the pixels. `into`, when given and
 * of the input's size, is filled (every value written) instead of allocating a new array.
 *
 * The arithmetic is fixed, so every path gives the same floats bit for bit: each source row pair
 * is blended in doubles and rounded to float32 (`row`), each output value blends two of those in
 * doubles with the float32 column weight `fx` and `1 - fx`, then `* a + b` (skipped when it is
 * `* 1 + 0`, which changes no value) and rounded to float32 on the store.
 */
export function resampleToTensor(
  pixels: Uint8Array,
  imageWidth: number,
  imageHeight: number,
  src: Rect,
  dst: Rect,
  input: TensorSpec,
  into?: Float32Array,
): Float32Array {
  // A plain Uint8Array view (not a Buffer) keeps the element accesses monomorphic.
  const rgb = new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.length);
  const W = input.width;
  const H = input.height;
  const out = into !== undefined && into.length === W * H * 3 ? into : new Float32Array(W * H * 3);
  const bgr = input.channels === 'BGR';
  const a = [0, 1, 2].map((c) => input.scale / input.std[c]!);
  const b = [0, 1, 2].map((c) => -input.mean[c]! / input.std[c]!);
  const nchw = input.layout === 'NCHW';
  const plane = W * H;
  // Source red goes to output channel o0, blue to o2 (BGR swaps them); each is normalised with the
  // scale/mean/std of the output channel it lands in.
  const [o0, o2] = bgr ? [2, 0] : [0, 2];
  const step = nchw ? 1 : 3;
  const off0 = nchw ? o0 * plane : o0;
  const off1 = nchw ? plane : 1;
  const off2 = nchw ? o2 * plane : o2;
  const A = [bgr ? a[2]! : a[0]!, a[1]!, bgr ? a[0]! : a[2]!];
  const B = [bgr ? b[2]! : b[0]!, b[1]!, bgr ? b[0]! : b[2]!];
  const fill = [LETTERBOX_GREY * A[0]! + B[0]!, LETTERBOX_GREY * A[1]! + B[1]!, LETTERBOX_GREY * A[2]! + B[2]!];
  const ar = A[0]!,
    ag = A[1]!,
    ab = A[2]!,
    br = B[0]!,
    bg = B[1]!,
    bb = B[2]!;
  // x * 1 + 0 (or - 0) is x for every value the blend can give, so that pass can be left out.
  const plain = ar === 1 && ag === 1 && ab === 1 && br === 0 && bg === 0 && bb === 0;
  const identity = src.width === dst.width && src.height === dst.height && Number.isInteger(src.x) && Number.isInteger(src.y);

  // Per output column: the two source columns (byte offsets) and the weights of the left and
  // right one (fx rounded to float32, as it always was; 1 - fx is exact in a double).
  const x0s = new Int32Array(dst.width);
  const x1s = new Int32Array(dst.width);
  const fxs = new Float64Array(dst.width);
  const gxs = new Float64Array(dst.width);
  const kx = src.width / dst.width;
  for (let i = 0; i < dst.width; i++) {
    let sx = identity ? src.x + i : (i + 0.5) * kx - 0.5 + src.x;
    sx = Math.min(Math.max(sx, 0), imageWidth - 1);
    const x0 = Math.floor(sx);
    x0s[i] = x0 * 3;
    x1s[i] = Math.min(x0 + 1, imageWidth - 1) * 3;
    const fx = Math.fround(sx - x0);
    fxs[i] = fx;
    gxs[i] = 1 - fx;
  }
  // Letterbox bars: the whole input grey first, the image drawn over it.
  if (dst.x !== 0 || dst.y !== 0 || dst.width !== W || dst.height !== H) {
    for (let p = 0; p < plane; p++) {
      const q = p * step;
      out[q + off0] = fill[0]!;
      out[q + off1] = fill[1]!;
      out[q + off2] = fill[2]!;
    }
  }
  // Separable bilinear: blend the two source rows into `row` (only the columns used, rounded to
  // float32), then blend two columns of `row` per output pixel.
  const ky = src.height / dst.height;
  const rowBytes = imageWidth * 3;
  const first = x0s[0]!;
  const last = x1s[dst.width - 1]! + 3;
  const row = new Float64Array(rowBytes);
  const dw = dst.width;
  for (let j = 0; j < dst.height; j++) {
    let sy = identity ? src.y + j : (j + 0.5) * ky - 0.5 + src.y;
    sy = Math.min(Math.max(sy, 0), imageHeight - 1);
    const y0 = Math.floor(sy);
    const r0 = y0 * rowBytes;
    const r1 = Math.min(y0 + 1, imageHeight - 1) * rowBytes;
    const fy = sy - y0;
    if (fy === 0) {
      for (let k = first; k < last; k++) row[k] = rgb[r0 + k]!;
    } else {
      const gy = 1 - fy;
      for (let k = first; k < last; k++) row[k] = Math.fround(rgb[r0 + k]! * gy + rgb[r1 + k]! * fy);
    }
    let p = ((dst.y + j) * W + dst.x) * step;
    if (plain) {
      for (let i = 0; i < dw; i++, p += step) {
        const c0 = x0s[i]!;
        const c1 = x1s[i]!;
        const fx = fxs[i]!;
        const gx = gxs[i]!;
        out[p + off0] = row[c0]! * gx + row[c1]! * fx;
        out[p + off1] = row[c0 + 1]! * gx + row[c1 + 1]! * fx;
        out[p + off2] = row[c0 + 2]! * gx + row[c1 + 2]! * fx;
      }
    } else {
      for (let i = 0; i < dw; i++, p += step) {
        const c0 = x0s[i]!;
        const c1 = x1s[i]!;
        const fx = fxs[i]!;
        const gx = gxs[i]!;
        out[p + off0] = (row[c0]! * gx + row[c1]! * fx) * ar + br;
        out[p + off1] = (row[c0 + 1]! * gx + row[c1 + 1]! * fx) * ag + bg;
        out[p + off2] = (row[c0 + 2]! * gx + row[c1 + 2]! * fx) * ab + bb;
      }
    }
  }
  return out;
}

/** Raw RGB bytes (H x W x 3) to the model's float input, in one pass. */
export function toTensor(rgb: Uint8Array, input: Pick<InputSpec, 'width' | 'height' | 'layout' | 'channels' | 'scale' | 'mean' | 'std'>): Float32Array {
  const pixels = input.width * input.height;
  const out = new Float32Array(pixels * 3);
  const bgr = input.channels === 'BGR';
  // Output channel c reads source channel src[c]; value = byte * a[c] + b[c].
  const s0 = bgr ? 2 : 0;
  const s2 = bgr ? 0 : 2;
  const a0 = input.scale / input.std[0];
  const a1 = input.scale / input.std[1];
  const a2 = input.scale / input.std[2];
  const b0 = -input.mean[0] / input.std[0];
  const b1 = -input.mean[1] / input.std[1];
  const b2 = -input.mean[2] / input.std[2];
  const identity = a0 === 1 && a1 === 1 && a2 === 1 && b0 === 0 && b1 === 0 && b2 === 0;
  if (input.layout === 'NHWC') {
    if (identity && !bgr) {
      for (let i = 0; i < out.length; i++) out[i] = rgb[i]!;
      return out;
    }
    for (let p = 0, i = 0; p < pixels; p++, i += 3) {
      out[i] = rgb[i + s0]! * a0 + b0;
      out[i + 1] = rgb[i + 1]! * a1 + b1;
      out[i + 2] = rgb[i + s2]! * a2 + b2;
    }
  } else {
    const g = pixels;
    const b = 2 * pixels;
    for (let p = 0, i = 0; p < pixels; p++, i += 3) {
      out[p] = rgb[i + s0]! * a0 + b0;
      out[g + p] = rgb[i + 1]! * a1 + b1;
      out[b + p] = rgb[i + s2]! * a2 + b2;
    }
  }
  return out;
}

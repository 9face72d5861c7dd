/**
 * Reference implementations for equivalence tests: the straightforward earlier versions of code
 * that has since been rewritten for speed. The rewrites must give exactly the same results.
 */
import type { CenterNetOutput, Peak, PeakOptions } from '../src/decoders/centernet.ts';
import type { Rect } from '../src/pipeline/image.ts';
import type { InputSpec } from '../src/model/descriptor.ts';

const LETTERBOX_GREY = 114;
type TensorSpec = Pick<InputSpec, 'width' | 'height' | 'layout' | 'channels' | 'scale' | 'mean' | 'std'>;

/**
 * Resamples `src` of an RGB image (bilinear, pixel centres aligned) onto `dst` of the model
 * input and converts to floats in the same pass; the input outside `dst` is letterbox grey.
 * When src and dst have the same size this is a plain copy of the pixels.
 *
 * The earlier implementation of resampleToTensor, kept as the reference its rewrite must match bit for bit.
 */
export function referenceResampleToTensor(pixels: Uint8Array, imageWidth: number, imageHeight: number, src: Rect, dst: Rect, input: TensorSpec): Float32Array {
  // A plain Uint8Array view (not a Buffer) keeps the element accesses monomorphic.
  const rgb = new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.length);
  const W = input.width;
  const H = input.height;
  const out = new Float32Array(W * H * 3);
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
  const identity = src.width === dst.width && src.height === dst.height && Number.isInteger(src.x) && Number.isInteger(src.y);

  // Per output column: the two source columns (byte offsets) and the weight of the right one.
  const x0s = new Int32Array(dst.width);
  const x1s = new Int32Array(dst.width);
  const fxs = new Float32Array(dst.width);
  const kx = src.width / dst.width;
  for (let i = 0; i < dst.width; i++) {
    let sx = identity ? src.x + i : (i + 0.5) * kx - 0.5 + src.x;
    sx = Math.min(Math.max(sx, 0), imageWidth - 1);
    const x0 = Math.floor(sx);
    x0s[i] = x0 * 3;
    x1s[i] = Math.min(x0 + 1, imageWidth - 1) * 3;
    fxs[i] = sx - x0;
  }
  // Letterbox bars: the whole input grey first, the image drawn over it.
  if (dst.width !== W || dst.height !== H) {
    for (let p = 0; p < plane; p++) {
      const q = p * step;
      out[q + off0] = fill[0]!;
      out[q + off1] = fill[1]!;
      out[q + off2] = fill[2]!;
    }
  }
  // Separable bilinear: blend the two source rows into `row` (only the columns used), then
  // blend two columns of `row` per output pixel.
  const ky = src.height / dst.height;
  const rowBytes = imageWidth * 3;
  const first = x0s[0]!;
  const last = x1s[dst.width - 1]! + 3;
  const row = new Float32Array(rowBytes);
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
      for (let k = first; k < last; k++) row[k] = rgb[r0 + k]! * gy + rgb[r1 + k]! * fy;
    }
    let p = ((dst.y + j) * W + dst.x) * step;
    for (let i = 0; i < dst.width; i++, p += step) {
      const c0 = x0s[i]!;
      const c1 = x1s[i]!;
      const fx = fxs[i]!;
      const gx = 1 - fx;
      out[p + off0] = (row[c0]! * gx + row[c1]! * fx) * ar + br;
      out[p + off1] = (row[c0 + 1]! * gx + row[c1 + 1]! * fx) * ag + bg;
      out[p + off2] = (row[c0 + 2]! * gx + row[c1 + 2]! * fx) * ab + bb;
    }
  }
  return out;
}

/** The earlier findPeaks (3x3 peak test per value), the reference for the single-pass rewrite. */
export function referenceFindPeaks(out: CenterNetOutput, options: PeakOptions): Peak[] {
  const { heatmaps: h, sizes, gridWidth: gw, gridHeight: gh, classes: nc } = out;
  const strideX = out.inputWidth / gw;
  const strideY = out.inputHeight / gh;
  const found: Array<{ index: number; score: number }> = [];
  for (let gy = 0; gy < gh; gy++) {
    for (let gx = 0; gx < gw; gx++) {
      const cell = (gy * gw + gx) * nc;
      for (let c = 0; c < nc; c++) {
        const v = h[cell + c]!;
        if (v < options.minScore || !(v > 0)) continue;
        let peak = true;
        for (let dy = -1; dy <= 1 && peak; dy++) {
          const y = gy + dy;
          if (y < 0 || y >= gh) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const x = gx + dx;
            if (x < 0 || x >= gw || (dx === 0 && dy === 0)) continue;
            if (h[(y * gw + x) * nc + c]! > v) {
              peak = false;
              break;
            }
          }
        }
        if (peak) found.push({ index: cell + c, score: v });
      }
    }
  }
  found.sort((a, b) => b.score - a.score || a.index - b.index);
  return found.slice(0, options.topK).map(({ index, score }) => {
    const classId = index % nc;
    const cell = (index - classId) / nc;
    const gx = cell % gw;
    const gy = (cell - gx) / gw;
    const [l, t, r, b] = [sizes[cell * 4]!, sizes[cell * 4 + 1]!, sizes[cell * 4 + 2]!, sizes[cell * 4 + 3]!];
    return { classId, score, gx, gy, x1: gx * strideX - l, y1: gy * strideY - t, x2: gx * strideX + r, y2: gy * strideY + b };
  });
}

/**
 * A linear head trained on the device over the enrolled photos' vectors: kernel ridge regression
 * (linear kernel) onto one-hot product targets. Solved exactly in the dual: K = X Xᵀ + λI, then
 * K A = Y by Cholesky, so a query's product scores are (X q)ᵀ A, where X q are the same
 * similarities nearest-neighbour recognition computes anyway. On the grocery val split it names
 * 0.49 of products right with 10 photos each where the nearest photo names 0.33 (see the README).
 *
 * The work (n²d/2 for K, n³/3 for Cholesky) is cut into slices that give the event loop back, so
 * frames keep flowing while it trains; `shouldStop` ends it early when the products changed again.
 */

/** Regularisation: measured on the grocery val split, 0.1 is best of 0.01-1 for unit vectors. */
export const HEAD_LAMBDA = 0.1;
/** Photos beyond which no head is trained (n³ time): nearest neighbours alone then. */
export const HEAD_MAX_PHOTOS = 4000;

export interface HeadInput {
  dims: number;
  /** Row-major, one unit vector per photo. */
  matrix: Float32Array;
  /** The product index of each row. */
  productOf: Uint32Array;
  products: number;
}

export interface Head {
  /** Row-major n × products. */
  readonly weights: Float32Array;
  readonly products: number;
  readonly trainMs: number;
}

const giveBack = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Trains the head; null when stopped, or when there is nothing to tell apart (fewer than 2 products). */
export async function trainHead(input: HeadInput, options: { lambda?: number; sliceMs?: number; shouldStop?: () => boolean } = {}): Promise<Head | null> {
  const { dims, matrix, productOf, products } = input;
  const n = productOf.length;
  if (products < 2 || n === 0 || n > HEAD_MAX_PHOTOS) return null;
  const lambda = options.lambda ?? HEAD_LAMBDA;
  const sliceMs = options.sliceMs ?? 20;
  const stop = options.shouldStop ?? (() => false);
  const started = performance.now();
  let sliceStart = performance.now();
  const pause = async (): Promise<boolean> => {
    if (performance.now() - sliceStart < sliceMs) return false;
    await giveBack();
    sliceStart = performance.now();
    return stop();
  };

  // K (lower triangle is enough for Cholesky), in doubles: its entries are sums of 2,600 products.
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const a = i * dims;
    for (let j = 0; j <= i; j++) {
      const b = j * dims;
      let dot = 0;
      for (let k = 0; k < dims; k++) dot += matrix[a + k]! * matrix[b + k]!;
      L[i * n + j] = dot + (i === j ? lambda : 0);
    }
    if (await pause()) return null;
  }
  // In-place Cholesky, row by row: L Lᵀ = K. K is positive definite (λ > 0), so no pivoting.
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let s = L[ri + j]!;
      for (let k = 0; k < j; k++) s -= L[ri + k]! * L[rj + k]!;
      L[ri + j] = i === j ? Math.sqrt(s) : s / L[rj + j]!;
    }
    if (await pause()) return null;
  }
  // K A = Y for every product column: forward then back substitution.
  const weights = new Float32Array(n * products);
  const z = new Float64Array(n);
  for (let c = 0; c < products; c++) {
    for (let i = 0; i < n; i++) {
      let s = productOf[i] === c ? 1 : 0;
      const ri = i * n;
      for (let k = 0; k < i; k++) s -= L[ri + k]! * z[k]!;
      z[i] = s / L[ri + i]!;
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = z[i]!;
      for (let k = i + 1; k < n; k++) s -= L[k * n + i]! * weights[k * products + c]!;
      weights[i * products + c] = s / L[i * n + i]!;
    }
    if (await pause()) return null;
  }
  return { weights, products, trainMs: performance.now() - started };
}

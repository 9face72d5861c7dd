/** What an object looks most like among the enrolled products. */
export interface Match {
  product: string;
  /** Cosine similarity to that product's closest photo. */
  similarity: number;
}

/**
 * Nearest neighbours over the enrolled photos' vectors (unit length, so the dot product is the
 * cosine): an object is the product of its closest photo. Immutable: the store builds a new one
 * after every change, and recognition in flight keeps the one it started with.
 */
export class Recognizer {
  readonly dims: number;
  readonly size: number;
  readonly #matrix: Float32Array;
  readonly #productOf: Uint32Array;
  readonly #products: string[];

  private constructor(dims: number, matrix: Float32Array, productOf: Uint32Array, products: string[]) {
    this.dims = dims;
    this.size = productOf.length;
    this.#matrix = matrix;
    this.#productOf = productOf;
    this.#products = products;
  }

  static empty(dims: number): Recognizer {
    return new Recognizer(dims, new Float32Array(0), new Uint32Array(0), []);
  }

  static from(dims: number, rows: ReadonlyArray<{ product: string; vector: Float32Array }>): Recognizer {
    const matrix = new Float32Array(rows.length * dims);
    const productOf = new Uint32Array(rows.length);
    const index = new Map<string, number>();
    const products: string[] = [];
    rows.forEach((row, i) => {
      if (row.vector.length !== dims) throw new Error(`a vector of ${row.vector.length} values, expected ${dims}`);
      matrix.set(row.vector, i * dims);
      let p = index.get(row.product);
      if (p === undefined) {
        p = products.push(row.product) - 1;
        index.set(row.product, p);
      }
      productOf[i] = p;
    });
    return new Recognizer(dims, matrix, productOf, products);
  }

  /** The products enrolled (with at least one photo). */
  products(): readonly string[] {
    return this.#products;
  }

  /** The best match per product, best first (at most `top`); empty when nothing is enrolled. */
  rank(vector: Float32Array, top = 1): Match[] {
    const { dims } = this;
    if (vector.length !== dims) throw new Error(`a vector of ${vector.length} values, expected ${dims}`);
    const best = new Float32Array(this.#products.length).fill(-Infinity);
    const m = this.#matrix;
    for (let row = 0; row < this.size; row++) {
      let dot = 0;
      const base = row * dims;
      for (let i = 0; i < dims; i++) dot += m[base + i]! * vector[i]!;
      const p = this.#productOf[row]!;
      if (dot > best[p]!) best[p] = dot;
    }
    return [...best]
      .map((similarity, p) => ({ product: this.#products[p]!, similarity: Math.max(0, Math.min(1, similarity)) }))
      .sort((a, b) => b.similarity - a.similarity)
      .slice(0, top);
  }
}

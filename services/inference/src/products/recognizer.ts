import type { Head, HeadInput } from './head.ts';

/** What an object looks most like among the enrolled products. */
export interface Match {
  product: string;
  /** Cosine similarity to that product's closest photo. */
  similarity: number;
}

/** The answer for one object: the product, how close its nearest photo is, and who chose it. */
export interface Verdict extends Match {
  /** `head` when the trained head chose the product, `nearest` when its closest photo did. */
  by: 'head' | 'nearest';
}

/**
 * Recognition over the enrolled photos' vectors (unit length, so the dot product is the cosine).
 * The product is chosen by the trained head when there is one for exactly these photos (see
 * head.ts), else by the closest photo; either way the similarity reported, which the threshold
 * is applied to, is that of the product's closest photo. Immutable: the store builds a new one
 * after every change (and again once its head is trained), and recognition in flight keeps the
 * one it started with.
 */
export class Recognizer {
  readonly dims: number;
  readonly size: number;
  readonly #matrix: Float32Array;
  readonly #productOf: Uint32Array;
  readonly #products: string[];
  readonly #head: Head | null;

  private constructor(dims: number, matrix: Float32Array, productOf: Uint32Array, products: string[], head: Head | null) {
    this.dims = dims;
    this.size = productOf.length;
    this.#matrix = matrix;
    this.#productOf = productOf;
    this.#products = products;
    this.#head = head;
  }

  static empty(dims: number): Recognizer {
    return new Recognizer(dims, new Float32Array(0), new Uint32Array(0), [], null);
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
    return new Recognizer(dims, matrix, productOf, products, null);
  }

  /** What a head is trained on: these very rows. */
  headInput(): HeadInput {
    return { dims: this.dims, matrix: this.#matrix, productOf: this.#productOf, products: this.#products.length };
  }

  /** The same photos, with a head trained on them. */
  withHead(head: Head): Recognizer {
    if (head.products !== this.#products.length || head.weights.length !== this.size * head.products) throw new Error('the head was trained on other photos');
    return new Recognizer(this.dims, this.#matrix, this.#productOf, this.#products, head);
  }

  get hasHead(): boolean {
    return this.#head !== null;
  }

  /** The products enrolled (with at least one photo). */
  products(): readonly string[] {
    return this.#products;
  }

  /** Cosine similarity of the vector to every photo. */
  #similarities(vector: Float32Array): Float32Array {
    const { dims } = this;
    if (vector.length !== dims) throw new Error(`a vector of ${vector.length} values, expected ${dims}`);
    const out = new Float32Array(this.size);
    const m = this.#matrix;
    for (let row = 0; row < this.size; row++) {
      let dot = 0;
      const base = row * dims;
      for (let i = 0; i < dims; i++) dot += m[base + i]! * vector[i]!;
      out[row] = dot;
    }
    return out;
  }

  #closest(similarities: Float32Array): Float32Array {
    const best = new Float32Array(this.#products.length).fill(-Infinity);
    for (let row = 0; row < this.size; row++) {
      const p = this.#productOf[row]!;
      if (similarities[row]! > best[p]!) best[p] = similarities[row]!;
    }
    return best;
  }

  /** The closest photo's similarity per product, best first (at most `top`); empty when nothing is enrolled. */
  rank(vector: Float32Array, top = 1): Match[] {
    return [...this.#closest(this.#similarities(vector))]
      .map((similarity, p) => ({ product: this.#products[p]!, similarity: clamp01(similarity) }))
      .sort((a, b) => b.similarity - a.similarity)
      .slice(0, top);
  }

  /** The product an object is, or undefined when nothing is enrolled. */
  classify(vector: Float32Array): Verdict | undefined {
    if (this.size === 0) return undefined;
    const similarities = this.#similarities(vector);
    const closest = this.#closest(similarities);
    let chosen = 0;
    if (this.#head) {
      const { weights, products } = this.#head;
      const scores = new Float64Array(products);
      for (let row = 0; row < this.size; row++) {
        const s = similarities[row]!;
        const base = row * products;
        for (let c = 0; c < products; c++) scores[c]! += s * weights[base + c]!;
      }
      for (let c = 1; c < products; c++) if (scores[c]! > scores[chosen]!) chosen = c;
    } else for (let p = 1; p < closest.length; p++) if (closest[p]! > closest[chosen]!) chosen = p;
    return { product: this.#products[chosen]!, similarity: clamp01(closest[chosen]!), by: this.#head ? 'head' : 'nearest' };
  }
}

const clamp01 = (v: number) => Math.max(0, Math.min(1, v));

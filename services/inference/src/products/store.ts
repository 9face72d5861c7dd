import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import { writeFileAtomic, type Logger } from '@sightline/kit';
import { boxSchema, cropModeSchema, idSchema, productIdSchema, type ProductSummary } from '@sightline/schemas';
import { sha256 } from '../model/builtin.ts';
import { ImageError, sniffFormat, UPLOAD_LIMITS } from '../pipeline/image.ts';
import { cropPixels, cropRect, type Embedder, type RgbImage, type UnitBox } from './backbone.ts';
import { trainHead } from './head.ts';
import { Recognizer } from './recognizer.ts';

export type CropMode = z.infer<typeof cropModeSchema>;
export type PhotoSource = 'http' | 'mqtt' | 'lane';

/** Longest side of a stored crop: enough for any backbone input, small on disk (~30-60 KB). */
const STORED_SIDE = 448;
const PRODUCT_FILE = 'product.json';
const PRODUCT_FILE_LIMIT = 1024 * 1024;
/** How long the products must stay unchanged before the head is trained for them. */
const TRAIN_AFTER_QUIET_MS = 300;

const photoSchema = z.strictObject({
  id: idSchema,
  addedAt: z.number().int().min(0),
  source: z.enum(['http', 'mqtt', 'lane']),
  crop: cropModeSchema,
  box: boxSchema.nullable(),
  bytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type ProductPhoto = z.infer<typeof photoSchema>;

const productFileSchema = z.strictObject({
  id: productIdSchema,
  name: z.string().max(120).nullable(),
  createdAt: z.number().int().min(0),
  updatedAt: z.number().int().min(0),
  photos: z.array(photoSchema),
});
export type ProductRecord = z.infer<typeof productFileSchema>;

export interface ProductLimits {
  maxProducts: number;
  maxPhotosPerProduct: number;
  maxPhotos: number;
}

/**
 * A request the store refuses: `status` is the HTTP answer (400, 404, 409 or 413; 502 or 503 when
 * a picture to learn from cannot be had from the sync service).
 */
export class ProductError extends Error {
  override name = 'ProductError';
  readonly status: 400 | 404 | 409 | 413 | 502 | 503;
  constructor(status: 400 | 404 | 409 | 413 | 502 | 503, message: string) {
    super(message);
    this.status = status;
  }
}

export interface PhotoUpload {
  bytes: Buffer;
  crop: CropMode;
  /** With crop `box`, the part of the photo to keep. */
  box?: UnitBox | undefined;
  /**
   * With crop `detector`: the box the detector already found in this very image (a frame the lane
   * saw, with its objects), used as is; the detector is not run again.
   */
  found?: UnitBox | undefined;
}

export interface AddOptions {
  name?: string | undefined;
  source: PhotoSource;
  /** The best object the running detector sees in the image (for crop `detector`), or null. */
  detect?: (image: Buffer) => Promise<UnitBox | null>;
}

interface Decoded {
  upload: PhotoUpload;
  image: RgbImage;
  box: UnitBox | null;
}

/**
 * The store's own products, taught from photos: one folder per product under `dir` with its
 * `product.json` and the photos as stored crops (JPEG), and beside each photo its vector for the
 * current backbone (`<photo>.<backbone>.f32`), computed again when the backbone changes. The
 * folders are the truth: a product.json that is lost or corrupt is rebuilt from the photos in
 * its folder. Every change is applied to the recognizer at once; changes run one at a time.
 */
export class ProductStore {
  readonly #dir: string;
  readonly #embedder: Embedder;
  readonly #limits: ProductLimits;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #products = new Map<string, ProductRecord>();
  readonly #vectors = new Map<string, Float32Array>();
  #recognizer: Recognizer;
  #queue: Promise<unknown> = Promise.resolve();
  #onChange: (() => void) | undefined;
  /** Bumped by every change: a head trained for an older generation is thrown away. */
  #generation = 0;
  #training: Promise<void> = Promise.resolve();

  private constructor(dir: string, embedder: Embedder, limits: ProductLimits, log: Logger, now: () => number) {
    this.#dir = dir;
    this.#embedder = embedder;
    this.#limits = limits;
    this.#log = log;
    this.#now = now;
    this.#recognizer = Recognizer.empty(embedder.dims);
  }

  /** Reads every product folder, embeds the photos that have no vector for this backbone yet. */
  static async open(dir: string, embedder: Embedder, limits: ProductLimits, log: Logger, now: () => number = Date.now): Promise<ProductStore> {
    const store = new ProductStore(dir, embedder, limits, log, now);
    await store.#load();
    return store;
  }

  get backbone(): string {
    return this.#embedder.id;
  }

  recognizer(): Recognizer {
    return this.#recognizer;
  }

  /** Called after every change (the MQTT state is republished). */
  onChange(listener: () => void): void {
    this.#onChange = listener;
  }

  list(): ProductSummary[] {
    return [...this.#products.values()]
      .map((p) => ({ id: p.id, name: p.name, photos: p.photos.length, updatedAt: p.updatedAt }))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  get(id: string): ProductRecord | undefined {
    return this.#products.get(id);
  }

  photoCount(): number {
    let n = 0;
    for (const p of this.#products.values()) n += p.photos.length;
    return n;
  }

  /** Every enrolled photo's vector (for evaluation and tests). */
  vectors(): Array<{ product: string; photo: string; vector: Float32Array }> {
    return [...this.#products.values()].flatMap((p) =>
      p.photos.flatMap((photo) => {
        const vector = this.#vectors.get(`${p.id}/${photo.id}`);
        return vector ? [{ product: p.id, photo: photo.id, vector }] : [];
      }),
    );
  }

  /** The stored crop of a photo (JPEG), or undefined. */
  photoFile(productId: string, photoId: string): string | undefined {
    const product = this.#products.get(productId);
    if (!product?.photos.some((p) => p.id === photoId)) return undefined;
    return path.join(this.#dir, productId, `${photoId}.jpg`);
  }

  /** Adds photos to a product (made when new): all of them or, when one cannot be used, none. */
  addPhotos(productId: string, uploads: PhotoUpload[], options: AddOptions): Promise<{ product: ProductRecord; added: ProductPhoto[] }> {
    return this.#serial(async () => {
      if (!productIdSchema.safeParse(productId).success)
        throw new ProductError(400, `"${productId.slice(0, 80)}" is not a product id: ${productIdSchema.description}`);
      if (uploads.length === 0) throw new ProductError(400, 'no photo was sent');
      const existing = this.#products.get(productId);
      if (!existing && this.#products.size >= this.#limits.maxProducts)
        throw new ProductError(409, `the store already has ${this.#limits.maxProducts} products, the most it keeps`);
      const have = existing?.photos.length ?? 0;
      if (have + uploads.length > this.#limits.maxPhotosPerProduct)
        throw new ProductError(409, `"${productId}" has ${have} photos; ${uploads.length} more would pass the limit of ${this.#limits.maxPhotosPerProduct}`);
      if (this.photoCount() + uploads.length > this.#limits.maxPhotos)
        throw new ProductError(409, `the store keeps at most ${this.#limits.maxPhotos} photos in all`);

      const decoded: Decoded[] = [];
      for (const [i, upload] of uploads.entries()) {
        const which = uploads.length > 1 ? `photo ${i + 1}: ` : '';
        try {
          decoded.push(await this.#decode(upload, options));
        } catch (err) {
          if (err instanceof ProductError) throw new ProductError(err.status, `${which}${err.message}`);
          if (err instanceof ImageError) throw new ProductError(err.fault === 'oversize' ? 413 : 400, `${which}${err.message}`);
          throw err;
        }
      }
      const now = this.#now();
      const product: ProductRecord = existing
        ? { ...existing, photos: [...existing.photos] }
        : { id: productId, name: null, createdAt: now, updatedAt: now, photos: [] };
      if (options.name !== undefined) product.name = options.name;
      const folder = path.join(this.#dir, productId);
      mkdirSync(folder, { recursive: true });
      const added: ProductPhoto[] = [];
      const vectors = new Map<string, Float32Array>();
      for (const d of decoded) {
        const rect = cropRect(d.image, d.box);
        const jpeg = await sharp(d.image.data, { raw: { width: d.image.width, height: d.image.height, channels: 3 } })
          .extract(rect)
          .resize(STORED_SIDE, STORED_SIDE, { fit: 'inside', withoutEnlargement: true })
          .jpeg({ quality: 90 })
          .toBuffer();
        const id = randomBytes(6).toString('hex');
        const vector = await this.#embedStored(jpeg);
        // Photo and vector first, product.json last: a crash in between leaves a photo that the
        // next start finds and keeps (the folder is the truth), never a listed photo without a file.
        writeFileAtomic(path.join(folder, `${id}.jpg`), jpeg);
        writeFileAtomic(this.#vectorFile(productId, id), new Uint8Array(vector.buffer));
        vectors.set(`${productId}/${id}`, vector);
        added.push({ id, addedAt: now, source: options.source, crop: d.upload.crop, box: d.box, bytes: jpeg.length, sha256: sha256(jpeg) });
      }
      product.photos.push(...added);
      product.updatedAt = now;
      this.#writeProduct(product);
      this.#products.set(productId, product);
      for (const [key, v] of vectors) this.#vectors.set(key, v);
      this.#rebuild();
      return { product, added };
    });
  }

  removePhoto(productId: string, photoId: string): Promise<ProductRecord> {
    return this.#serial(async () => {
      const product = this.#products.get(productId);
      if (!product) throw new ProductError(404, `no product "${productId.slice(0, 80)}"`);
      if (!product.photos.some((p) => p.id === photoId)) throw new ProductError(404, `"${productId}" has no photo "${photoId.slice(0, 80)}"`);
      const next = { ...product, photos: product.photos.filter((p) => p.id !== photoId), updatedAt: this.#now() };
      this.#writeProduct(next);
      this.#products.set(productId, next);
      rmSync(path.join(this.#dir, productId, `${photoId}.jpg`), { force: true });
      this.#removeVectors(productId, photoId);
      this.#rebuild();
      return next;
    });
  }

  removeProduct(productId: string): Promise<void> {
    return this.#serial(async () => {
      if (!this.#products.has(productId)) throw new ProductError(404, `no product "${productId.slice(0, 80)}"`);
      // Renamed away first, so a crash mid-delete never leaves half a product to be loaded again.
      const trash = path.join(this.#dir, `.removed-${productId}-${randomBytes(4).toString('hex')}`);
      renameSync(path.join(this.#dir, productId), trash);
      rmSync(trash, { recursive: true, force: true });
      this.#products.delete(productId);
      for (const key of [...this.#vectors.keys()]) if (key.startsWith(`${productId}/`)) this.#vectors.delete(key);
      this.#rebuild();
    });
  }

  /** Renames a product (made when new, with no photos yet). */
  setName(productId: string, name: string | null): Promise<ProductRecord> {
    return this.#serial(async () => {
      if (!productIdSchema.safeParse(productId).success)
        throw new ProductError(400, `"${productId.slice(0, 80)}" is not a product id: ${productIdSchema.description}`);
      const existing = this.#products.get(productId);
      if (!existing && this.#products.size >= this.#limits.maxProducts)
        throw new ProductError(409, `the store already has ${this.#limits.maxProducts} products, the most it keeps`);
      const now = this.#now();
      const product: ProductRecord = existing ? { ...existing, name, updatedAt: now } : { id: productId, name, createdAt: now, updatedAt: now, photos: [] };
      this.#writeProduct(product);
      this.#products.set(productId, product);
      this.#rebuild();
      return product;
    });
  }

  /** Waits for the changes under way. */
  async idle(): Promise<void> {
    await this.#queue.catch(() => {});
  }

  /** Waits until the head for the current photos is trained (or given up). */
  async trained(): Promise<void> {
    await this.idle();
    await this.#training;
  }

  /** Stops training; the store is not used after this. */
  close(): void {
    this.#generation += 1;
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => {});
    return run;
  }

  async #decode(upload: PhotoUpload, options: AddOptions): Promise<Decoded> {
    const { bytes } = upload;
    if (bytes.length === 0) throw new ImageError('empty', 'the photo is empty');
    if (bytes.length > UPLOAD_LIMITS.maxBytes) throw new ImageError('oversize', `the photo of ${bytes.length} bytes exceeds ${UPLOAD_LIMITS.maxBytes}`);
    const format = sniffFormat(bytes);
    if (format === null || !UPLOAD_LIMITS.formats.includes(format)) throw new ImageError('unsupported-format', 'not a JPEG, PNG or WebP image');
    let image: RgbImage;
    try {
      const { data, info } = await sharp(bytes, { limitInputPixels: UPLOAD_LIMITS.maxPixels, autoOrient: true, failOn: 'warning' })
        .removeAlpha()
        .toColourspace('srgb')
        .raw()
        .toBuffer({ resolveWithObject: true });
      image = { data, width: info.width, height: info.height };
    } catch (err) {
      const message = (err as Error).message;
      if (/pixel limit/i.test(message)) throw new ImageError('too-many-pixels', `the photo exceeds ${UPLOAD_LIMITS.maxPixels} pixels`);
      throw new ImageError('corrupt', `the ${format.toUpperCase()} cannot be decoded: ${message.split('\n')[0]}`);
    }
    let box: UnitBox | null = null;
    if (upload.crop === 'box') {
      if (!upload.box) throw new ProductError(400, 'crop "box" needs a box');
      box = upload.box;
    } else if (upload.crop === 'detector') {
      box = upload.found ?? (options.detect ? await options.detect(bytes) : null);
    }
    if (box !== null && (box.width <= 0 || box.height <= 0 || box.x + box.width > 1.0001 || box.y + box.height > 1.0001))
      throw new ProductError(400, 'the box must lie inside the photo and have an area');
    return { upload, image, box };
  }

  async #embedStored(jpeg: Buffer): Promise<Float32Array> {
    const { data, info } = await sharp(jpeg).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return this.#embedder.embed(await cropPixels({ data, width: info.width, height: info.height }, null));
  }

  #vectorFile(productId: string, photoId: string): string {
    return path.join(this.#dir, productId, `${photoId}.${this.#embedder.id}.f32`);
  }

  #removeVectors(productId: string, photoId: string): void {
    const folder = path.join(this.#dir, productId);
    for (const file of readdirSync(folder)) if (file.startsWith(`${photoId}.`) && file.endsWith('.f32')) rmSync(path.join(folder, file), { force: true });
    this.#vectors.delete(`${productId}/${photoId}`);
  }

  #writeProduct(product: ProductRecord): void {
    writeFileAtomic(path.join(this.#dir, product.id, PRODUCT_FILE), `${JSON.stringify(product, null, 2)}\n`);
  }

  #rebuild(): void {
    const rows: Array<{ product: string; vector: Float32Array }> = [];
    for (const product of this.#products.values())
      for (const photo of product.photos) {
        const vector = this.#vectors.get(`${product.id}/${photo.id}`);
        if (vector) rows.push({ product: product.id, vector });
      }
    this.#recognizer = Recognizer.from(this.#embedder.dims, rows);
    const generation = ++this.#generation;
    this.#training = this.#train(generation);
    this.#onChange?.();
  }

  /**
   * Trains the head for the photos of `generation` in the background (nearest neighbours serve
   * meanwhile) and swaps it in if nothing changed since; a change stops it and starts another.
   */
  async #train(generation: number): Promise<void> {
    // Quiet first: photos added one request after another start one training, not one each that
    // the next request stops (each would have competed with the embedding for the cores).
    await new Promise<void>((resolve) => setTimeout(resolve, TRAIN_AFTER_QUIET_MS));
    if (generation !== this.#generation) return;
    const base = this.#recognizer;
    try {
      const head = await trainHead(base.headInput(), { shouldStop: () => generation !== this.#generation });
      if (head === null || generation !== this.#generation) return;
      this.#recognizer = base.withHead(head);
      this.#log.info({ photos: base.size, products: base.products().length, ms: Math.round(head.trainMs) }, 'recognition head trained');
    } catch (err) {
      this.#log.error({ err }, 'recognition head not trained: nearest photos decide');
    }
  }

  async #load(): Promise<void> {
    mkdirSync(this.#dir, { recursive: true });
    const started = performance.now();
    let embedded = 0;
    for (const entry of readdirSync(this.#dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      if (entry.name.startsWith('.removed-')) {
        rmSync(path.join(this.#dir, entry.name), { recursive: true, force: true });
        continue;
      }
      if (!productIdSchema.safeParse(entry.name).success) continue;
      const product = this.#readProduct(entry.name);
      for (const photo of product.photos) {
        const file = this.#vectorFile(product.id, photo.id);
        let vector: Float32Array | undefined;
        if (existsSync(file)) {
          const bytes = readFileSync(file);
          if (bytes.length === this.#embedder.dims * 4) vector = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
        }
        if (!vector) {
          vector = await this.#embedStored(readFileSync(path.join(this.#dir, product.id, `${photo.id}.jpg`)));
          this.#removeVectors(product.id, photo.id);
          writeFileAtomic(file, new Uint8Array(vector.buffer));
          embedded += 1;
        }
        this.#vectors.set(`${product.id}/${photo.id}`, vector);
      }
      this.#products.set(product.id, product);
    }
    this.#rebuild();
    const photos = this.photoCount();
    if (photos > 0 || embedded > 0)
      this.#log.info({ products: this.#products.size, photos, embedded, ms: Math.round(performance.now() - started) }, 'enrolled products loaded');
  }

  /** A product folder's record; rebuilt from its photos when product.json is missing, corrupt or out of step. */
  #readProduct(id: string): ProductRecord {
    const folder = path.join(this.#dir, id);
    const photosOnDisk = new Set(
      readdirSync(folder)
        .filter((f) => /^[0-9a-f]{12}\.jpg$/.test(f))
        .map((f) => f.slice(0, -4)),
    );
    let record: ProductRecord | undefined;
    let problem: string | undefined;
    try {
      const raw = readFileSync(path.join(folder, PRODUCT_FILE));
      if (raw.length > PRODUCT_FILE_LIMIT) problem = `is larger than ${PRODUCT_FILE_LIMIT} bytes`;
      else {
        const parsed = productFileSchema.safeParse(JSON.parse(raw.toString('utf8')));
        if (parsed.success && parsed.data.id === id) record = parsed.data;
        else problem = parsed.success ? `names product "${parsed.data.id}"` : 'does not match its schema';
      }
    } catch (err) {
      problem = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing' : `cannot be read (${(err as Error).message.split('\n')[0]})`;
    }
    const listed = new Set(record?.photos.map((p) => p.id));
    const strays = [...photosOnDisk].filter((p) => !listed.has(p));
    const missing = record?.photos.filter((p) => !photosOnDisk.has(p.id)) ?? [];
    if (record && strays.length === 0 && missing.length === 0) return record;
    const now = this.#now();
    const rebuilt: ProductRecord = {
      id,
      name: record?.name ?? null,
      createdAt: record?.createdAt ?? now,
      updatedAt: now,
      photos: [
        ...(record?.photos.filter((p) => photosOnDisk.has(p.id)) ?? []),
        ...strays.map((photoId) => {
          const jpeg = readFileSync(path.join(folder, `${photoId}.jpg`));
          return { id: photoId, addedAt: now, source: 'http' as const, crop: 'whole' as const, box: null, bytes: jpeg.length, sha256: sha256(jpeg) };
        }),
      ],
    };
    this.#log.warn(
      { product: id, problem: problem ?? null, recovered: strays.length, lost: missing.map((p) => p.id) },
      problem ? `${PRODUCT_FILE} ${problem}: rebuilt from the photos in its folder` : `${PRODUCT_FILE} was out of step with its folder: mended`,
    );
    this.#writeProduct(rebuilt);
    return rebuilt;
  }
}

import { createReadStream } from 'node:fs';
import { z } from 'zod';
import type { createHttpApp } from '@sightline/kit';
import { addFromLaneSchema, boxSchema, cropModeSchema, idSchema, MAX_LANE_PHOTOS, productIdSchema, type AddFromLane } from '@sightline/schemas';
import { BusyError, NoModelError } from '../errors.ts';
import { UPLOAD_LIMITS } from '../pipeline/image.ts';
import type { UnitBox } from '../products/backbone.ts';
import { ProductError, type PhotoUpload, type ProductPhoto, type ProductRecord, type ProductStore } from '../products/store.ts';
import { MultipartError, parseMultipart } from './multipart.ts';

type App = ReturnType<typeof createHttpApp>;

export interface ProductRoutesTarget {
  products(): ProductStore | null;
  bestObject(image: Buffer): Promise<UnitBox | null>;
  addFromLane(productId: string, request: AddFromLane): Promise<{ product: ProductRecord; added: ProductPhoto[] }>;
  recognitionThreshold: number;
}

/** Photos in one request, and the body that carries them. */
export const MAX_PHOTOS_PER_REQUEST = 20;
export const PHOTOS_BODY_LIMIT = 64 * 1024 * 1024;

const productParams = z.strictObject({ id: productIdSchema });
const photoParams = z.strictObject({ id: productIdSchema, photo: idSchema });
const nameBody = z.strictObject({ name: z.string().trim().min(1).max(120).nullable() });

/** A box as JSON (`{"x":..}`) or as four numbers `x,y,width,height`. */
function parseBox(text: string): UnitBox {
  const trimmed = text.trim();
  const raw: unknown = trimmed.startsWith('{')
    ? JSON.parse(trimmed)
    : Object.fromEntries(trimmed.split(',').map((v, i) => [['x', 'y', 'width', 'height'][i] ?? `extra${i}`, Number(v)]));
  const parsed = boxSchema.safeParse(raw);
  if (!parsed.success) throw new ProductError(400, `box: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

function cropOf(text: string | undefined, hasBox: boolean): PhotoUpload['crop'] {
  if (text === undefined || text === '') return hasBox ? 'box' : 'detector';
  const parsed = cropModeSchema.safeParse(text.trim());
  if (!parsed.success) throw new ProductError(400, `crop must be whole, detector or box, not "${text.slice(0, 40)}"`);
  return parsed.data;
}

const photoView = (productId: string) => (p: ProductRecord['photos'][number]) => ({ ...p, url: `/products/${productId}/photos/${p.id}` });
const productView = (p: ProductRecord) => ({ ...p, photos: p.photos.map(photoView(p.id)) });

/**
 * The store's products over HTTP:
 * - `GET /products`: every product with its photo count, the backbone and the threshold;
 * - `GET /products/:id`, `PUT /products/:id` `{"name": ...}` (made when new), `DELETE /products/:id`;
 * - `POST /products/:id/photos`: photos as multipart/form-data (every file part; fields `crop` and
 *   `box` apply to all, `name` names the product) or one image as the body (`?crop=&box=`);
 * - `POST /products/:id/photos/from-lane`: frames the lane saw, as JSON `{"frames": [...], "name"?}`:
 *   recent ones by camera and seq (and an object or a box), frames sync kept by name;
 * - `GET` and `DELETE /products/:id/photos/:photo`: the stored crop (JPEG), or forgetting it.
 * Every change applies to recognition at once.
 */
export async function productRoutes(app: App, target: ProductRoutesTarget): Promise<void> {
  const raw = (_req: unknown, body: Buffer, done: (err: Error | null, body?: Buffer) => void): void => done(null, body);
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: UPLOAD_LIMITS.maxBytes }, raw);
  app.addContentTypeParser(/^image\/[\w.+-]+$/i, { parseAs: 'buffer', bodyLimit: UPLOAD_LIMITS.maxBytes }, raw);
  app.addContentTypeParser('multipart/form-data', { parseAs: 'buffer', bodyLimit: PHOTOS_BODY_LIMIT }, raw);

  const store = (): ProductStore => {
    const s = target.products();
    if (s === null) throw Object.assign(new Error('product recognition is off or still loading (see the log)'), { statusCode: 503 });
    return s;
  };

  app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
    if (err instanceof ProductError) return reply.code(err.status).send({ error: err.message });
    if (err instanceof BusyError) return reply.code(429).send({ error: err.message });
    if (err instanceof NoModelError) return reply.code(503).send({ error: 'no detector is loaded yet to find the product in the photo' });
    if (err.statusCode === 413)
      return reply.code(413).send({ error: `the body is over the limit (${PHOTOS_BODY_LIMIT} bytes for forms, ${UPLOAD_LIMITS.maxBytes} for one image)` });
    if (err.statusCode !== undefined && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message });
    if (err.statusCode === 503) return reply.code(503).send({ error: err.message });
    request.log.error({ err }, 'product request failed');
    return reply.code(500).send({ error: 'the request failed (see the log)' });
  });

  const params = <S extends z.ZodType>(schema: S, value: unknown): z.infer<S> => {
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new ProductError(400, `bad path: ${z.prettifyError(parsed.error)}`);
    return parsed.data;
  };

  app.get('/products', async () => {
    const s = store();
    return { products: s.list(), backbone: s.backbone, threshold: target.recognitionThreshold };
  });

  app.get('/products/:id', async (request) => {
    const { id } = params(productParams, request.params);
    const product = store().get(id);
    if (!product) throw new ProductError(404, `no product "${id}"`);
    return productView(product);
  });

  app.put('/products/:id', async (request, reply) => {
    const { id } = params(productParams, request.params);
    const body = nameBody.safeParse(request.body);
    if (!body.success) throw new ProductError(400, `expected {"name": "<display name>" | null}: ${z.prettifyError(body.error)}`);
    const existed = store().get(id) !== undefined;
    const product = await store().setName(id, body.data.name);
    return reply.code(existed ? 200 : 201).send(productView(product));
  });

  app.delete('/products/:id', async (request, reply) => {
    const { id } = params(productParams, request.params);
    await store().removeProduct(id);
    return reply.code(204).send();
  });

  app.post(
    '/products/:id/photos',
    { bodyLimit: PHOTOS_BODY_LIMIT, config: { bodyTypes: ['multipart/form-data', 'image/*', 'application/octet-stream'] } },
    async (request, reply) => {
      const { id } = params(productParams, request.params);
      const s = store();
      if (!Buffer.isBuffer(request.body) || request.body.length === 0) throw new ProductError(400, 'no photo was sent');
      const header = String(request.headers['content-type'] ?? '');
      let uploads: PhotoUpload[];
      let name: string | undefined;
      if (header.toLowerCase().startsWith('multipart/form-data')) {
        let parts;
        try {
          parts = parseMultipart(request.body, header, MAX_PHOTOS_PER_REQUEST + 8);
        } catch (err) {
          if (err instanceof MultipartError) throw new ProductError(400, `the form cannot be read: ${err.message}`);
          throw err;
        }
        const field = (n: string) => parts.find((p) => p.filename === null && p.name === n)?.data.toString('utf8');
        const files = parts.filter((p) => p.filename !== null);
        if (files.length === 0) throw new ProductError(400, 'the form has no file part');
        if (files.length > MAX_PHOTOS_PER_REQUEST) throw new ProductError(413, `at most ${MAX_PHOTOS_PER_REQUEST} photos in one request`);
        const boxText = field('box');
        const box = boxText !== undefined && boxText.trim() !== '' ? parseBox(boxText) : undefined;
        const crop = cropOf(field('crop'), box !== undefined);
        const nameText = field('name')?.trim();
        if (nameText !== undefined && nameText !== '') {
          if (nameText.length > 120) throw new ProductError(400, 'name: at most 120 characters');
          name = nameText;
        }
        uploads = files.map((f) => ({ bytes: f.data, crop, box }));
      } else {
        const query = z.strictObject({ crop: z.string().optional(), box: z.string().optional() }).safeParse(request.query);
        if (!query.success) throw new ProductError(400, `query: ${z.prettifyError(query.error)}`);
        const box = query.data.box !== undefined ? parseBox(query.data.box) : undefined;
        uploads = [{ bytes: request.body, crop: cropOf(query.data.crop, box !== undefined), box }];
      }
      const { product, added } = await s.addPhotos(id, uploads, { name, source: 'http', detect: (image) => target.bestObject(image) });
      return reply.code(201).send({
        product: { id: product.id, name: product.name, photos: product.photos.length, updatedAt: product.updatedAt },
        added: added.map(photoView(id)),
      });
    },
  );

  app.post('/products/:id/photos/from-lane', async (request, reply) => {
    const { id } = params(productParams, request.params);
    store();
    const body = addFromLaneSchema.safeParse(request.body);
    if (!body.success)
      throw new ProductError(
        400,
        `expected {"frames": [{"camera", "seq", "object"?, "box"?} or {"kept", "box"?}, 1-${MAX_LANE_PHOTOS} of them], "name"?}: ${z.prettifyError(body.error)}`,
      );
    const { product, added } = await target.addFromLane(id, body.data);
    return reply.code(201).send({
      product: { id: product.id, name: product.name, photos: product.photos.length, updatedAt: product.updatedAt },
      added: added.map(photoView(id)),
    });
  });

  app.get('/products/:id/photos/:photo', async (request, reply) => {
    const { id, photo } = params(photoParams, request.params);
    const file = store().photoFile(id, photo);
    if (file === undefined) throw new ProductError(404, `"${id}" has no photo "${photo}"`);
    return reply.type('image/jpeg').header('cache-control', 'private, max-age=31536000, immutable').send(createReadStream(file));
  });

  app.delete('/products/:id/photos/:photo', async (request, reply) => {
    const { id, photo } = params(photoParams, request.params);
    await store().removePhoto(id, photo);
    return reply.code(204).send();
  });
}

const productSummary = {
  type: 'object',
  properties: { id: { type: 'string' }, name: { type: 'string', nullable: true }, photos: { type: 'integer' }, updatedAt: { type: 'integer' } },
};
const error = { content: { 'application/json': { schema: { type: 'object', properties: { error: { type: 'string' } } } } } };

/** OpenAPI 3 description of these routes, served in the service's `/openapi.json`. */
export const PRODUCT_ROUTES_OPENAPI = {
  '/products': {
    get: {
      summary: 'The enrolled products with their photo counts, the backbone and the recognition threshold',
      responses: {
        '200': {
          description: 'products',
          content: { 'application/json': { schema: { type: 'object', properties: { products: { type: 'array', items: productSummary } } } } },
        },
      },
    },
  },
  '/products/{id}': {
    get: { summary: 'One product and its photos', responses: { '200': { description: 'the product' }, '404': { description: 'no such product', ...error } } },
    put: {
      summary: 'Name a product (made when new)',
      requestBody: {
        required: true,
        content: { 'application/json': { schema: { type: 'object', required: ['name'], properties: { name: { type: 'string', nullable: true } } } } },
      },
      responses: {
        '200': { description: 'renamed' },
        '201': { description: 'made' },
        '400': { description: 'bad id or body', ...error },
        '409': { description: 'too many products', ...error },
      },
    },
    delete: {
      summary: 'Forget a product and its photos',
      responses: { '204': { description: 'forgotten' }, '404': { description: 'no such product', ...error } },
    },
  },
  '/products/{id}/photos': {
    post: {
      summary: 'Teach a product from photos (made when new); applied to recognition at once',
      description:
        'multipart/form-data: every file part is a photo (JPEG, PNG or WebP, up to 20); fields `crop` (whole | detector | box, default detector, or box when a box is given), `box` (JSON or x,y,width,height normalised), `name`. Or one image as the body, with `?crop=&box=`. All photos are added or, when one cannot be used, none.',
      responses: {
        '201': { description: 'added: the product summary and the new photos' },
        '400': { description: 'a photo is empty, corrupt or not an image; a bad box or crop', ...error },
        '409': { description: 'a limit on products or photos would be passed', ...error },
        '413': { description: 'body over 64 MiB (forms) or 16 MiB (one image), or over 20 photos', ...error },
        '503': { description: 'recognition is off or loading, or no detector is loaded yet for crop `detector`', ...error },
      },
    },
  },
  '/products/{id}/photos/from-lane': {
    post: {
      summary: 'Teach a product from frames the lane saw (made when new), source `lane`; applied to recognition at once',
      description:
        'JSON `{"frames": [...], "name"?}`, 1-20 frames, each `{"camera", "seq", "object"?, "box"?}` (a recent frame, still held: the last SIGHTLINE_INFERENCE_RECENT_FRAMES of each camera) or `{"kept": "<name from sync\'s GET /kept>", "box"?}` (a frame sync kept, fetched from it). The part learned is `box` when given, else object number `object` of the frame\'s detections, else the best-scored object recognition compares (people aside), else the whole frame; a kept image without a box is cut to the best object the running detector finds. All frames are added or, when one is missing or bad, none.',
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              required: ['frames'],
              properties: {
                frames: {
                  type: 'array',
                  minItems: 1,
                  maxItems: MAX_LANE_PHOTOS,
                  items: {
                    type: 'object',
                    properties: {
                      camera: { type: 'string' },
                      seq: { type: 'integer', minimum: 0 },
                      object: { type: 'integer', minimum: 0 },
                      kept: { type: 'string' },
                      box: {
                        type: 'object',
                        properties: { x: { type: 'number' }, y: { type: 'number' }, width: { type: 'number' }, height: { type: 'number' } },
                      },
                    },
                  },
                },
                name: { type: 'string' },
              },
            },
          },
        },
      },
      responses: {
        '201': { description: 'added: the product summary and the new photos' },
        '400': { description: 'a bad body, camera id, seq, kept name, object index or box; a frame that cannot be decoded', ...error },
        '404': { description: 'frames no longer held (all named), or a kept image sync does not have', ...error },
        '409': { description: 'a limit on products or photos would be passed', ...error },
        '502': { description: 'the sync service answered with an error', ...error },
        '503': { description: 'recognition is off or loading; kept images asked for and no sync service configured, or it cannot be reached', ...error },
      },
    },
  },
  '/products/{id}/photos/{photo}': {
    get: {
      summary: 'The stored crop of a photo (JPEG)',
      responses: { '200': { description: 'image/jpeg' }, '404': { description: 'no such photo', ...error } },
    },
    delete: { summary: 'Forget a photo', responses: { '204': { description: 'forgotten' }, '404': { description: 'no such photo', ...error } } },
  },
};

import { createHash, randomUUID } from 'node:crypto';
import type { createHttpApp } from '@sightline/kit';
import type { Prediction } from '../decoders/types.ts';

type App = ReturnType<typeof createHttpApp>;

/** The Custom Vision prediction container's body limit. */
export const IMAGE_BYTES_LIMIT = 4 * 1024 * 1024;

/** What the prediction routes take: the image itself, or a form with it in `imageData`. */
export const IMAGE_BODY_TYPES = ['application/octet-stream', 'image/*', 'multipart/form-data'] as const;

export type ImageErrorCode =
  'BadRequestImageStream' | 'BadRequestImageFormat' | 'BadRequestImageDimensions' | 'BadRequestImageSizeBytes' | 'BadRequestImageUrl';

/** The image sent cannot be used: answered 400 with Custom Vision's `{code, message}`. */
export class ImageError extends Error {
  override name = 'ImageError';
  readonly code: ImageErrorCode;
  constructor(code: ImageErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface PredictResult {
  modelId: string;
  modelVersion: string;
  predictions: Prediction[];
}

export interface MappedError {
  statusCode: number;
  code: string;
  message: string;
}

export interface PredictionApiOptions {
  predict: (image: Buffer) => Promise<PredictResult>;
  /** Turns what predict threw into an answer; undefined falls back to ImageError → 400, else 500. */
  mapError?: (err: unknown) => MappedError | undefined;
  /** The service's other routes, described in the same `/openapi.json`. */
  openapiPaths?: Record<string, unknown>;
}

export interface CustomVisionPrediction {
  probability: number;
  tagId: string;
  tagName: string;
  boundingBox: { left: number; top: number; width: number; height: number } | null;
  tagType: 'Regular';
}

export interface CustomVisionResponse {
  id: string;
  project: string;
  iteration: string;
  created: string;
  predictions: CustomVisionPrediction[];
}

/** A stable UUID-shaped tag id per model and label (Custom Vision's are GUIDs). */
export function tagIdFor(modelId: string, label: string): string {
  const h = createHash('sha1').update(`${modelId}\u0000${label}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function toCustomVisionResponse(result: PredictResult, now: Date = new Date()): CustomVisionResponse {
  return {
    id: randomUUID(),
    project: result.modelId,
    iteration: result.modelVersion,
    created: now.toISOString(),
    predictions: result.predictions.map((p) => ({
      probability: p.score,
      tagId: tagIdFor(result.modelId, p.label),
      tagName: p.label,
      boundingBox: p.box ? { left: p.box.x, top: p.box.y, width: p.box.width, height: p.box.height } : null,
      tagType: 'Regular' as const,
    })),
  };
}

/** The `imageData` field of a multipart/form-data body (else its first file part). */
export function multipartImage(body: Buffer, contentType: string): Buffer {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!boundary) throw new ImageError('BadRequestImageStream', 'multipart/form-data without a boundary');
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]!.trim()}`);
  const parts: Array<{ headers: string; data: Buffer }> = [];
  let start = body.indexOf(delimiter);
  while (start !== -1) {
    const headerStart = start + delimiter.length;
    if (body.subarray(headerStart, headerStart + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, headerStart);
    if (next === -1) break;
    const part = body.subarray(headerStart + 2, next - 2); // skip CRLF after delimiter and before the next
    const split = part.indexOf('\r\n\r\n');
    if (split !== -1) parts.push({ headers: part.subarray(0, split).toString('latin1'), data: part.subarray(split + 4) });
    start = next;
  }
  const named = parts.find((p) => /content-disposition:[^\r\n]*\bname="?imageData"?/i.test(p.headers)) ?? parts.find((p) => /filename=/i.test(p.headers));
  if (!named) throw new ImageError('BadRequestImageStream', 'multipart/form-data body has no imageData field');
  return named.data;
}

const predictionSchema = {
  type: 'object',
  required: ['probability', 'tagId', 'tagName', 'boundingBox', 'tagType'],
  properties: {
    probability: { type: 'number', minimum: 0, maximum: 1 },
    tagId: { type: 'string' },
    tagName: { type: 'string' },
    boundingBox: {
      type: 'object',
      nullable: true,
      description: 'Normalised to the image, origin top-left; null for a classification',
      required: ['left', 'top', 'width', 'height'],
      properties: { left: { type: 'number' }, top: { type: 'number' }, width: { type: 'number' }, height: { type: 'number' } },
    },
    tagType: { type: 'string', enum: ['Regular'] },
  },
};

const errorSchema = { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } };

function operation(summary: string, params: string[]): Record<string, unknown> {
  return {
    summary,
    parameters: params.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
    requestBody: {
      required: true,
      content: {
        'application/octet-stream': { schema: { type: 'string', format: 'binary', maxLength: IMAGE_BYTES_LIMIT } },
        'image/*': { schema: { type: 'string', format: 'binary', maxLength: IMAGE_BYTES_LIMIT } },
        'multipart/form-data': { schema: { type: 'object', required: ['imageData'], properties: { imageData: { type: 'string', format: 'binary' } } } },
      },
    },
    responses: {
      '200': {
        description: 'Predictions, best first',
        content: {
          'application/json': {
            schema: {
              type: 'object',
              required: ['id', 'project', 'iteration', 'created', 'predictions'],
              properties: {
                id: { type: 'string', format: 'uuid' },
                project: { type: 'string', description: 'the model id' },
                iteration: { type: 'string', description: 'the model version' },
                created: { type: 'string', format: 'date-time' },
                predictions: { type: 'array', items: predictionSchema },
              },
            },
          },
        },
      },
      '400': {
        description: 'The image cannot be used (empty, not an image, truncated, too many pixels)',
        content: { 'application/json': { schema: errorSchema } },
      },
      '413': { description: 'Body over 4 MB', content: { 'application/json': { schema: errorSchema } } },
      '415': { description: 'Neither application/octet-stream, image/* nor multipart/form-data', content: { 'application/json': { schema: errorSchema } } },
    },
  };
}

const ROUTES: Array<{ path: string; openapiPath: string; params: string[] }> = [
  { path: '/image', openapiPath: '/image', params: [] },
  ...['classify', 'detect'].flatMap((kind) =>
    ['', '/nostore'].map((suffix) => ({
      path: `/:project/${kind}/iterations/:name/image${suffix}`,
      openapiPath: `/{project}/${kind}/iterations/{name}/image${suffix}`,
      params: ['project', 'name'],
    })),
  ),
];

export const PREDICTION_OPENAPI = {
  openapi: '3.0.3',
  info: { title: 'Sightline Custom Vision prediction API', version: '1.0.0', description: 'A drop-in for the Custom Vision exported prediction container' },
  paths: Object.fromEntries(ROUTES.map((r) => [r.openapiPath, { post: operation(r.params.length ? 'Predict (Custom Vision alias)' : 'Predict', r.params) }])),
};

/** sharp's (libvips') complaints about the image itself, as Custom Vision's image errors; else undefined. */
export function imageErrorFromSharp(err: unknown): ImageError | undefined {
  const message = err instanceof Error ? err.message : '';
  if (/exceeds pixel limit/i.test(message)) return new ImageError('BadRequestImageDimensions', 'the image has too many pixels');
  if (/unsupported image format|Input buffer is empty/i.test(message))
    return new ImageError('BadRequestImageFormat', 'the body is not an image in a supported format');
  if (/premature end|truncated|corrupt|VipsJpeg|pngload|webpload|gifload|tiffload|heifload|Input buffer has corrupt/i.test(message)) {
    return new ImageError('BadRequestImageFormat', 'the image is truncated or corrupt');
  }
  return undefined;
}

function defaultMapError(err: unknown): MappedError {
  const image = err instanceof ImageError ? err : imageErrorFromSharp(err);
  if (image) return { statusCode: 400, code: image.code, message: image.message };
  return { statusCode: 500, code: 'InternalServerError', message: 'the prediction failed' };
}

/** Fastify plugin: the Custom Vision prediction container's routes, answering with `predict`. */
export async function predictionApi(app: App, options: PredictionApiOptions): Promise<void> {
  const raw = (_req: unknown, body: Buffer, done: (err: Error | null, body?: Buffer) => void): void => done(null, body);
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: IMAGE_BYTES_LIMIT }, raw);
  app.addContentTypeParser(/^image\/[\w.+-]+$/i, { parseAs: 'buffer', bodyLimit: IMAGE_BYTES_LIMIT }, raw);
  app.addContentTypeParser('multipart/form-data', { parseAs: 'buffer', bodyLimit: IMAGE_BYTES_LIMIT + 64 * 1024 }, raw);

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply) => {
    if (err.statusCode === 413) return reply.code(413).send({ code: 'BadRequestImageSizeBytes', message: `the image is over ${IMAGE_BYTES_LIMIT} bytes` });
    if (err.statusCode === 415)
      return reply
        .code(415)
        .send({ code: 'UnsupportedMediaType', message: 'send the image as application/octet-stream, image/* or multipart/form-data (imageData)' });
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)
      return reply.code(err.statusCode).send({ code: 'BadRequest', message: err.message });
    const mapped = options.mapError?.(err) ?? defaultMapError(err);
    if (mapped.statusCode >= 500) request.log.error({ err }, 'prediction failed');
    return reply.code(mapped.statusCode).send({ code: mapped.code, message: mapped.message });
  });

  const openapi = { ...PREDICTION_OPENAPI, paths: { ...PREDICTION_OPENAPI.paths, ...options.openapiPaths } };
  app.get('/openapi.json', async () => openapi);

  for (const route of ROUTES) {
    app.post(route.path, { bodyLimit: IMAGE_BYTES_LIMIT + 64 * 1024, config: { bodyTypes: IMAGE_BODY_TYPES } }, async (request, reply) => {
      const header = String(request.headers['content-type'] ?? '');
      const contentType = header.toLowerCase();
      // The type was checked by the HTTP app (bodyTypes); an empty body is never parsed.
      if (!Buffer.isBuffer(request.body)) throw new ImageError('BadRequestImageStream', 'the request has no image');
      const image = contentType.startsWith('multipart/form-data') ? multipartImage(request.body, header) : request.body;
      if (image.length === 0) throw new ImageError('BadRequestImageStream', 'the request has no image');
      if (image.length > IMAGE_BYTES_LIMIT)
        return reply.code(413).send({ code: 'BadRequestImageSizeBytes', message: `the image is over ${IMAGE_BYTES_LIMIT} bytes` });
      let result: PredictResult;
      try {
        result = await options.predict(image);
      } catch (err) {
        const mapped = options.mapError?.(err) ?? defaultMapError(err);
        if (mapped.statusCode >= 500) request.log.error({ err }, 'prediction failed');
        return reply.code(mapped.statusCode).send({ code: mapped.code, message: mapped.message });
      }
      return toCustomVisionResponse(result);
    });
  }
}

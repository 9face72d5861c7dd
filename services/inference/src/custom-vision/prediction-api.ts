import { createHash, randomUUID } from 'node:crypto';
import type { createHttpApp } from '@sightline/kit';
import { z } from 'zod';
import type { Prediction } from '../decoders/types.ts';
import { parseMultipart, type FormPart } from '../http/multipart.ts';

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
  /**
   * Fetches the image a `/url` prediction names (throwing ImageError when it cannot); without
   * it the url routes answer 400 BadRequestImageUrl saying how to turn them on.
   */
  fetchImage?: ((url: string) => Promise<Buffer>) | undefined;
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
  let parts: FormPart[];
  try {
    parts = parseMultipart(body, contentType);
  } catch (err) {
    throw new ImageError('BadRequestImageStream', `multipart/form-data body cannot be read: ${(err as Error).message}`);
  }
  const named = parts.find((p) => p.name === 'imageData') ?? parts.find((p) => p.filename !== null);
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

const imageBody = {
  'application/octet-stream': { schema: { type: 'string', format: 'binary', maxLength: IMAGE_BYTES_LIMIT } },
  'image/*': { schema: { type: 'string', format: 'binary', maxLength: IMAGE_BYTES_LIMIT } },
  'multipart/form-data': { schema: { type: 'object', required: ['imageData'], properties: { imageData: { type: 'string', format: 'binary' } } } },
};

const urlBody = {
  'application/json': { schema: { type: 'object', required: ['url'], properties: { url: { type: 'string', format: 'uri', minLength: 1 } } } },
};

function operation(summary: string, params: string[], input: 'image' | 'url', sdk: boolean): Record<string, unknown> {
  const errors = { content: { 'application/json': { schema: errorSchema } } };
  return {
    summary,
    parameters: params.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
    ...(sdk ? { security: [{}, { bearerToken: [] }, { predictionKey: [] }] } : {}),
    requestBody: { required: true, content: input === 'image' ? imageBody : urlBody },
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
      '400':
        input === 'image'
          ? { description: 'The image cannot be used (empty, not an image, truncated, too many pixels)', ...errors }
          : {
              description:
                'BadRequestImageUrl: fetching by URL is off (SIGHTLINE_INFERENCE_PREDICTION_URL_HOSTS unset), the host is not listed, the body is not {"url": "..."}, or the URL did not answer 2xx within 10 s (redirects are not followed); BadRequestImageSizeBytes: the image there is over 4 MB; else as for an image',
              ...errors,
            },
      ...(sdk ? { '401': { description: 'With SIGHTLINE_HTTP_TOKEN: neither Authorization: Bearer <token> nor Prediction-Key: <token>', ...errors } } : {}),
      ...(input === 'image' ? { '413': { description: 'Body over 4 MB', ...errors } } : {}),
      '415': { description: input === 'image' ? 'Neither application/octet-stream, image/* nor multipart/form-data' : 'Not application/json', ...errors },
    },
  };
}

interface Route {
  path: string;
  /** Where `/openapi.json` describes it; undefined for a second spelling of a described route. */
  openapiPath: string | undefined;
  params: string[];
  input: 'image' | 'url';
  /** Custom Vision's cloud API, as its prediction SDK calls it. */
  sdk: boolean;
}

/** Where the prediction SDK's routes are: these also take the token as `Prediction-Key`. */
export const SDK_ROUTES_PREFIX = '/customvision/';

/**
 * The cloud prediction API's routes, so the SDK (`@azure/cognitiveservices-customvision-prediction`)
 * works with this service as its endpoint. The SDK spells `prediction`, the REST reference
 * `Prediction`: both are served. As in the exported container, the running model answers whatever
 * project and published iteration are named.
 */
function sdkRoutes(): Route[] {
  const routes: Route[] = [];
  for (const version of ['v3.0', 'v3.1']) {
    for (const kind of ['classify', 'detect']) {
      for (const input of ['image', 'url'] as const) {
        for (const suffix of ['', '/nostore']) {
          for (const prediction of ['prediction', 'Prediction']) {
            routes.push({
              path: `${SDK_ROUTES_PREFIX}${version}/${prediction}/:projectId/${kind}/iterations/:publishedName/${input}${suffix}`,
              openapiPath:
                prediction === 'prediction'
                  ? `${SDK_ROUTES_PREFIX}${version}/prediction/{projectId}/${kind}/iterations/{publishedName}/${input}${suffix}`
                  : undefined,
              params: ['projectId', 'publishedName'],
              input,
              sdk: true,
            });
          }
        }
      }
    }
  }
  return routes;
}

const ROUTES: Route[] = [
  { path: '/image', openapiPath: '/image', params: [], input: 'image', sdk: false },
  ...['classify', 'detect'].flatMap((kind) =>
    ['', '/nostore'].map((suffix) => ({
      path: `/:project/${kind}/iterations/:name/image${suffix}`,
      openapiPath: `/{project}/${kind}/iterations/{name}/image${suffix}`,
      params: ['project', 'name'],
      input: 'image' as const,
      sdk: false,
    })),
  ),
  ...sdkRoutes(),
];

const summaryOf = (route: Route): string => {
  if (route.sdk) return route.input === 'image' ? 'Predict (Custom Vision prediction SDK)' : 'Predict the image at a URL (Custom Vision prediction SDK)';
  return route.params.length ? 'Predict (Custom Vision alias)' : 'Predict';
};

export const PREDICTION_OPENAPI = {
  openapi: '3.0.3',
  info: {
    title: 'Sightline Custom Vision prediction API',
    version: '1.0.0',
    description:
      'A drop-in for the Custom Vision exported prediction container, and for the cloud prediction API as its SDK calls it (/customvision/v3.0|v3.1/prediction/..., also spelt Prediction). The running model answers whatever project and iteration are named.',
  },
  components: {
    securitySchemes: {
      bearerToken: { type: 'http', scheme: 'bearer', description: 'SIGHTLINE_HTTP_TOKEN, when set' },
      predictionKey: { type: 'apiKey', in: 'header', name: 'Prediction-Key', description: 'SIGHTLINE_HTTP_TOKEN, when set (SDK routes only)' },
    },
  },
  paths: Object.fromEntries(
    ROUTES.flatMap((r) => (r.openapiPath === undefined ? [] : [[r.openapiPath, { post: operation(summaryOf(r), r.params, r.input, r.sdk) }]])),
  ),
};

/** The Prediction-Key header the SDK routes take the token in (see HttpAccess.tokenHeader). */
export function predictionKeyHeader(routeUrl: string): string | undefined {
  return routeUrl.startsWith(SDK_ROUTES_PREFIX) ? 'Prediction-Key' : undefined;
}

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

const imageUrlBody = z.object({ url: z.string().min(1) });

interface Reply {
  code(statusCode: number): { send(payload: unknown): unknown };
}

const URL_ROUTES = new Set(ROUTES.filter((r) => r.input === 'url').map((r) => r.path));

/** Fastify plugin: the Custom Vision prediction container's routes and the cloud routes its SDK calls, answering with `predict`. */
export async function predictionApi(app: App, options: PredictionApiOptions): Promise<void> {
  const raw = (_req: unknown, body: Buffer, done: (err: Error | null, body?: Buffer) => void): void => done(null, body);
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: IMAGE_BYTES_LIMIT }, raw);
  app.addContentTypeParser(/^image\/[\w.+-]+$/i, { parseAs: 'buffer', bodyLimit: IMAGE_BYTES_LIMIT }, raw);
  app.addContentTypeParser('multipart/form-data', { parseAs: 'buffer', bodyLimit: IMAGE_BYTES_LIMIT + 64 * 1024 }, raw);

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply) => {
    const byUrl = URL_ROUTES.has(request.routeOptions.url ?? '');
    if (err.statusCode === 401) return reply.code(401).send({ code: 'Unauthorized', message: err.message });
    // A url route's body is JSON: one that is empty or unparsable is a bad image URL to Custom Vision;
    // one over the JSON limit stays 413, as on every JSON route of every service.
    if (byUrl && (err.statusCode === 400 || err.statusCode === 413))
      return reply.code(err.statusCode).send({ code: 'BadRequestImageUrl', message: `send {"url": "..."}: ${err.message}` });
    if (err.statusCode === 413) return reply.code(413).send({ code: 'BadRequestImageSizeBytes', message: `the image is over ${IMAGE_BYTES_LIMIT} bytes` });
    if (err.statusCode === 415)
      return reply.code(415).send({
        code: 'UnsupportedMediaType',
        message: byUrl ? 'send {"url": "..."} as application/json' : 'send the image as application/octet-stream, image/* or multipart/form-data (imageData)',
      });
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)
      return reply.code(err.statusCode).send({ code: 'BadRequest', message: err.message });
    return sendError(err, request.log, reply);
  });

  function sendError(err: unknown, log: App['log'], reply: Reply): unknown {
    const mapped = options.mapError?.(err) ?? defaultMapError(err);
    if (mapped.statusCode >= 500) log.error({ err }, 'prediction failed');
    return reply.code(mapped.statusCode).send({ code: mapped.code, message: mapped.message });
  }

  const openapi = { ...PREDICTION_OPENAPI, paths: { ...PREDICTION_OPENAPI.paths, ...options.openapiPaths } };
  app.get('/openapi.json', async () => openapi);

  /**
   * The answer names the model that made it (`project` its id, `iteration` its version), on the
   * SDK's routes too, rather than echoing the project id asked for: this service has no projects,
   * and a caller who compares `project` with their own project id should learn that some other
   * model answered, not be told it was theirs. The SDK takes both fields as they come.
   */
  async function answer(image: Buffer, log: App['log'], reply: Reply): Promise<unknown> {
    try {
      return toCustomVisionResponse(await options.predict(image));
    } catch (err) {
      return sendError(err, log, reply);
    }
  }

  for (const route of ROUTES.filter((r) => r.input === 'image')) {
    app.post(route.path, { bodyLimit: IMAGE_BYTES_LIMIT + 64 * 1024, config: { bodyTypes: IMAGE_BODY_TYPES } }, async (request, reply) => {
      const header = String(request.headers['content-type'] ?? '');
      const contentType = header.toLowerCase();
      // The type was checked by the HTTP app (bodyTypes); an empty body is never parsed.
      if (!Buffer.isBuffer(request.body)) throw new ImageError('BadRequestImageStream', 'the request has no image');
      const image = contentType.startsWith('multipart/form-data') ? multipartImage(request.body, header) : request.body;
      if (image.length === 0) throw new ImageError('BadRequestImageStream', 'the request has no image');
      if (image.length > IMAGE_BYTES_LIMIT)
        return reply.code(413).send({ code: 'BadRequestImageSizeBytes', message: `the image is over ${IMAGE_BYTES_LIMIT} bytes` });
      return answer(image, request.log, reply);
    });
  }

  for (const route of ROUTES.filter((r) => r.input === 'url')) {
    app.post(route.path, async (request, reply) => {
      if (options.fetchImage === undefined) {
        throw new ImageError(
          'BadRequestImageUrl',
          'predicting from a URL is off: list the hosts images may be fetched from in SIGHTLINE_INFERENCE_PREDICTION_URL_HOSTS',
        );
      }
      const body = imageUrlBody.safeParse(request.body);
      if (!body.success) throw new ImageError('BadRequestImageUrl', 'send {"url": "..."} with the URL of the image');
      const image = await options.fetchImage(body.data.url);
      if (image.length === 0) throw new ImageError('BadRequestImageStream', 'the url answered no image');
      return answer(image, request.log, reply);
    });
  }
}

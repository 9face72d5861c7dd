import type { Runtime } from '@sightline/kit';
import type { InferenceApp } from '../app.ts';
import { fetchImageUrl } from '../custom-vision/image-url.ts';
import { predictionApi, type MappedError } from '../custom-vision/prediction-api.ts';
import { BusyError, NoModelError } from '../errors.ts';
import { ImageError } from '../pipeline/image.ts';
import { MODEL_ROUTES_OPENAPI, registerModelRoutes } from './models.ts';
import { PRODUCT_ROUTES_OPENAPI, productRoutes } from './products.ts';

/**
 * The service's routes beside the kit's health and metrics: model switching, products, and predictions.
 * `predictionUrlHosts` turns on the url prediction routes, fetching only from those hosts.
 */
export function registerRoutes(http: Runtime['http'], app: InferenceApp, predictionUrlHosts: readonly string[], recognitionThreshold: number): void {
  const urlHosts = new Set(predictionUrlHosts);
  registerModelRoutes(http, app);
  // Its own plugin: its body parsers (forms up to 64 MiB) and errors stay with its routes.
  void http.register(productRoutes, {
    products: () => app.products(),
    bestObject: (image) => app.bestObject(image),
    addFromLane: (id, request) => app.addFromLane(id, request),
    recognitionThreshold,
  });
  // The Custom Vision prediction container's API, so its existing clients work unchanged.
  void http.register(predictionApi, {
    predict: async (image) => {
      const result = await app.predict(image);
      return { modelId: result.model.id, modelVersion: result.model.version, predictions: result.predictions };
    },
    mapError: customVisionError,
    openapiPaths: { ...MODEL_ROUTES_OPENAPI, ...PRODUCT_ROUTES_OPENAPI },
    fetchImage: urlHosts.size > 0 ? (url) => fetchImageUrl(url, urlHosts) : undefined,
  });
}

const CUSTOM_VISION_IMAGE_CODES: Record<ImageError['fault'], string> = {
  empty: 'BadRequestImageStream',
  oversize: 'BadRequestImageSizeBytes',
  'unsupported-format': 'BadRequestImageFormat',
  'too-many-pixels': 'BadRequestImageDimensions',
  corrupt: 'BadRequestImageFormat',
};

function customVisionError(err: unknown): MappedError | undefined {
  if (err instanceof ImageError) return { statusCode: err.status === 415 ? 400 : err.status, code: CUSTOM_VISION_IMAGE_CODES[err.fault], message: err.message };
  if (err instanceof BusyError) return { statusCode: 429, code: 'TooManyRequests', message: err.message };
  if (err instanceof NoModelError) return { statusCode: 503, code: 'ServiceUnavailable', message: 'no model is loaded yet' };
  return undefined;
}

import type { Runtime } from '@sightline/kit';
import { modelCommandSchema } from '@sightline/schemas';
import { z } from 'zod';
import { ModelError, type ModelInfo } from '../model/loader.ts';

export interface ModelRoutesTarget {
  current(): ModelInfo | null;
  availableModels(): Promise<string[]>;
  switchModel(id: string): Promise<ModelInfo>;
}

/**
 * `GET /models`: the models that can be asked for and the one serving.
 * `POST /models/current` `{"model": "<id>"}`: load, check, warm up and swap; 200 with the model,
 * 400 for a bad request, 404 for an unknown model, 422 for a model that cannot be used (the old
 * one keeps serving).
 */
const modelInfo = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    version: { type: 'string' },
    task: { type: 'string', enum: ['classification', 'detection'] },
    source: { type: 'string', enum: ['builtin', 'folder', 'custom-vision'] },
  },
};
const refusal = {
  description: 'the model cannot be used; the old one keeps serving',
  content: { 'application/json': { schema: { type: 'object', properties: { error: { type: 'string' }, fault: { type: 'string' }, current: modelInfo } } } },
};

/** OpenAPI 3 description of these routes, served in the service's `/openapi.json`. */
export const MODEL_ROUTES_OPENAPI = {
  '/models': {
    get: {
      summary: 'The model serving and the models that can be asked for',
      responses: {
        '200': {
          description: 'models',
          content: {
            'application/json': { schema: { type: 'object', properties: { current: modelInfo, available: { type: 'array', items: { type: 'string' } } } } },
          },
        },
      },
    },
  },
  '/models/current': {
    post: {
      summary: 'Switch models: load, check, warm up, then swap between two frames',
      requestBody: {
        required: true,
        content: {
          'application/json': { schema: { type: 'object', required: ['model'], properties: { model: { type: 'string' } }, additionalProperties: false } },
        },
      },
      responses: {
        '200': { description: 'the new model serves', content: { 'application/json': { schema: { type: 'object', properties: { current: modelInfo } } } } },
        '400': { description: 'the body is not {"model": "<id>"}' },
        '404': refusal,
        '422': refusal,
      },
    },
  },
};

export function registerModelRoutes(http: Runtime['http'], target: ModelRoutesTarget): void {
  http.get('/models', async () => ({ current: target.current(), available: await target.availableModels() }));

  http.post('/models/current', async (request, reply) => {
    const parsed = modelCommandSchema.safeParse(request.body);
    if (!parsed.success) {
      return reply.code(400).send({ error: `expected {"model": "<id>"}: ${z.prettifyError(parsed.error)}` });
    }
    try {
      const model = await target.switchModel(parsed.data.model);
      return { current: model };
    } catch (err) {
      if (err instanceof ModelError) {
        return reply.code(err.status).send({ error: err.message, fault: err.fault, current: target.current() });
      }
      throw err;
    }
  });
}

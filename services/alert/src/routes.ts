import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { alertIdSchema, alertSchema, alertStateSchema, alertTypeSchema, idSchema, severitySchema } from '@sightline/schemas';
import type { RuleEngine, TransitionResult } from './engine.ts';
import { decodeCursor, type AlertStore } from './store.ts';

export const MAX_PAGE = 500;

const time = z.union([
  z
    .string()
    .regex(/^\d{1,16}$/)
    .transform(Number),
  z
    .string()
    .max(40)
    .refine((s) => !Number.isNaN(Date.parse(s)), 'must be epoch milliseconds or an ISO 8601 time')
    .transform((s) => Date.parse(s)),
]);

export const listQuerySchema = z.strictObject({
  state: alertStateSchema.optional(),
  type: alertTypeSchema.optional(),
  severity: severitySchema.optional(),
  camera: idSchema.optional(),
  lane: idSchema.optional(),
  since: time.optional(),
  until: time.optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, `must be a whole number 1-${MAX_PAGE}`)
    .transform(Number)
    .pipe(z.number().min(1, `must be 1-${MAX_PAGE}`).max(MAX_PAGE, `must be 1-${MAX_PAGE}`))
    .optional(),
  cursor: z.string().max(200).optional(),
});

function problems(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.map(String).join('.') || 'query'}: ${issue.message}`).join('; ');
}

export function registerAlertRoutes(http: FastifyInstance, engine: RuleEngine, store: AlertStore): void {
  http.get('/alerts', async (request, reply) => {
    const parsed = listQuerySchema.safeParse(request.query ?? {});
    if (!parsed.success) return reply.code(400).send({ error: 'bad request', message: problems(parsed.error) });
    const { limit = 100, cursor, ...filter } = parsed.data;
    let after: { firstSeen: number; id: string } | undefined;
    if (cursor !== undefined) {
      const decoded = decodeCursor(cursor);
      if (decoded === null) return reply.code(400).send({ error: 'bad request', message: 'cursor: not a cursor from a previous page' });
      after = decoded;
    }
    if (filter.since !== undefined && filter.until !== undefined && filter.since > filter.until) {
      return reply.code(400).send({ error: 'bad request', message: 'since must not be after until' });
    }
    return store.list(filter, limit, after);
  });

  const withId =
    (handler: (id: string) => TransitionResult | undefined) =>
    async (request: { params: unknown }, reply: { code(n: number): { send(body: unknown): unknown } }) => {
      const parsed = alertIdSchema.safeParse((request.params as { id?: unknown }).id);
      if (!parsed.success) return reply.code(400).send({ error: 'bad request', message: `id: ${parsed.error.issues[0]?.message ?? 'invalid'}` });
      const result = handler(parsed.data);
      if (result === undefined) return reply.code(404).send({ error: 'not found', message: `no alert ${parsed.data}` });
      if (!result.ok) return reply.code(result.status).send({ error: result.status === 404 ? 'not found' : 'conflict', message: result.message });
      return reply.code(200).send(result.alert);
    };

  http.get(
    '/alerts/:id',
    withId((id) => {
      const alert = engine.openAlerts().find((a) => a.id === id) ?? store.get(id);
      return alert === undefined ? undefined : { ok: true, alert };
    }),
  );
  http.post(
    '/alerts/:id/acknowledge',
    withId((id) => engine.acknowledge(id)),
  );
  http.post(
    '/alerts/:id/resolve',
    withId((id) => engine.resolve(id)),
  );
  http.get('/openapi.json', async () => openApiDocument());
}

export function openApiDocument(): object {
  const json = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' });
  const error = { type: 'object', properties: { error: { type: 'string' }, message: { type: 'string' } }, required: ['error', 'message'] };
  const errors = (...codes: number[]) =>
    Object.fromEntries(
      codes.map((code) => [
        String(code),
        {
          description: ({ 400: 'bad id or filter', 404: 'no such alert', 409: 'invalid state transition' } as Record<number, string>)[code],
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      ]),
    );
  const idParam = { name: 'id', in: 'path', required: true, schema: json(alertIdSchema) };
  // A POST must be JSON (the HTTP app refuses anything else with 415): these take `{}`.
  const emptyBody = { required: true, content: { 'application/json': { schema: { type: 'object', maxProperties: 0 } } } };
  const alertResponse = { description: 'the alert', content: { 'application/json': { schema: { $ref: '#/components/schemas/Alert' } } } };
  const query = (name: string, schema: object, description: string) => ({ name, in: 'query', required: false, schema, description });
  return {
    openapi: '3.1.0',
    info: { title: 'Sightline alert service', version: '0.1.0' },
    paths: {
      '/alerts': {
        get: {
          summary: 'List alerts, newest first (by first seen)',
          parameters: [
            query('state', json(alertStateSchema), 'only alerts in this state'),
            query('type', json(alertTypeSchema), 'only alerts of this type'),
            query('severity', json(severitySchema), 'only alerts of this severity'),
            query('camera', json(idSchema), 'only alerts of this camera'),
            query('lane', json(idSchema), 'only alerts of this lane'),
            query('since', { type: 'string' }, 'last seen at or after (epoch ms or ISO 8601)'),
            query('until', { type: 'string' }, 'first seen at or before (epoch ms or ISO 8601)'),
            query('limit', { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 100 }, 'page size'),
            query('cursor', { type: 'string' }, 'nextCursor of the previous page'),
          ],
          responses: {
            '200': {
              description: 'a page of alerts',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    properties: { alerts: { type: 'array', items: { $ref: '#/components/schemas/Alert' } }, nextCursor: { type: ['string', 'null'] } },
                    required: ['alerts', 'nextCursor'],
                  },
                },
              },
            },
            ...errors(400),
          },
        },
      },
      '/alerts/{id}': { get: { summary: 'One alert', parameters: [idParam], responses: { '200': alertResponse, ...errors(400, 404) } } },
      '/alerts/{id}/acknowledge': {
        post: {
          summary: 'Acknowledge an active alert (it stays open and keeps aggregating)',
          parameters: [idParam],
          requestBody: emptyBody,
          responses: { '200': alertResponse, ...errors(400, 404, 409) },
        },
      },
      '/alerts/{id}/resolve': {
        post: {
          summary: 'Resolve an active or acknowledged alert',
          parameters: [idParam],
          requestBody: emptyBody,
          responses: { '200': alertResponse, ...errors(400, 404, 409) },
        },
      },
    },
    components: { schemas: { Alert: json(alertSchema), Error: error } },
  };
}

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  alertIdSchema,
  alertSchema,
  alertStateSchema,
  alertTypeSchema,
  idSchema,
  parseZoneBody,
  polygonSchema,
  severitySchema,
  ZONE_BODY_LIMIT,
  type Polygon,
} from '@sightline/schemas';
import type { RuleEngine, TransitionResult } from './engine.ts';
import { ruleSchema, type RuleOf } from './rules.ts';
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

/** Saves a person-in-zone rule's new zone, then puts it to use; throws, changing nothing, when it cannot be saved. */
export type ChangeZone = (rule: RuleOf<'person-in-zone'>, zone: Polygon) => void;

export function registerAlertRoutes(http: FastifyInstance, engine: RuleEngine, store: AlertStore, changeZone: ChangeZone): void {
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
  http.get('/rules', async () => ({ rules: engine.rules() }));

  // The restricted zones, drawn by staff on the camera's frame (the console).
  type Reply = { code(n: number): { send(body: unknown): unknown } };
  const zoneRule = (params: unknown, reply: Reply): RuleOf<'person-in-zone'> | null => {
    const parsed = idSchema.safeParse((params as { id?: unknown }).id);
    if (!parsed.success) {
      reply.code(400).send({ error: 'bad request', message: `id: ${parsed.error.issues[0]?.message ?? 'invalid'}` });
      return null;
    }
    const rule = engine.rule(parsed.data);
    if (rule === undefined) {
      reply.code(404).send({ error: 'not found', message: `no rule ${parsed.data}` });
      return null;
    }
    if (rule.type !== 'person-in-zone') {
      reply.code(409).send({ error: 'conflict', message: `rule ${rule.id} is a ${rule.type} rule: only person-in-zone rules have a zone` });
      return null;
    }
    return rule;
  };
  const zoneAnswer = (rule: RuleOf<'person-in-zone'>) => ({ rule: rule.id, camera: rule.camera, zone: rule.zone });

  http.get('/rules/:id/zone', async (request, reply) => {
    const rule = zoneRule(request.params, reply);
    if (rule === null) return reply;
    return zoneAnswer(rule);
  });
  http.put('/rules/:id/zone', { bodyLimit: ZONE_BODY_LIMIT }, async (request, reply) => {
    const rule = zoneRule(request.params, reply);
    if (rule === null) return reply;
    const body = parseZoneBody(request.body);
    if ('problem' in body) return reply.code(400).send({ error: 'bad request', message: body.problem });
    try {
      changeZone(rule, body.zone);
    } catch (err) {
      return reply.code(500).send({ error: 'not saved', message: `the zone could not be saved, so nothing changed: ${(err as Error).message}` });
    }
    return zoneAnswer(rule);
  });

  http.get('/openapi.json', async () => openApiDocument());
}

export function openApiDocument(): object {
  const json = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' });
  const error = { type: 'object', properties: { error: { type: 'string' }, message: { type: 'string' } }, required: ['error', 'message'] };
  const described =
    (descriptions: Record<number, string>) =>
    (...codes: number[]) =>
      Object.fromEntries(
        codes.map((code) => [
          String(code),
          { description: descriptions[code], content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        ]),
      );
  const errors = described({ 400: 'bad id or filter', 404: 'no such alert', 409: 'invalid state transition' });
  const zoneErrors = described({
    400: 'bad id, or a body that is not a zone: the message says why',
    404: 'no such rule',
    409: 'the rule is not a person-in-zone rule',
    413: 'body over 16 KiB',
    415: 'not application/json',
    500: 'the zone could not be saved; nothing changed',
  });
  const polygon = json(polygonSchema) as { items: object; description?: string };
  const coordinate = { type: 'number', minimum: 0, maximum: 1 };
  // The body takes a point as [x, y] too, as a rules file does; answers always say {x, y}.
  const zoneInput = {
    ...polygon,
    items: { oneOf: [{ type: 'array', prefixItems: [coordinate, coordinate], minItems: 2, maxItems: 2 }, polygon.items] },
    description:
      '3-64 points, each [x, y] or {x, y}, normalised 0-1 from the top left; no point repeating the one before it (nor the last the first), not all on one line, no two edges crossing or touching, some area',
  };
  const zoneParams = [{ name: 'id', in: 'path', required: true, schema: json(idSchema), description: 'the id of a person-in-zone rule' }];
  const zoneResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Zone' } } } });
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
      '/rules': {
        get: {
          summary: 'The rules in use, with their ids (zones as changed at run time)',
          responses: {
            '200': {
              description: 'every rule',
              content: {
                'application/json': {
                  schema: { type: 'object', properties: { rules: { type: 'array', items: { $ref: '#/components/schemas/Rule' } } }, required: ['rules'] },
                },
              },
            },
          },
        },
      },
      '/rules/{id}/zone': {
        get: {
          summary: "A person-in-zone rule's restricted zone",
          parameters: zoneParams,
          responses: { '200': zoneResponse('the zone in use'), ...zoneErrors(400, 404, 409) },
        },
        put: {
          summary: "Redraws a person-in-zone rule's restricted zone: saved in the data dir, then used from the next detections message",
          parameters: zoneParams,
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: { type: 'object', properties: { zone: zoneInput }, required: ['zone'], additionalProperties: false },
              },
            },
          },
          responses: { '200': zoneResponse('the new zone, saved and in use'), ...zoneErrors(400, 404, 409, 413, 415, 500) },
        },
      },
    },
    components: {
      schemas: {
        Alert: json(alertSchema),
        Rule: json(ruleSchema),
        Zone: {
          type: 'object',
          properties: { rule: json(idSchema), camera: json(idSchema), zone: polygon },
          required: ['rule', 'camera', 'zone'],
          additionalProperties: false,
        },
        Error: error,
      },
    },
  };
}

import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { idSchema, polygonSchema, ZONE_BODY_LIMIT, type Polygon } from '@sightline/schemas';
import type { UpstreamAnswer, Upstreams } from '../upstream.ts';

/** A zone staff may redraw: a lane's scan zone (checkout) or a person-in-zone rule's restricted zone (alert). */
export interface EditableZone {
  kind: 'lane' | 'rule';
  id: string;
  camera: string;
  zone: Polygon;
}

/** A service whose zones could not be listed, and why. */
export interface ZoneSourceProblem {
  service: 'checkout' | 'alert';
  status: number;
  message: string;
}

const zoneParams = z.strictObject({ id: idSchema });
// The services' answers are read as far as the console needs them: other keys are theirs to add.
const lanesAnswer = z.object({ lanes: z.array(z.object({ id: idSchema, camera: idSchema })) });
const laneZoneAnswer = z.object({ lane: idSchema, camera: idSchema, zone: polygonSchema });
const rulesAnswer = z.object({ rules: z.array(z.looseObject({ id: idSchema, type: z.string() })) });
const zoneRule = z.object({ id: idSchema, type: z.literal('person-in-zone'), camera: idSchema, zone: polygonSchema });
const ruleZoneAnswer = z.object({ rule: idSchema, camera: idSchema, zone: polygonSchema });

function problems(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.map(String).join('.') || 'body'}: ${i.message}`).join('; ');
}

/** What a service said about a refusal ({error, message}; some older routes say only {error}). */
function messageOf(answer: UpstreamAnswer): string {
  const body = answer.body as { message?: unknown; error?: unknown } | null;
  const text = body?.message ?? body?.error;
  return typeof text === 'string' ? text : '';
}

type Listed = { zones: EditableZone[]; problem: ZoneSourceProblem | null };

function failed(service: ZoneSourceProblem['service'], answer: UpstreamAnswer, what: string): ZoneSourceProblem {
  if (!answer.ok) return { service, status: answer.status, message: `${what}: ${answer.body.message}` };
  const said = messageOf(answer);
  return { service, status: 502, message: `${what}: ${service} answered ${answer.status}${said ? `: ${said}` : ''}` };
}

async function laneZones(upstreams: Upstreams): Promise<Listed> {
  const listed = await upstreams.call('checkout', '/lanes');
  if (!listed.ok || listed.status !== 200) return { zones: [], problem: failed('checkout', listed, 'cannot list the lanes') };
  const lanes = lanesAnswer.safeParse(listed.body);
  if (!lanes.success)
    return { zones: [], problem: { service: 'checkout', status: 502, message: `checkout listed lanes the console cannot read: ${problems(lanes.error)}` } };
  // A lane's zone is its own call; the lanes are at most 64, asked together.
  const answers = await Promise.all(lanes.data.lanes.map((lane) => upstreams.call('checkout', `/lanes/${encodeURIComponent(lane.id)}/zone`)));
  const zones: EditableZone[] = [];
  const unread: string[] = [];
  answers.forEach((answer, i) => {
    const lane = lanes.data.lanes[i]!;
    const parsed = answer.ok && answer.status === 200 ? laneZoneAnswer.safeParse(answer.body) : null;
    if (parsed?.success) zones.push({ kind: 'lane', id: parsed.data.lane, camera: parsed.data.camera, zone: parsed.data.zone });
    else unread.push(`${lane.id} (${parsed ? problems(parsed.error) : `${answer.status} ${messageOf(answer)}`.trim()})`);
  });
  return { zones, problem: unread.length === 0 ? null : { service: 'checkout', status: 502, message: `cannot read the zone of lane ${unread.join(', ')}` } };
}

async function ruleZones(upstreams: Upstreams): Promise<Listed> {
  const listed = await upstreams.call('alert', '/rules');
  if (!listed.ok || listed.status !== 200) return { zones: [], problem: failed('alert', listed, 'cannot list the rules') };
  const rules = rulesAnswer.safeParse(listed.body);
  if (!rules.success)
    return { zones: [], problem: { service: 'alert', status: 502, message: `alert listed rules the console cannot read: ${problems(rules.error)}` } };
  const zones: EditableZone[] = [];
  const unread: string[] = [];
  for (const rule of rules.data.rules) {
    if (rule.type !== 'person-in-zone') continue;
    const parsed = zoneRule.safeParse(rule);
    if (parsed.success) zones.push({ kind: 'rule', id: parsed.data.id, camera: parsed.data.camera, zone: parsed.data.zone });
    else unread.push(`${rule.id} (${problems(parsed.error)})`);
  }
  return { zones, problem: unread.length === 0 ? null : { service: 'alert', status: 502, message: `cannot read the zone of rule ${unread.join(', ')}` } };
}

/**
 * The zone editor's API. The zones stay the services' own: checkout keeps the scan zones, alert the
 * restricted zones, each saved in its data dir and checked by the one zone rule (`polygonProblem`),
 * so a refused zone comes back with the service's own reason, untouched.
 */
export function registerZoneRoutes(http: FastifyInstance, deps: { upstreams: Upstreams }): void {
  const { upstreams } = deps;

  // One service down leaves the other's zones editable: what could not be listed is said beside them.
  http.get('/api/zones', async (_request, reply) => {
    const listed = await Promise.all([laneZones(upstreams), ruleZones(upstreams)]);
    const unavailable = listed.flatMap((l) => (l.problem === null ? [] : [l.problem]));
    if (unavailable.length === listed.length && listed.every((l) => l.zones.length === 0)) {
      const status = unavailable.every((u) => u.status === 504) ? 504 : 502;
      return reply.code(status).send({ error: status === 504 ? 'gateway timeout' : 'bad gateway', message: unavailable.map((u) => u.message).join('; ') });
    }
    return { zones: listed.flatMap((l) => l.zones), unavailable };
  });

  const change = async (reply: FastifyReply, kind: EditableZone['kind'], params: unknown, body: unknown) => {
    const parsed = zoneParams.safeParse(params);
    if (!parsed.success) return reply.code(400).send({ error: 'bad request', message: problems(parsed.error) });
    const id = parsed.data.id;
    const service = kind === 'lane' ? 'checkout' : 'alert';
    const path = kind === 'lane' ? `/lanes/${encodeURIComponent(id)}/zone` : `/rules/${encodeURIComponent(id)}/zone`;
    // The body goes on as it came (parsed JSON, within the limit): the service judges it, with the reason.
    const answer = await upstreams.call(service, path, { method: 'PUT', body });
    if (!answer.ok || answer.status !== 200) return reply.code(answer.status).send(answer.body);
    const saved = (kind === 'lane' ? laneZoneAnswer : ruleZoneAnswer).safeParse(answer.body);
    if (!saved.success)
      return reply
        .code(502)
        .send({ error: 'bad gateway', message: `${service} saved the zone but answered what the console cannot read: ${problems(saved.error)}` });
    return { kind, id, camera: saved.data.camera, zone: saved.data.zone } satisfies EditableZone;
  };

  http.put('/api/zones/lane/:id', { bodyLimit: ZONE_BODY_LIMIT }, async (request, reply) => change(reply, 'lane', request.params, request.body));
  http.put('/api/zones/rule/:id', { bodyLimit: ZONE_BODY_LIMIT }, async (request, reply) => change(reply, 'rule', request.params, request.body));
}

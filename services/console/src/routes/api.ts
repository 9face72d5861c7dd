import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { alertIdSchema, idSchema, laneCommandSchema } from '@sightline/schemas';
import type { Upstream } from '../config.ts';
import type { LiveHub } from '../live.ts';
import { KEY_METRICS, PROCESS_METRICS, sumMetrics } from '../metrics-text.ts';
import type { UpstreamAnswer, Upstreams } from '../upstream.ts';

function send(reply: FastifyReply, answer: UpstreamAnswer) {
  return reply.code(answer.status).send(answer.body);
}

function badRequest(reply: FastifyReply, message: string) {
  return reply.code(400).send({ error: 'bad request', message });
}

const laneParams = z.strictObject({ lane: idSchema });
const alertParams = z.strictObject({ id: alertIdSchema });
const controlBody = z.strictObject({ command: laneCommandSchema });
const modelBody = z.strictObject({ model: z.string().min(1).max(128) });
const snapshotParams = z.strictObject({
  camera: idSchema,
  seq: z
    .string()
    .regex(/^\d{1,15}$/, 'must be a frame number')
    .transform(Number),
});
/** The alert list's filters, passed on as they are: the alert service checks them and says what is wrong. */
const ALERT_FILTERS = ['state', 'type', 'severity', 'camera', 'lane', 'since', 'until', 'limit', 'cursor'];

function problems(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.map(String).join('.') || 'body'}: ${i.message}`).join('; ');
}

/**
 * The console's API: each call goes to the service that owns the data, with the services' token
 * (never the browser's to hold). What the console itself knows (frames for snapshots, the last
 * audio of a lane) comes from the live hub.
 */
export function registerApiRoutes(http: FastifyInstance, deps: { upstreams: Upstreams; hub: LiveHub; listed: readonly Upstream[] }): void {
  const { upstreams, hub, listed } = deps;

  http.get('/api/cameras', async (_request, reply) => send(reply, await upstreams.call('capture', '/cameras')));

  http.get('/api/lanes', async (_request, reply) => {
    const [checkout, speaker] = await Promise.all([upstreams.call('checkout', '/lanes'), upstreams.call('speaker', '/lanes')]);
    if (!checkout.ok || checkout.status !== 200) return send(reply, checkout);
    const spoken = speaker.ok && speaker.status === 200 ? ((speaker.body as { lanes?: Array<{ lane: string }> }).lanes ?? []) : [];
    const lanes = ((checkout.body as { lanes?: Array<{ id: string }> }).lanes ?? []).map((lane) => ({
      ...lane,
      speaker: spoken.find((s) => s.lane === lane.id) ?? null,
    }));
    return {
      lanes,
      speakerError: speaker.ok && speaker.status === 200 ? null : ((speaker.body as { message?: string }).message ?? `speaker answered ${speaker.status}`),
    };
  });

  http.post('/api/lanes/:lane/control', async (request, reply) => {
    const params = laneParams.safeParse(request.params);
    if (!params.success) return badRequest(reply, problems(params.error));
    const body = controlBody.safeParse(request.body);
    if (!body.success) return badRequest(reply, problems(body.error));
    const path = `/lanes/${encodeURIComponent(params.data.lane)}/control`;
    return send(reply, await upstreams.call('checkout', path, { method: 'POST', body: { command: body.data.command, source: 'screen' } }));
  });

  http.get('/api/lanes/:lane/audio.wav', async (request, reply) => {
    const params = laneParams.safeParse(request.params);
    if (!params.success) return badRequest(reply, problems(params.error));
    const wav = hub.laneAudio(params.data.lane);
    if (wav === null) return reply.code(404).send({ error: 'not found', message: `nothing said on ${params.data.lane} since the console started` });
    reply.header('content-type', 'audio/wav').header('cache-control', 'no-store');
    return reply.send(wav);
  });

  http.get('/api/alerts', async (request, reply) => {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries((request.query ?? {}) as Record<string, unknown>)) {
      if (!ALERT_FILTERS.includes(key)) return badRequest(reply, `${key.slice(0, 40)}: not a filter (${ALERT_FILTERS.join(', ')})`);
      if (typeof value !== 'string' || value.length > 200) return badRequest(reply, `${key}: one value of at most 200 characters`);
      query.set(key, value);
    }
    const search = query.size > 0 ? `?${query}` : '';
    return send(reply, await upstreams.call('alert', `/alerts${search}`));
  });

  for (const action of ['acknowledge', 'resolve'] as const) {
    http.post(`/api/alerts/:id/${action}`, async (request, reply) => {
      const params = alertParams.safeParse(request.params);
      if (!params.success) return badRequest(reply, problems(params.error));
      return send(reply, await upstreams.call('alert', `/alerts/${encodeURIComponent(params.data.id)}/${action}`, { method: 'POST', body: {} }));
    });
  }

  http.get('/api/snapshots/:camera/:seq', async (request, reply) => {
    const params = snapshotParams.safeParse(request.params);
    if (!params.success) return badRequest(reply, problems(params.error));
    const jpeg = hub.snapshot(params.data.camera, params.data.seq);
    if (jpeg === null)
      return reply.code(404).send({ error: 'not found', message: 'the console did not keep that frame (it keeps the frames of alerts raised while it runs)' });
    reply.header('content-type', 'image/jpeg').header('cache-control', 'private, max-age=3600');
    return reply.send(jpeg);
  });

  http.get('/api/models', async (_request, reply) => send(reply, await upstreams.call('inference', '/models')));

  http.post('/api/models/current', async (request, reply) => {
    const body = modelBody.safeParse(request.body);
    if (!body.success) return badRequest(reply, problems(body.error));
    // Loading and warming a model takes seconds on these machines.
    return send(reply, await upstreams.call('inference', '/models/current', { method: 'POST', body: body.data, timeoutMs: 120_000 }));
  });

  http.get('/api/services', async () => {
    const { services: live, model } = hub.state();
    const services = await Promise.all(
      listed.map(async (name) => {
        const [ready, metrics] = await Promise.all([upstreams.call(name, '/readyz', { timeoutMs: 2000 }), upstreams.text(name, '/metrics')]);
        const reason = ready.ok ? ((ready.body as { reason?: string } | null)?.reason ?? null) : ready.body.message;
        return {
          name,
          availability: live[name] ?? null,
          ready: ready.ok && ready.status === 200,
          reason,
          metrics: metrics === null ? null : sumMetrics(metrics, [...PROCESS_METRICS, ...(KEY_METRICS[name] ?? [])]),
        };
      }),
    );
    return { services, model };
  });
}

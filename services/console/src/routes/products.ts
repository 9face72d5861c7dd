import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { idSchema, productIdSchema } from '@sightline/schemas';
import type { UpstreamAnswer, Upstreams } from '../upstream.ts';
import { refuseBeforeBody } from './guard.ts';

/** The most the photos of one upload may weigh together: inference's own limit for a form. */
export const PRODUCT_PHOTOS_BODY_LIMIT = 64 * 1024 * 1024;
/** The most the console reads of one stored photo (inference keeps crops of at most 448 px, 30-60 KB). */
export const MAX_PRODUCT_PHOTO_BYTES = 4 * 1024 * 1024;
/** Cutting a photo to the detector's box and learning it takes about a second each on these machines; 20 in one form. */
const UPLOAD_TIMEOUT_MS = 120_000;

const productParams = z.strictObject({ id: productIdSchema });
const photoParams = z.strictObject({ id: productIdSchema, photo: idSchema });
// Inference's answers, read as far as the console needs them: other keys are theirs to add.
const productAnswer = z.looseObject({ id: productIdSchema, photos: z.array(z.looseObject({ id: idSchema })) });
const addedAnswer = z.looseObject({ added: z.array(z.looseObject({ id: idSchema })) });

function problems(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.map(String).join('.') || 'body'}: ${i.message}`).join('; ');
}

function badRequest(reply: FastifyReply, message: string) {
  return reply.code(400).send({ error: 'bad request', message });
}

const photoUrl = (product: string, photo: string) => `/api/products/${encodeURIComponent(product)}/photos/${encodeURIComponent(photo)}`;

/**
 * Inference's answer as it came (its status and `{error}`), except a 401/403: that is the
 * services' token refused, the console's own problem, never the browser's session ending.
 */
function send(reply: FastifyReply, answer: UpstreamAnswer) {
  if (answer.ok && (answer.status === 401 || answer.status === 403))
    return reply.code(502).send({ error: 'bad gateway', message: `inference refused the console's token (${answer.status}): check SIGHTLINE_HTTP_TOKEN` });
  return reply.code(answer.status).send(answer.body);
}

/**
 * The products staff teach inference from photos. The products stay inference's own (its data
 * dir, applied to recognition at once); the console checks the session, the role and the ids, and
 * passes each call on with the services' token. Photos are posted as multipart/form-data and the
 * form goes on to inference byte for byte: inference reads and judges it (formats, 20 photos, the
 * crop and box fields) and says what is wrong, so the console neither parses nor re-encodes it.
 * Photo URLs in answers are the console's own (`/api/products/:id/photos/:photo`).
 */
export function registerProductRoutes(http: FastifyInstance, deps: { upstreams: Upstreams }): void {
  const { upstreams } = deps;
  const withParams = <S extends z.ZodType>(schema: S, reply: FastifyReply, value: unknown, then: (params: z.infer<S>) => Promise<unknown>) => {
    const parsed = schema.safeParse(value);
    if (!parsed.success) return badRequest(reply, problems(parsed.error));
    return then(parsed.data);
  };
  const productPath = (id: string) => `/products/${encodeURIComponent(id)}`;

  http.get('/api/products', async (_request, reply) => send(reply, await upstreams.call('inference', '/products')));

  /** A product as inference answered it, its photos at the console's URLs. */
  const product = (reply: FastifyReply, id: string, answer: UpstreamAnswer) => {
    if (!answer.ok || (answer.status !== 200 && answer.status !== 201)) return send(reply, answer);
    const parsed = productAnswer.safeParse(answer.body);
    if (!parsed.success)
      return reply.code(502).send({ error: 'bad gateway', message: `inference answered a product the console cannot read: ${problems(parsed.error)}` });
    return reply.code(answer.status).send({ ...parsed.data, photos: parsed.data.photos.map((p) => ({ ...p, url: photoUrl(id, p.id) })) });
  };

  http.get('/api/products/:id', async (request, reply) =>
    withParams(productParams, reply, request.params, async ({ id }) => product(reply, id, await upstreams.call('inference', productPath(id)))),
  );

  // The body goes on as it came (parsed JSON, within the JSON limit): inference judges the name, with the reason.
  http.put('/api/products/:id', async (request, reply) =>
    withParams(productParams, reply, request.params, async ({ id }) =>
      product(reply, id, await upstreams.call('inference', productPath(id), { method: 'PUT', body: request.body })),
    ),
  );

  http.delete('/api/products/:id', async (request, reply) =>
    withParams(productParams, reply, request.params, async ({ id }) =>
      send(reply, await upstreams.call('inference', productPath(id), { method: 'DELETE', body: {} })),
    ),
  );

  http.delete('/api/products/:id/photos/:photo', async (request, reply) =>
    withParams(photoParams, reply, request.params, async ({ id, photo }) =>
      send(reply, await upstreams.call('inference', `${productPath(id)}/photos/${encodeURIComponent(photo)}`, { method: 'DELETE', body: {} })),
    ),
  );

  http.get('/api/products/:id/photos/:photo', async (request, reply) =>
    withParams(photoParams, reply, request.params, async ({ id, photo }) => {
      const answer = await upstreams.bytes('inference', `${productPath(id)}/photos/${encodeURIComponent(photo)}`, { maxBytes: MAX_PRODUCT_PHOTO_BYTES });
      if (!answer.ok) return reply.code(answer.status).send(answer.body);
      if (answer.status !== 200) {
        // A refusal ({error}, JSON): passed on as it came.
        let body: unknown;
        try {
          body = JSON.parse(answer.body.toString('utf8'));
        } catch {
          return reply.code(502).send({ error: 'bad gateway', message: `inference answered ${answer.status} with a body that is not JSON` });
        }
        return send(reply, { ok: true, status: answer.status, body });
      }
      if (answer.type.split(';')[0]!.trim().toLowerCase() !== 'image/jpeg')
        return reply
          .code(502)
          .send({ error: 'bad gateway', message: `inference answered a photo as ${answer.type.slice(0, 80) || 'no type'}, not image/jpeg` });
      // A photo never changes under its id (a new photo gets a new one).
      reply.header('content-type', 'image/jpeg').header('cache-control', 'private, max-age=86400').header('x-content-type-options', 'nosniff');
      return reply.send(answer.body);
    }),
  );

  // A product's first photo, for the list: a redirect to it, so the browser keeps it by the photo's own URL.
  http.get('/api/products/:id/thumbnail', async (request, reply) =>
    withParams(productParams, reply, request.params, async ({ id }) => {
      const answer = await upstreams.call('inference', productPath(id));
      if (!answer.ok || answer.status !== 200) return send(reply, answer);
      const first = productAnswer.safeParse(answer.body).data?.photos[0];
      if (first === undefined) return reply.code(404).send({ error: 'not found', message: `"${id}" has no photo yet` });
      return reply.header('cache-control', 'no-store').redirect(photoUrl(id, first.id), 302);
    }),
  );

  // Photos are checked before their body is read (a session, this origin, the CSRF token, an
  // operator), then read up to inference's own limit, in a scope of their own so that no other
  // route takes a form.
  http.register(async (scope) => {
    scope.addContentTypeParser('multipart/form-data', { parseAs: 'buffer', bodyLimit: PRODUCT_PHOTOS_BODY_LIMIT }, (_request, body, done) => done(null, body));
    scope.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply) => {
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
        return reply
          .code(413)
          .send({ error: 'payload too large', message: `the photos are over ${PRODUCT_PHOTOS_BODY_LIMIT / 1024 / 1024} MiB together: send fewer at a time` });
      if (err.statusCode !== undefined && err.statusCode < 500) return reply.code(err.statusCode).send({ error: 'bad request', message: err.message });
      request.log.error({ err }, 'photo upload failed');
      return reply.code(500).send({ error: 'internal error', message: 'the upload failed (see the console log)' });
    });
    scope.post(
      '/api/products/:id/photos',
      {
        bodyLimit: PRODUCT_PHOTOS_BODY_LIMIT,
        config: { bodyTypes: ['multipart/form-data'], guardBeforeBody: true },
        // A bad id is refused before the body is read, too.
        onRequest: async (request, reply) => {
          const parsed = productParams.safeParse(request.params);
          if (!parsed.success) return refuseBeforeBody(reply, 400, 'bad request', problems(parsed.error));
        },
      },
      async (request, reply) =>
        withParams(productParams, reply, request.params, async ({ id }) => {
          const form = request.body;
          if (!Buffer.isBuffer(form) || form.length === 0) return badRequest(reply, 'no photo was sent');
          const type = String(request.headers['content-type']);
          const answer = await upstreams.call('inference', `${productPath(id)}/photos`, {
            method: 'POST',
            raw: { bytes: form, type },
            timeoutMs: UPLOAD_TIMEOUT_MS,
          });
          if (!answer.ok || answer.status !== 201) return send(reply, answer);
          const added = addedAnswer.safeParse(answer.body);
          if (!added.success) return send(reply, answer);
          return reply.code(201).send({ ...added.data, added: added.data.added.map((p) => ({ ...p, url: photoUrl(id, p.id) })) });
        }),
    );
  });
}

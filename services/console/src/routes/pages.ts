import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Asset, WebApp } from '../bundle.ts';

/**
 * Only this origin's scripts, styles, images (and the frames the page makes into blob: URLs),
 * audio and sockets; never framed. The page needs nothing from anywhere else.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function serve(request: FastifyRequest, reply: FastifyReply, asset: Asset) {
  const gzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
  reply
    .header('content-type', asset.type)
    .header('cache-control', 'no-cache')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('vary', 'accept-encoding');
  if (gzip) reply.header('content-encoding', 'gzip');
  return reply.send(gzip ? asset.gzip : asset.body);
}

export function registerPageRoutes(http: FastifyInstance, web: () => WebApp | null): void {
  const notReady = (reply: FastifyReply) => reply.code(503).send({ error: 'not ready', message: 'the console is starting' });
  http.get('/', { config: { public: true } }, async (request, reply) => {
    const app = web();
    return app === null ? notReady(reply) : serve(request, reply, app.html);
  });
  http.get('/assets/:name', { config: { public: true } }, async (request, reply) => {
    const app = web();
    if (app === null) return notReady(reply);
    const asset = app.assets.get(`/assets/${(request.params as { name: string }).name}`);
    if (asset === undefined) return reply.code(404).send({ error: 'not found', message: 'no such asset' });
    return serve(request, reply, asset);
  });
  // Browsers ask for it whatever the page says; an empty answer keeps the log quiet.
  http.get('/favicon.ico', { config: { public: true } }, async (_request, reply) => reply.code(204).send());
}

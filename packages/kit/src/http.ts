import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Media types a mutating request to this route may carry (`image/*` matches any image type).
     * Default: `application/json` only. Say it here, never by parsing what a route was not given.
     */
    bodyTypes?: readonly string[];
  }
}

/** Who may talk to the HTTP app. */
export interface HttpAccess {
  /** The address it listens on. Beyond loopback a token is required. */
  host: string;
  /** Host header names it answers to besides the loopback names and `host` (any port). */
  allowedHosts?: readonly string[] | undefined;
  /** When set, every route but /healthz and /readyz requires `Authorization: Bearer <token>`. */
  token?: string | null | undefined;
  /**
   * Routes the app guards itself, with its own logins (the console's pages and API, for browsers,
   * which cannot send a bearer token): the token is not asked for there.
   */
  ownLogin?: ((routeUrl: string) => boolean) | undefined;
  /**
   * A header that may carry the token instead of `Authorization: Bearer` on some routes, for
   * clients that cannot send a bearer token (Custom Vision's SDK sends `Prediction-Key`): its name
   * for a route, or undefined where only the bearer token is taken.
   */
  tokenHeader?: ((routeUrl: string) => string | undefined) | undefined;
}

export interface HealthOptions {
  logger: Logger;
  registry: Registry;
  /** Why the service is not ready, or null when it is. */
  notReadyReason: () => string | null;
  /** Default: loopback only, no token. */
  access?: HttpAccess;
  /** Body limit of routes that do not set their own. */
  bodyLimit?: number;
}

/**
 * The body limit of JSON routes. The largest JSON body a Sightline route takes is `POST /speak`
 * (1000 characters, at most 6 bytes each escaped: 6,028 bytes); 64 KiB leaves ten times that.
 * The costliest 64 KiB (8,000 small objects) parses in 2.3-2.8 ms on these loaded 2-core
 * machines, against 23 ms for the 1 MiB limit before it.
 */
export const JSON_BODY_LIMIT = 64 * 1024;

/** Answered without the token: container and orchestrator health checks carry none. */
const WITHOUT_TOKEN = new Set(['/healthz', '/readyz']);
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

export const REFUSAL_REASONS = {
  SIGHTLINE_HTTP_FORBIDDEN_HOST: 'host',
  SIGHTLINE_HTTP_UNAUTHORIZED: 'token',
  SIGHTLINE_HTTP_UNSUPPORTED_MEDIA_TYPE: 'media-type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body-too-large',
} as const;

/** The most of a refused request's body read (and thrown away) before answering. */
const DRAIN_LIMIT = 64 * 1024 * 1024;

async function drainBody(request: FastifyRequest, reply: FastifyReply, limit: number): Promise<void> {
  const raw = request.raw;
  const hasBody = Number(request.headers['content-length'] ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined;
  if (!hasBody || raw.readableEnded) return;
  let bytes = 0;
  for await (const chunk of raw) {
    bytes += (chunk as Buffer).length;
    if (bytes > limit) {
      reply.header('connection', 'close');
      return;
    }
  }
}

class HttpRefusal extends Error {
  override name = 'HttpRefusal';
  readonly statusCode: number;
  readonly code: keyof typeof REFUSAL_REASONS;
  constructor(statusCode: number, code: keyof typeof REFUSAL_REASONS, message: string) {
    super(message);
    this.statusCode = statusCode;
    this.code = code;
  }
}

/** Whether listening on `host` keeps the service on this machine. */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return name === 'localhost' || name === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** A host as a Host header names it: lower case, no trailing dot, IPv6 in brackets. */
export function hostHeaderName(host: string): string {
  const name = host.toLowerCase().replace(/\.$/, '');
  return name.includes(':') && !name.startsWith('[') ? `[${name}]` : name;
}

/** The name part of a Host header value (no port), or null when it is not one. */
function nameOfHostHeader(value: string): string | null {
  const match = /^(\[[0-9a-f:.]+\]|[^\s:[\]/@]+)(?::\d{1,5})?$/i.exec(value);
  return match ? hostHeaderName(match[1]!) : null;
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

export interface HttpRoute {
  method: string;
  url: string;
  bodyTypes: readonly string[];
  bodyLimit: number;
}

const routesOf = new WeakMap<FastifyInstance, HttpRoute[]>();

/** Every route of an app made by createHttpApp (after `ready()`, plugins' routes included). */
export function httpRoutes(app: FastifyInstance): readonly HttpRoute[] {
  return routesOf.get(app) ?? [];
}

/**
 * The HTTP face every service shares: `/healthz` (the process answers), `/readyz` (it does its
 * job: 503 with the reason until then) and Prometheus `/metrics`. Services add their own routes.
 *
 * Every request, on every route a service adds, passes the same gate first, so that a web page
 * the user happens to visit cannot drive a service (a browser sends a cross-site "simple request"
 * without asking: text/plain, form-encoded or multipart bodies, or none):
 * - the Host header must be a loopback name, the listening host, or one of `allowedHosts`
 *   (DNS rebinding makes an attacker's name point at 127.0.0.1): else 403;
 * - with a token, `Authorization: Bearer <token>` on every route but /healthz and /readyz (or the
 *   route's `tokenHeader: <token>`): else 401;
 * - POST, PUT, PATCH and DELETE must carry a body of a type the route takes (`bodyTypes`,
 *   `application/json` unless the route says otherwise): else 415. A JSON route with nothing to
 *   say takes `{}`; an empty body with `application/json` is 400;
 * - bodies over the route's limit are refused with 413 as soon as the limit is passed (or at once
 *   from Content-Length), never buffered whole.
 * Refusals are counted in `sightline_http_requests_refused_total{reason}`, not logged.
 */
export function createHttpApp({
  logger,
  registry,
  notReadyReason,
  access = { host: '127.0.0.1' },
  bodyLimit = JSON_BODY_LIMIT,
}: HealthOptions): FastifyInstance {
  const token = access.token ?? null;
  if (token === null && !isLoopbackHost(access.host)) {
    throw new Error(`HTTP on ${access.host} listens beyond loopback and needs a token (SIGHTLINE_HTTP_TOKEN or SIGHTLINE_HTTP_TOKEN_FILE)`);
  }
  const names = new Set([...LOOPBACK_NAMES, hostHeaderName(access.host), ...(access.allowedHosts ?? []).map(hostHeaderName)]);
  const tokenDigest = token === null ? null : digest(token);
  const refused =
    (registry.getSingleMetric('sightline_http_requests_refused_total') as Counter<'reason'> | undefined) ??
    new Counter({
      name: 'sightline_http_requests_refused_total',
      help: 'HTTP requests refused before reaching a route: unknown Host, missing or wrong token, a body type the route does not take, a body over its limit',
      labelNames: ['reason'],
      registers: [registry],
    });

  const app = Fastify({
    loggerInstance: logger.child({ module: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    forceCloseConnections: true,
    return503OnClosing: true,
    // A path that cannot be decoded (`/products/%FF%FE/photos`) is refused by the router before
    // any hook runs: its body is read to its end first too, as for the refusals below.
    frameworkErrors: (error, req, res) => {
      const request = req as FastifyRequest;
      const reply = res as FastifyReply;
      // No route options here (the path matched none): the drain's own bound applies.
      drainBody(request, reply, DRAIN_LIMIT)
        .catch(() => reply.header('connection', 'close'))
        .finally(() => {
          void reply.code(400).send({ statusCode: 400, code: error.code, error: 'Bad Request', message: error.message });
        });
    },
  });

  const routes: HttpRoute[] = [];
  routesOf.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      routes.push({ method, url: route.url, bodyTypes: route.config?.bodyTypes ?? ['application/json'], bodyLimit: route.bodyLimit ?? bodyLimit });
    }
  });

  app.addHook('onRequest', async (request, reply) => {
    try {
      gate(request, reply);
    } catch (err) {
      // Refused before its body was read: read it to its end (thrown away) first, so a client
      // still sending gets the refusal instead of a reset connection. Past the route's own limit
      // (at most 64 MiB) the connection closes after the answer.
      if (err instanceof HttpRefusal) await drainBody(request, reply, Math.min(request.routeOptions.bodyLimit ?? bodyLimit, DRAIN_LIMIT));
      throw err;
    }
  });
  function gate(request: FastifyRequest, reply: FastifyReply): void {
    const host = request.headers.host ?? '';
    const name = nameOfHostHeader(host);
    if (name === null || !names.has(name)) {
      throw new HttpRefusal(
        403,
        'SIGHTLINE_HTTP_FORBIDDEN_HOST',
        `Host ${JSON.stringify(host.slice(0, 100))} is not a name of this service; add it to SIGHTLINE_HTTP_ALLOWED_HOSTS`,
      );
    }
    const routeUrl = request.routeOptions.url ?? '';
    if (tokenDigest !== null && !WITHOUT_TOKEN.has(routeUrl) && !(access.ownLogin?.(routeUrl) ?? false)) {
      const bearer = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? '')?.[1];
      const header = access.tokenHeader?.(routeUrl);
      const keyed = header === undefined ? undefined : request.headers[header.toLowerCase()];
      const given = [bearer, typeof keyed === 'string' ? keyed : undefined].filter((value) => value !== undefined);
      if (!given.some((value) => timingSafeEqual(digest(value), tokenDigest))) {
        reply.header('www-authenticate', 'Bearer');
        const how = header === undefined ? 'Authorization: Bearer <token>' : `Authorization: Bearer <token> or ${header}: <token>`;
        throw new HttpRefusal(401, 'SIGHTLINE_HTTP_UNAUTHORIZED', `send ${how} (SIGHTLINE_HTTP_TOKEN)`);
      }
    }
    if (MUTATING.has(request.method)) {
      const accepted = request.routeOptions.config.bodyTypes ?? ['application/json'];
      const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      const takes = accepted.some((a) => (a.endsWith('/*') ? type.startsWith(a.slice(0, -1)) && type.length > a.length - 1 : type === a));
      if (!takes) {
        const wanted = accepted.includes('application/json')
          ? `a JSON body with Content-Type: application/json ({} when there is nothing to send)`
          : `Content-Type ${accepted.join(', ')}`;
        throw new HttpRefusal(
          415,
          'SIGHTLINE_HTTP_UNSUPPORTED_MEDIA_TYPE',
          `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]} takes ${wanted}, not ${type === '' ? 'no Content-Type' : type}`,
        );
      }
    }
  }
  app.addHook('onError', async (_request, _reply, error) => {
    const reason = REFUSAL_REASONS[(error as { code?: string }).code as keyof typeof REFUSAL_REASONS];
    if (reason !== undefined) refused.inc({ reason });
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const reason = notReadyReason();
    if (reason !== null) return reply.code(503).send({ status: 'not ready', reason });
    return { status: 'ready' };
  });
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
  return app;
}

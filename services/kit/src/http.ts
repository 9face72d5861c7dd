import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

export interface HealthOptions {
  logger: Logger;
  registry: Registry;
  /** Why the service is not ready, or null when it is. */
  notReadyReason: () => string | null;
  bodyLimit?: number;
}

/**
 * The HTTP face every service shares: `/healthz` (the process answers), `/readyz` (it does its
 * job: 503 with the reason until then) and Prometheus `/metrics`. Services add their own routes.
 */
export function createHttpApp({ logger, registry, notReadyReason, bodyLimit = 1024 * 1024 }: HealthOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger.child({ module: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    forceCloseConnections: true,
    return503OnClosing: true,
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

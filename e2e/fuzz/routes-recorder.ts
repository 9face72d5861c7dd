/**
 * Preloaded into every process of the stack under fuzz (`NODE_OPTIONS=--import`), so the harness
 * learns every HTTP route of every service from the services themselves, not from a list that
 * drifts: Fastify announces each new instance on the `fastify.initialization` diagnostics channel,
 * an `onRoute` hook sees every route added after that, and once the server listens the routes
 * are written to `$FUZZ_ROUTES_DIR/<pid>-<port>.json`. Does nothing without that variable.
 */
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface RouteOptions {
  method: string | string[];
  url: string;
  bodyLimit?: number;
}

interface FastifyLike {
  addHook(name: 'onRoute', hook: (route: RouteOptions) => void): void;
  initialConfig: { bodyLimit?: number };
  server: { once(event: 'listening', listener: () => void): void; address(): unknown };
}

const dir = process.env.FUZZ_ROUTES_DIR;
if (dir !== undefined && dir !== '') {
  subscribe('fastify.initialization', (message) => {
    try {
      const { fastify } = message as { fastify: FastifyLike };
      const routes: Array<{ method: string; url: string; bodyLimit: number | null }> = [];
      fastify.addHook('onRoute', (route) => {
        for (const method of [route.method].flat()) routes.push({ method, url: route.url, bodyLimit: route.bodyLimit ?? null });
      });
      fastify.server.once('listening', () => {
        const address = fastify.server.address() as { port?: number } | null;
        const port = address?.port ?? 0;
        const record = { pid: process.pid, entry: process.argv[1] ?? '', port, bodyLimit: fastify.initialConfig.bodyLimit ?? 1024 * 1024, routes };
        writeFileSync(join(dir, `${process.pid}-${port}.json`), `${JSON.stringify(record)}\n`);
      });
    } catch (err) {
      process.stderr.write(`fuzz routes recorder: ${(err as Error).message}\n`);
    }
  });
}

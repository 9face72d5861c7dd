import websocket from '@fastify/websocket';
import { createRuntime, type Logger, type Runtime, type Service } from '@sightline/kit';
import { provisionAdmin } from './accounts.ts';
import { buildWebApp, type WebApp } from './bundle.ts';
import type { ConsoleConfig } from './config.ts';
import { LiveHub } from './live.ts';
import { registerApiRoutes } from './routes/api.ts';
import { registerAuthRoutes } from './routes/auth.ts';
import { registerLiveRoute } from './routes/live.ts';
import { registerPageRoutes } from './routes/pages.ts';
import { guardApi } from './routes/guard.ts';
import { registerProductRoutes } from './routes/products.ts';
import { registerZoneRoutes } from './routes/zones.ts';
import { SessionStore } from './sessions.ts';
import { Upstreams } from './upstream.ts';

export interface ConsoleApp extends Service {
  runtime: Runtime;
  hub: LiveHub;
  sessions: SessionStore;
  web(): WebApp;
}

/** Routes a browser reaches with its session (or none: the login page and its assets); only /metrics asks for the bearer token. */
const ownLogin = (url: string) => url !== '/metrics' && url !== '';

/**
 * The console: one Fastify app serving the web app (built from web/ at start), its API (each call
 * checked against a session, changes also against the CSRF token and the account's role, then
 * passed to the service that owns it) and the live WebSocket fed from the bus by its own broker user.
 */
export function createConsoleApp(config: ConsoleConfig, logger: Logger): ConsoleApp {
  const runtime = createRuntime({
    service: 'console',
    logger,
    mqtt: config.mqtt,
    http: { ...config.http, ownLogin },
  });
  const hub = new LiveHub({ bus: runtime.bus, logger: logger.child({ module: 'live' }), registry: runtime.registry });
  const sessions = new SessionStore({ idleMs: config.sessionIdleMs, maxMs: config.sessionMaxMs, registry: runtime.registry });
  const upstreams = new Upstreams(config.upstreams, config.upstreamToken);
  let web: WebApp | null = null;
  const http = runtime.http;
  http.register(websocket, { options: { maxPayload: 4096 } }).after(() => {
    guardApi(http, { config, sessions });
    registerAuthRoutes(http, { config, sessions });
    registerApiRoutes(http, { upstreams, hub, listed: config.listed });
    registerZoneRoutes(http, { upstreams });
    registerProductRoutes(http, { upstreams });
    registerLiveRoute(http, { hub });
    registerPageRoutes(http, () => web);
  });

  return {
    runtime,
    hub,
    sessions,
    web() {
      if (web === null) throw new Error('the console has not started');
      return web;
    },
    async start() {
      web = await buildWebApp();
      logger.info({ bytes: web.bytes, gzipBytes: web.gzipBytes }, 'web app built');
      if (config.provisionAdminFile !== null && (await provisionAdmin(config.usersFile, config.provisionAdminFile))) {
        logger.info({ file: config.provisionAdminFile }, 'made the operator account "admin"; its password is in the file');
      }
      hub.start();
      await runtime.start();
    },
    async stop() {
      await runtime.stop();
    },
  };
}

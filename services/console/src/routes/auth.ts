import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { BoundedMap } from '@sightline/kit';
import { accountNameSchema, AccountsFileError, checkLogin, type Account } from '../accounts.ts';
import type { ConsoleConfig } from '../config.ts';
import { clearedSessionCookie, sessionCookie, type SessionStore } from '../sessions.ts';

const loginSchema = z.strictObject({
  username: z.string().max(64, 'must be at most 64 characters'),
  password: z.string().max(256, 'must be at most 256 characters'),
});

/** Failed logins allowed per account name in a window, before 429; an address (a shared office) gets more. */
export const MAX_FAILURES = 10;
export const MAX_FAILURES_PER_ADDRESS = 50;
export const FAILURE_WINDOW_MS = 15 * 60_000;

interface Failures {
  count: number;
  since: number;
}

export function registerAuthRoutes(http: FastifyInstance, deps: { config: ConsoleConfig; sessions: SessionStore }): void {
  const { config, sessions } = deps;
  const failures = new BoundedMap<string, Failures>({ name: 'console-login-failures', maxEntries: 10_000, idleMs: FAILURE_WINDOW_MS });
  const blocked = (key: string, now: number) => {
    const entry = failures.get(key);
    return entry !== undefined && now - entry.since < FAILURE_WINDOW_MS && entry.count >= (key.startsWith('ip:') ? MAX_FAILURES_PER_ADDRESS : MAX_FAILURES);
  };
  const fail = (key: string, now: number) => {
    const entry = failures.get(key);
    if (entry === undefined || now - entry.since >= FAILURE_WINDOW_MS) failures.set(key, { count: 1, since: now });
    else entry.count += 1;
  };

  http.post('/api/login', { config: { public: true }, bodyLimit: 4096 }, async (request, reply) => {
    const parsed = loginSchema.safeParse(request.body);
    if (!parsed.success) {
      const message = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || 'body'}: ${i.message}`).join('; ');
      return reply.code(400).send({ error: 'bad request', message });
    }
    const { username, password } = parsed.data;
    const now = Date.now();
    const keys = [`user:${username.toLowerCase()}`, `ip:${request.ip}`];
    if (keys.some((key) => blocked(key, now))) {
      reply.header('retry-after', String(Math.ceil(FAILURE_WINDOW_MS / 1000)));
      return reply.code(429).send({ error: 'too many requests', message: 'too many failed logins: try again later' });
    }
    let account: Account | null;
    try {
      account = accountNameSchema.safeParse(username).success ? await checkLogin(config.usersFile, username, password) : null;
    } catch (err) {
      if (!(err instanceof AccountsFileError)) throw err;
      request.log.error({ err }, 'cannot read the accounts file');
      return reply.code(503).send({ error: 'unavailable', message: err.message });
    }
    if (account === null) {
      for (const key of keys) fail(key, now);
      request.log.warn({ user: username.slice(0, 64), ip: request.ip }, 'failed login');
      return reply.code(401).send({ error: 'unauthorized', message: 'wrong user name or password' });
    }
    if (request.session !== null) sessions.end(request.session.id);
    const session = sessions.create(account);
    request.log.info({ user: account.name, role: account.role }, 'logged in');
    reply.header('set-cookie', sessionCookie(session.id, { secure: config.secureCookie, maxAgeSeconds: Math.floor(config.sessionMaxMs / 1000) }));
    return { user: session.user, role: session.role, csrf: session.csrf };
  });

  http.post('/api/logout', async (request, reply) => {
    if (request.session !== null) sessions.end(request.session.id);
    reply.header('set-cookie', clearedSessionCookie(config.secureCookie));
    return { status: 'logged out' };
  });

  http.get('/api/session', { config: { public: true } }, async (request, reply) => {
    const session = request.session;
    if (session === null) return reply.code(401).send({ error: 'unauthorized', message: 'not logged in' });
    return { user: session.user, role: session.role, csrf: session.csrf };
  });
}

import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AccountsFileError, currentAccount, type Account } from '../accounts.ts';
import type { ConsoleConfig } from '../config.ts';
import { cookieValue, SESSION_COOKIE, type Session, type SessionStore } from '../sessions.ts';

declare module 'fastify' {
  interface FastifyRequest {
    session: Session | null;
  }
  interface FastifyContextConfig {
    /** Reached without a session (the login itself, the page shell and its assets). */
    public?: boolean;
    /**
     * Checked as the request comes, before its body is read: for routes taking large bodies
     * (photos), which nobody without the right to send them may make the console buffer.
     */
    guardBeforeBody?: boolean;
  }
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Changes a viewer may still make: only about their own session. */
const VIEWER_MAY = new Set(['/api/logout']);

/** What is read and thrown away of a refused early-guarded body: past it the connection is closed. */
const DRAIN_LIMIT = 64 * 1024 * 1024;

/**
 * A route guarded before its body is read answers only after reading the body to its end (thrown
 * away, never buffered): a client still sending when the answer came would see its connection
 * reset instead of the refusal. A body past the limit closes the connection after the answer.
 */
async function drain(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const raw = request.raw;
  if (raw.readableEnded) return;
  let bytes = 0;
  for await (const chunk of raw) {
    bytes += (chunk as Buffer).length;
    if (bytes > DRAIN_LIMIT) {
      reply.header('connection', 'close');
      return;
    }
  }
}

/** Refuses a route guarded before its body is read (its own checks of the path, say), reading the body first. */
export function refuseBeforeBody(reply: FastifyReply, status: number, error: string, message: string) {
  return refuse(reply, status, error, message);
}

async function refuse(reply: FastifyReply, status: number, error: string, message: string) {
  if (reply.request.routeOptions.config.guardBeforeBody) await drain(reply.request, reply);
  return reply.code(status).send({ error, message });
}

/** Whether the request comes from a page of this very origin (or from no page: curl, a test). */
export function sameOrigin(request: FastifyRequest): boolean {
  const fetchSite = request.headers['sec-fetch-site'];
  if (fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none') return false;
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

function sameToken(given: string | string[] | undefined, expected: string): boolean {
  if (typeof given !== 'string' || given.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(given), Buffer.from(expected));
}

/**
 * Every route not marked public needs a live session (the cookie); every change also needs a
 * request of this origin (Origin / Sec-Fetch-Site: a page elsewhere cannot post here, nor open
 * the live socket), the session's CSRF token in `X-CSRF-Token`, and an operator account. The
 * account is looked up again each time: removed, its password or role changed, the session ends.
 */
export function guardApi(http: FastifyInstance, deps: { config: ConsoleConfig; sessions: SessionStore }): void {
  http.decorateRequest('session', null);
  // After the kit's own gate (Host, token, body type); before the body is read where the route asks.
  http.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config.guardBeforeBody) return guard(request, reply);
  });
  http.addHook('preValidation', async (request, reply) => {
    if (!request.routeOptions.config.guardBeforeBody) return guard(request, reply);
  });

  async function guard(request: FastifyRequest, reply: FastifyReply) {
    const url = request.routeOptions.url ?? '';
    if (url === '/healthz' || url === '/readyz' || url === '/metrics') return;
    const mutating = MUTATING.has(request.method);
    const upgrade = request.headers.upgrade?.toLowerCase() === 'websocket';
    if ((mutating || upgrade) && !sameOrigin(request)) return refuse(reply, 403, 'forbidden', 'cross-origin request refused');
    const id = cookieValue(request.headers.cookie, SESSION_COOKIE);
    let session = deps.sessions.get(id);
    if (session !== null) {
      let account: Account | null;
      try {
        account = currentAccount(deps.config.usersFile, session.user);
      } catch (err) {
        if (!(err instanceof AccountsFileError)) throw err;
        request.log.error({ err }, 'cannot read the accounts file');
        return refuse(reply, 503, 'unavailable', err.message);
      }
      if (account === null || account.hash !== session.hash || account.role !== session.role) {
        deps.sessions.endUser(session.user);
        session = null;
      }
    }
    request.session = session;
    if (request.routeOptions.config.public) return;
    if (session === null) return refuse(reply, 401, 'unauthorized', 'log in first (POST /api/login)');
    if (!mutating) return;
    if (!sameToken(request.headers['x-csrf-token'], session.csrf)) return refuse(reply, 403, 'forbidden', 'missing or wrong X-CSRF-Token');
    if (session.role !== 'operator' && !VIEWER_MAY.has(url))
      return refuse(reply, 403, 'forbidden', `${session.user} is a viewer account: it can look but not change`);
  }
}

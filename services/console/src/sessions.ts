import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import { BoundedMap } from '@sightline/kit';
import type { Account, Role } from './accounts.ts';

export const SESSION_COOKIE = 'sightline_session';
/** Sessions held at once; beyond it the least recently used one ends. */
export const MAX_SESSIONS = 1000;

export interface Session {
  id: string;
  user: string;
  role: Role;
  /** The password hash logged in with: the session ends when it changes. */
  hash: string;
  /** Sent back by the page in `X-CSRF-Token` on every change (the cookie alone is not enough). */
  csrf: string;
  createdAt: number;
  lastSeen: number;
}

/**
 * Server-side sessions: the cookie holds only a random id (256 bits). A session ends on logout,
 * after `idleMs` without a request, after `maxMs` in all, or when its account changes.
 */
export class SessionStore {
  private readonly sessions: BoundedMap<string, Session>;
  private readonly idleMs: number;
  private readonly maxMs: number;
  private readonly now: () => number;

  constructor(options: { idleMs: number; maxMs: number; now?: () => number; registry?: Registry }) {
    this.idleMs = options.idleMs;
    this.maxMs = options.maxMs;
    this.now = options.now ?? Date.now;
    this.sessions = new BoundedMap({
      name: 'console-sessions',
      maxEntries: MAX_SESSIONS,
      now: this.now,
      ...(options.registry ? { registry: options.registry } : {}),
    });
  }

  create(account: Account): Session {
    const at = this.now();
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      user: account.name,
      role: account.role,
      hash: account.hash,
      csrf: randomBytes(32).toString('base64url'),
      createdAt: at,
      lastSeen: at,
    };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session of this id, touched; null when there is none or it has expired. */
  get(id: string | undefined): Session | null {
    if (id === undefined || id.length !== 43) return null;
    const session = this.sessions.get(id);
    if (session === undefined) return null;
    const at = this.now();
    if (at - session.lastSeen > this.idleMs || at - session.createdAt > this.maxMs) {
      this.sessions.delete(id);
      return null;
    }
    session.lastSeen = at;
    return session;
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  /** Ends every session of a user (account removed or password changed). */
  endUser(user: string): void {
    const ids = [...this.sessions.entries()].filter(([, session]) => session.user === user).map(([id]) => id);
    for (const id of ids) this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }
}

/** The value of one cookie from a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function sessionCookie(id: string, options: { secure: boolean; maxAgeSeconds: number }): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${options.maxAgeSeconds}${options.secure ? '; Secure' : ''}`;
}

export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`;
}

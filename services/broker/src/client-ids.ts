import type { Level } from 'level';
import type { Redis } from 'ioredis';
import { defineScript } from './redis.ts';

/**
 * Who owns each persistent session's client id: the user (null: anonymous clients) that created
 * it with clean=false. Kept beside the sessions, so the binding lives exactly as long as the
 * session does: in the broker's own database (across restarts), in memory with memory persistence
 * (the sessions do not survive a restart either), or in Redis when brokers share their sessions
 * there (a session moving to another broker keeps its owner, and no other user can claim it
 * through another broker).
 */
export interface ClientIdOwners {
  /** Reads what is stored, and resolves with the number of bound client ids. */
  load(): Promise<number>;
  /**
   * In one step: refuses an id bound to another user ('taken'); with clean=false binds it to this
   * user unless `maxSessions` ids are bound already ('full'); with clean=true releases it. Resolves
   * with the outcome and the number of bound ids after it.
   */
  claim(clientId: string, user: string | null, clean: boolean, maxSessions: number): Promise<Claim>;
}

export interface Claim {
  outcome: 'ok' | 'taken' | 'full';
  sessions: number;
}

interface Stored {
  user: string | null;
}

/** The level (or, without a database, in-memory) form: one broker's own sessions. */
export function createClientIdOwners(db: Level<string, Buffer> | null): ClientIdOwners {
  const owners = new Map<string, Stored>();
  const store = db?.sublevel<string, Stored>('client-id-owners', { valueEncoding: 'json' }) ?? null;
  return {
    async load() {
      if (store !== null) for await (const [clientId, owner] of store.iterator()) owners.set(clientId, { user: owner.user });
      return owners.size;
    },
    async claim(clientId, user, clean, maxSessions) {
      const held = owners.get(clientId);
      if (held !== undefined && held.user !== user) return { outcome: 'taken', sessions: owners.size };
      if (!clean && held === undefined) {
        if (owners.size >= maxSessions) return { outcome: 'full', sessions: owners.size };
        // Bound at once, so a second claim racing this one sees it; undone if storing fails.
        owners.set(clientId, { user });
        try {
          await store?.put(clientId, { user });
        } catch (err) {
          owners.delete(clientId);
          throw err;
        }
      } else if (clean && held !== undefined) {
        owners.delete(clientId);
        try {
          await store?.del(clientId);
        } catch (err) {
          owners.set(clientId, held);
          throw err;
        }
      }
      return { outcome: 'ok', sessions: owners.size };
    },
  };
}

/** Redis hash: client id -> JSON owner. */
export const REDIS_OWNERS_KEY = 'sightline:client-id-owners';

/** The same rules as a single Lua script, so two brokers claiming one id at once cannot both win. */
const CLAIM_SCRIPT = `
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held and held ~= ARGV[2] then return {'taken', redis.call('HLEN', KEYS[1])} end
if ARGV[3] == '0' and not held then
  if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return {'full', redis.call('HLEN', KEYS[1])} end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
elseif ARGV[3] == '1' and held then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return {'ok', redis.call('HLEN', KEYS[1])}
`;

/** The Redis form, shared by every broker of a cluster. */
export function createRedisClientIdOwners(redis: Redis): ClientIdOwners {
  const claimScript = defineScript(redis, 'sightlineClaimClientId', 1, CLAIM_SCRIPT);
  return {
    async load() {
      return redis.hlen(REDIS_OWNERS_KEY);
    },
    async claim(clientId, user, clean, maxSessions) {
      const owner: Stored = { user };
      const [outcome, sessions] = (await claimScript(REDIS_OWNERS_KEY, clientId, JSON.stringify(owner), clean ? '1' : '0', maxSessions)) as [
        Claim['outcome'],
        number,
      ];
      return { outcome, sessions };
    },
  };
}

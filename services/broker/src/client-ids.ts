import type { Level } from 'level';

/**
 * Who owns each persistent session's client id: the user (null: anonymous clients) that created
 * it with clean=false. Kept in the broker's own database beside the sessions, so the binding
 * lives exactly as long as the session does, across restarts; with memory persistence, in
 * memory (the sessions do not survive a restart either).
 */
export interface ClientIdOwners {
  load(): Promise<void>;
  /** The owner of a bound client id, or undefined when nobody holds it. */
  ownerOf(clientId: string): { user: string | null } | undefined;
  /** Binds at once (a second claim sees it), then stores; undone if storing fails. */
  bind(clientId: string, user: string | null): Promise<void>;
  release(clientId: string): Promise<void>;
  readonly size: number;
}

interface Stored {
  user: string | null;
}

export function createClientIdOwners(db: Level<string, Buffer> | null): ClientIdOwners {
  const owners = new Map<string, Stored>();
  const store = db?.sublevel<string, Stored>('client-id-owners', { valueEncoding: 'json' }) ?? null;
  return {
    async load() {
      if (store === null) return;
      for await (const [clientId, owner] of store.iterator()) owners.set(clientId, { user: owner.user });
    },
    ownerOf(clientId) {
      return owners.get(clientId);
    },
    async bind(clientId, user) {
      owners.set(clientId, { user });
      try {
        await store?.put(clientId, { user });
      } catch (err) {
        owners.delete(clientId);
        throw err;
      }
    },
    async release(clientId) {
      const held = owners.get(clientId);
      owners.delete(clientId);
      try {
        await store?.del(clientId);
      } catch (err) {
        if (held !== undefined) owners.set(clientId, held);
        throw err;
      }
    },
    get size() {
      return owners.size;
    },
  };
}

import type { StatementSync } from 'node:sqlite';
import { openDatabase } from '@sightline/kit';
import { z } from 'zod';
import { basketSchema, type Basket } from '@sightline/schemas';
import { newBasket } from './basket.ts';

/** The most presences (products and unknown labels in view) a lane may be configured to track. */
export const MAX_PRESENCES_LIMIT = 1000;
/** A presence key: a SKU, or `label:` and at most this many characters of the lower-cased label. */
export const MAX_LABEL_KEY_CHARS = 256;
export const MAX_PRESENCE_KEY_CHARS = 'label:'.length + MAX_LABEL_KEY_CHARS;

/** What of a lane outlives a restart besides its basket. */
export const laneMemorySchema = z.strictObject({
  /** Products already scanned and still (as far as we know) in the zone: never scanned twice. */
  scanned: z.array(z.string().min(1).max(MAX_PRESENCE_KEY_CHARS)).max(MAX_PRESENCES_LIMIT),
  /** Grams on the scale already paid for (items still on it). */
  accountedGrams: z.number().finite().min(0),
});
export type LaneMemory = z.infer<typeof laneMemorySchema>;

/** One schema for both directions: a state is checked with it before it is written and after it is read. */
export const storedLaneSchema = z.strictObject({ basket: basketSchema, memory: laneMemorySchema });
export type StoredLane = z.infer<typeof storedLaneSchema>;

/** A state the store refuses to write, because it could not be read back. */
export class UnstorableStateError extends Error {
  constructor(lane: string, problem: string) {
    super(`state of lane ${lane} cannot be stored: ${problem}`);
    this.name = 'UnstorableStateError';
  }
}

/** A stored row that could not be read, moved aside to `quarantined_lanes` (never overwritten). */
export interface Quarantined {
  quarantineId: number;
  reason: string;
  at: number;
}

export interface LaneStore {
  /** The lane's state; an unreadable row is moved to `quarantined_lanes` and reported instead. */
  load(lane: string): { stored?: StoredLane; quarantined?: Quarantined };
  /** Throws UnstorableStateError (and writes nothing) for a state `load` would refuse. */
  save(lane: string, state: StoredLane): void;
  /**
   * Keeps a finished or abandoned basket for the record (`finished_baskets`, its status in the
   * basket), in the same transaction as the lane's new state.
   */
  finish(lane: string, finished: Basket, state: StoredLane): void;
  /** A basket kept by `finish`, read back through the same schema. */
  archived(id: string): Basket | undefined;
  close(): void;
}

/**
 * Lane state in SQLite (WAL, synchronous FULL): every change is on disk before it is published,
 * so a crash never loses or repeats a charge the shopper heard.
 */
export function openLaneStore(dataDir: string, now: () => number = Date.now): LaneStore {
  const { db } = openDatabase(dataDir, 'checkout.sqlite');
  db.exec(`
    CREATE TABLE IF NOT EXISTS lanes (
      lane TEXT PRIMARY KEY,
      basket TEXT NOT NULL,
      memory TEXT NOT NULL,
      updated_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS finished_baskets (
      id TEXT PRIMARY KEY,
      lane TEXT NOT NULL,
      basket TEXT NOT NULL,
      finished_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS quarantined_lanes (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      lane TEXT NOT NULL,
      basket TEXT NOT NULL,
      memory TEXT NOT NULL,
      updated_at INTEGER,
      quarantined_at INTEGER NOT NULL,
      reason TEXT NOT NULL
    );
  `);
  const select: StatementSync = db.prepare('SELECT basket, memory FROM lanes WHERE lane = ?');
  const upsert: StatementSync = db.prepare(
    'INSERT INTO lanes (lane, basket, memory, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(lane) DO UPDATE SET basket = excluded.basket, memory = excluded.memory, updated_at = excluded.updated_at',
  );
  const archive: StatementSync = db.prepare('INSERT OR REPLACE INTO finished_baskets (id, lane, basket, finished_at) VALUES (?, ?, ?, ?)');
  const quarantine: StatementSync = db.prepare(
    'INSERT INTO quarantined_lanes (lane, basket, memory, updated_at, quarantined_at, reason) SELECT lane, basket, memory, updated_at, ?, ? FROM lanes WHERE lane = ?',
  );
  const remove: StatementSync = db.prepare('DELETE FROM lanes WHERE lane = ?');
  const selectArchived: StatementSync = db.prepare('SELECT basket FROM finished_baskets WHERE id = ?');

  const transaction = <T>(work: () => T): T => {
    db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      db.exec('COMMIT');
      return result;
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  };

  const encode = (lane: string, state: StoredLane, what = 'state'): StoredLane => {
    const checked = storedLaneSchema.safeParse(state);
    if (!checked.success) throw new UnstorableStateError(lane, `${what}: ${z.prettifyError(checked.error).split('\n').slice(0, 2).join(' ')}`);
    if (checked.data.basket.lane !== lane) throw new UnstorableStateError(lane, `the basket belongs to lane ${checked.data.basket.lane}`);
    return checked.data;
  };

  const write = (lane: string, state: StoredLane) => {
    const checked = encode(lane, state);
    upsert.run(lane, JSON.stringify(checked.basket), JSON.stringify(checked.memory), checked.basket.updatedAt);
  };

  const decode = (lane: string, row: { basket: string; memory: string }): StoredLane => {
    const stored = storedLaneSchema.parse({ basket: JSON.parse(row.basket), memory: JSON.parse(row.memory) });
    if (stored.basket.lane !== lane) throw new Error(`the basket belongs to lane ${stored.basket.lane}`);
    return stored;
  };

  return {
    load(lane) {
      const row = select.get(lane) as { basket: string; memory: string } | undefined;
      if (!row) return {};
      try {
        return { stored: decode(lane, row) };
      } catch (err) {
        const reason = (err instanceof z.ZodError ? z.prettifyError(err).replace(/\n\s*/g, ' ') : (err as Error).message).slice(0, 2000);
        const at = now();
        const quarantineId = transaction(() => {
          const { lastInsertRowid } = quarantine.run(at, reason, lane);
          remove.run(lane);
          return Number(lastInsertRowid);
        });
        return { quarantined: { quarantineId, reason, at } };
      }
    },
    save(lane, state) {
      write(lane, state);
    },
    finish(lane, finished, state) {
      const archived = encode(lane, { basket: finished, memory: state.memory }, 'finished basket').basket;
      transaction(() => {
        archive.run(archived.id, lane, JSON.stringify(archived), archived.updatedAt);
        write(lane, state);
      });
    },
    archived(id) {
      const row = selectArchived.get(id) as { basket: string } | undefined;
      return row ? basketSchema.parse(JSON.parse(row.basket)) : undefined;
    },
    close() {
      if (db.isOpen) db.close();
    },
  };
}

/**
 * What a lane starts from: its stored state, or a new basket when there is none or it was
 * unreadable (`quarantined`). An open basket in another currency than the catalog's cannot go on:
 * it is finished and archived (`otherCurrency`), and a new one starts.
 */
export function restoreLane(
  store: LaneStore,
  lane: string,
  currency: string,
  now: number,
): { stored?: StoredLane; basket: Basket; quarantined?: Quarantined; otherCurrency?: string } {
  const { stored, quarantined } = store.load(lane);
  const q = quarantined ? { quarantined } : {};
  if (!stored) return { basket: newBasket(lane, currency, now), ...q };
  const { basket } = stored;
  if (basket.currency === currency || basket.status !== 'open' || basket.items.length === 0) return { stored, basket, ...q };
  const fresh = newBasket(lane, currency, now);
  store.finish(lane, { ...basket, status: 'finished' }, { basket: fresh, memory: stored.memory });
  return { stored, basket: fresh, otherCurrency: basket.currency, ...q };
}

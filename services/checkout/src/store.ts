import type { StatementSync } from 'node:sqlite';
import { openDatabase } from '@sightline/kit';
import { z } from 'zod';
import { basketSchema, type Basket } from '@sightline/schemas';

/** What of a lane outlives a restart besides its basket. */
export const laneMemorySchema = z.strictObject({
  /** Products already scanned and still (as far as we know) in the zone: never scanned twice. */
  scanned: z.array(z.string().max(300)).max(1000),
  /** Grams on the scale already paid for (items still on it). */
  accountedGrams: z.number().min(0),
});
export type LaneMemory = z.infer<typeof laneMemorySchema>;

export interface StoredLane {
  basket: Basket;
  memory: LaneMemory;
}

export interface LaneStore {
  load(lane: string): { stored?: StoredLane; problem?: string };
  save(lane: string, state: StoredLane): void;
  /** Keeps a finished basket for the record, in the same transaction as the lane's new state. */
  finish(lane: string, finished: Basket, state: StoredLane): void;
  close(): void;
}

/**
 * Lane state in SQLite (WAL, synchronous FULL): every change is on disk before it is published,
 * so a crash never loses or repeats a charge the shopper heard.
 */
export function openLaneStore(dataDir: string): LaneStore {
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
  `);
  const select: StatementSync = db.prepare('SELECT basket, memory FROM lanes WHERE lane = ?');
  const upsert: StatementSync = db.prepare(
    'INSERT INTO lanes (lane, basket, memory, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(lane) DO UPDATE SET basket = excluded.basket, memory = excluded.memory, updated_at = excluded.updated_at',
  );
  const archive: StatementSync = db.prepare('INSERT OR REPLACE INTO finished_baskets (id, lane, basket, finished_at) VALUES (?, ?, ?, ?)');

  const write = (lane: string, state: StoredLane) => {
    upsert.run(lane, JSON.stringify(state.basket), JSON.stringify(state.memory), state.basket.updatedAt);
  };

  return {
    load(lane) {
      const row = select.get(lane) as { basket: string; memory: string } | undefined;
      if (!row) return {};
      try {
        const basket = basketSchema.parse(JSON.parse(row.basket));
        const memory = laneMemorySchema.parse(JSON.parse(row.memory));
        if (basket.lane !== lane) throw new Error(`basket belongs to lane ${basket.lane}`);
        return { stored: { basket, memory } };
      } catch (err) {
        return { problem: `stored state of lane ${lane} is unreadable (${(err as Error).message.split('\n')[0]})` };
      }
    },
    save(lane, state) {
      write(lane, state);
    },
    finish(lane, finished, state) {
      db.exec('BEGIN IMMEDIATE');
      try {
        archive.run(finished.id, lane, JSON.stringify(finished), finished.updatedAt);
        write(lane, state);
        db.exec('COMMIT');
      } catch (err) {
        db.exec('ROLLBACK');
        throw err;
      }
    },
    close() {
      if (db.isOpen) db.close();
    },
  };
}

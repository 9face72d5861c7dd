import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';

/**
 * A service's SQLite database: WAL (readers never wait for the writer), `synchronous=FULL` (a
 * committed change survives a power cut, not only a killed process: services write before they
 * publish, so what was announced must be on disk), and a busy timeout for a second process.
 */
export function openDatabase(dataDir: string, fileName: string): { db: DatabaseSync; file: string } {
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, fileName);
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;');
  return { db, file };
}

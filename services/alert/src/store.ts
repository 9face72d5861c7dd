import type { DatabaseSync, SQLInputValue } from 'node:sqlite';
import { openDatabase } from '@sightline/kit';
import { alertSchema, type Alert, type AlertState, type AlertType, type Severity } from '@sightline/schemas';

export interface AlertFilter {
  state?: AlertState | undefined;
  type?: AlertType | undefined;
  severity?: Severity | undefined;
  camera?: string | undefined;
  lane?: string | undefined;
  /** Alerts last seen at or after this time (ms). */
  since?: number | undefined;
  /** Alerts first seen at or before this time (ms). */
  until?: number | undefined;
}

export interface Page {
  alerts: Alert[];
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

/** Newest first by first-seen time; the cursor is the (firstSeen, id) of the last row returned. */
export function encodeCursor(firstSeen: number, id: string): string {
  return Buffer.from(`${firstSeen}|${id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): { firstSeen: number; id: string } | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return null;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^(\d{1,16})\|([A-Za-z0-9_.:-]{1,64})$/.exec(text);
  if (!match) return null;
  return { firstSeen: Number(match[1]), id: match[2]! };
}

/**
 * Alerts in SQLite (WAL). Every write is synchronous and committed before it returns, so an alert
 * is on disk before its MQTT event goes out, and a process killed outright loses nothing it announced.
 */
export interface StoreLimits {
  /** Rows at most: past it, inserting a new alert deletes the oldest resolved ones (open ones never). */
  maxRows: number;
  /** Learned drift baselines at most: past it, the oldest learned goes. */
  maxBaselines: number;
}

export class AlertStore {
  readonly file: string;
  private readonly db: DatabaseSync;
  private readonly upsertStatement;
  private readonly getStatement;
  private readonly limits: StoreLimits;
  /** Rows in the alerts table, kept up to date so an insert need not count them. */
  private rows = 0;

  constructor(dataDir: string, limits: Partial<StoreLimits> = {}) {
    this.limits = { maxRows: 100_000, maxBaselines: 4096, ...limits };
    ({ db: this.db, file: this.file } = openDatabase(dataDir, 'alerts.sqlite'));
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS alerts (
        id TEXT PRIMARY KEY,
        key TEXT NOT NULL,
        type TEXT NOT NULL,
        rule TEXT NOT NULL,
        severity TEXT NOT NULL,
        camera TEXT,
        lane TEXT,
        service TEXT,
        state TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        resolved_at INTEGER,
        body TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS alerts_order ON alerts (first_seen DESC, id DESC);
      CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state, resolved_at);
      CREATE TABLE IF NOT EXISTS baselines (
        key TEXT PRIMARY KEY,
        value REAL NOT NULL
      );
    `);
    this.upsertStatement = this.db.prepare(`
      INSERT INTO alerts (id, key, type, rule, severity, camera, lane, service, state, first_seen, last_seen, resolved_at, body)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT(id) DO UPDATE SET severity = excluded.severity, state = excluded.state, last_seen = excluded.last_seen,
        resolved_at = excluded.resolved_at, body = excluded.body`);
    this.getStatement = this.db.prepare('SELECT body FROM alerts WHERE id = ?');
    this.rows = this.count();
  }

  /** Stores a new alert; returns how many resolved alerts went to keep the table within `maxRows`. */
  insert(alert: Alert, key: string): number {
    this.save(alert, key);
    this.rows += 1;
    if (this.rows <= this.limits.maxRows) return 0;
    const removed = this.deleteOldestResolved(this.rows - this.limits.maxRows);
    this.rows -= removed;
    return removed;
  }

  save(alert: Alert, key: string): void {
    this.upsertStatement.run(
      alert.id,
      key,
      alert.type,
      alert.rule,
      alert.severity,
      alert.camera ?? null,
      alert.lane ?? null,
      alert.service ?? null,
      alert.state,
      alert.firstSeen,
      alert.lastSeen,
      alert.resolvedAt ?? null,
      JSON.stringify(alert),
    );
  }

  get(id: string): Alert | undefined {
    const row = this.getStatement.get(id) as { body: string } | undefined;
    return row ? parseRow(row.body) : undefined;
  }

  /** Alerts not yet resolved, with their aggregation keys. */
  open(): Array<{ key: string; alert: Alert }> {
    const rows = this.db.prepare("SELECT key, body FROM alerts WHERE state != 'resolved'").all() as Array<{ key: string; body: string }>;
    return rows.map((row) => ({ key: row.key, alert: parseRow(row.body) }));
  }

  list(filter: AlertFilter, limit: number, cursor?: { firstSeen: number; id: string }): Page {
    const where: string[] = [];
    const args: SQLInputValue[] = [];
    const add = (sql: string, value: SQLInputValue | undefined) => {
      if (value === undefined) return;
      where.push(sql);
      args.push(value);
    };
    add('state = ?', filter.state);
    add('type = ?', filter.type);
    add('severity = ?', filter.severity);
    add('camera = ?', filter.camera);
    add('lane = ?', filter.lane);
    add('last_seen >= ?', filter.since);
    add('first_seen <= ?', filter.until);
    if (cursor) {
      where.push('(first_seen < ? OR (first_seen = ? AND id < ?))');
      args.push(cursor.firstSeen, cursor.firstSeen, cursor.id);
    }
    const sql = `SELECT body FROM alerts ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY first_seen DESC, id DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, limit + 1) as Array<{ body: string }>;
    const alerts = rows.slice(0, limit).map((row) => parseRow(row.body));
    const last = alerts.at(-1);
    return { alerts, nextCursor: rows.length > limit && last ? encodeCursor(last.firstSeen, last.id) : null };
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM alerts').get() as { n: number }).n;
  }

  /** Deletes resolved alerts resolved before `before`, then the oldest resolved ones above `maxRows`. */
  prune(before: number, maxRows: number): { expired: number; overflow: number } {
    const expired = Number(this.db.prepare("DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < ?").run(before).changes);
    const excess = this.count() - maxRows;
    const overflow = excess > 0 ? this.deleteOldestResolved(excess) : 0;
    this.rows = this.count();
    return { expired, overflow };
  }

  private deleteOldestResolved(count: number): number {
    return Number(
      this.db.prepare("DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE state = 'resolved' ORDER BY resolved_at ASC, id ASC LIMIT ?)").run(count)
        .changes,
    );
  }

  getBaseline(key: string): number | undefined {
    const row = this.db.prepare('SELECT value FROM baselines WHERE key = ?').get(key) as { value: number } | undefined;
    return row?.value;
  }

  /** Learned baselines are keyed by rule, lane and sku from the network: the oldest learned go past `maxBaselines`. */
  setBaseline(key: string, value: number): void {
    this.db.prepare('INSERT INTO baselines (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
    this.db.prepare('DELETE FROM baselines WHERE rowid NOT IN (SELECT rowid FROM baselines ORDER BY rowid DESC LIMIT ?)').run(this.limits.maxBaselines);
  }

  baselineCount(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM baselines').get() as { n: number }).n;
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}

function parseRow(body: string): Alert {
  return alertSchema.parse(JSON.parse(body));
}

import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '@sightline/kit';
import type { Reason } from './selection.ts';

/**
 * The durable outbox: one file per image waiting for upload, in `<dataDir>/outbox`. A file holds
 * a magic line, the length of a JSON header (blob name, metadata, tags, hashes) and the JPEG. It
 * is written to a temporary name, fsynced, renamed and the folder fsynced before `add` resolves:
 * only then does the image count as accepted. Files are named `<counter>-<acceptedAt>.img`, so
 * name order is acceptance order across restarts.
 */

const MAGIC = Buffer.from('SLOB1\n', 'ascii');
const MAX_HEADER_BYTES = 64 * 1024;
const ENTRY = /^(\d{12})-(\d{1,15})\.img$/;
const TMP_PREFIX = '.tmp-';

export interface OutboxItem {
  blobName: string;
  camera: string;
  seq: number;
  capturedAt: number;
  reason: Reason;
  metadata: Record<string, string>;
  tags: Record<string, string>;
  jpeg: Buffer;
}

export interface OutboxHeader extends Omit<OutboxItem, 'jpeg'> {
  acceptedAt: number;
  /** MD5 of the JPEG, base64: sent as Content-MD5 so the store checks what it received. */
  md5: string;
  sha256: string;
}

export interface OutboxEntry {
  readonly file: string;
  readonly counter: number;
  readonly acceptedAt: number;
  readonly blobName: string;
  readonly capturedAt: number;
  readonly bytes: number;
}

export type EvictReason = 'ttl' | 'disk' | 'corrupt' | 'rejected';
const EVICT_WHY: Record<EvictReason, string> = {
  ttl: 'older than the TTL',
  disk: 'disk cap reached',
  corrupt: 'unreadable',
  rejected: 'refused by the blob store',
};

export interface OutboxOptions {
  dir: string;
  fsync: boolean;
  maxBytes: number;
  ttlMs: number;
  now?: () => number;
  logger: Logger;
  /** Called for every image dropped without being uploaded (never silent). */
  onEvict?: (entry: OutboxEntry | { file: string; bytes: number }, reason: EvictReason) => void;
  /** Called by `open` for every image found waiting from before (oldest first), with its header. */
  onResumed?: (header: OutboxHeader) => void;
}

export type AddResult = 'accepted' | 'duplicate' | 'too-large';

export function encodeEntry(header: OutboxHeader, jpeg: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length);
  return Buffer.concat([MAGIC, length, json, jpeg]);
}

export function decodeEntry(bytes: Buffer): { header: OutboxHeader; jpeg: Buffer } {
  if (bytes.length < MAGIC.length + 4 || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('not an outbox entry (bad magic)');
  const length = bytes.readUInt32BE(MAGIC.length);
  const start = MAGIC.length + 4;
  if (length > MAX_HEADER_BYTES || start + length > bytes.length) throw new Error('outbox entry header runs past the end');
  const header = JSON.parse(bytes.subarray(start, start + length).toString('utf8')) as OutboxHeader;
  if (typeof header.blobName !== 'string' || typeof header.capturedAt !== 'number' || typeof header.md5 !== 'string')
    throw new Error('outbox entry header is incomplete');
  const jpeg = bytes.subarray(start + length);
  if (createHash('md5').update(jpeg).digest('base64') !== header.md5) throw new Error('outbox entry image does not match its MD5 (torn or corrupt)');
  return { header, jpeg };
}

export class Outbox {
  readonly dir: string;
  private readonly options: OutboxOptions;
  private readonly now: () => number;
  private readonly log: Logger;
  /** Oldest first. */
  private entries: OutboxEntry[] = [];
  private readonly names = new Set<string>();
  /** Reserved (counted in the index) but not yet durable: not to be uploaded or read yet. */
  private readonly writing = new Set<OutboxEntry>();
  private totalBytes = 0;
  private counter = 0;

  constructor(options: OutboxOptions) {
    this.options = options;
    this.dir = options.dir;
    this.now = options.now ?? Date.now;
    this.log = options.logger.child({ module: 'outbox' });
  }

  /** Creates the folder, removes temporary files a crash left, and indexes what waits. */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const found: OutboxEntry[] = [];
    const headers = new Map<OutboxEntry, OutboxHeader>();
    for (const name of await readdir(this.dir)) {
      const file = path.join(this.dir, name);
      if (name.startsWith(TMP_PREFIX)) {
        await rm(file, { force: true });
        this.log.info({ file: name }, 'removed a partly written outbox file left by a crash');
        continue;
      }
      const match = ENTRY.exec(name);
      if (match === null) continue;
      try {
        const bytes = await readFile(file);
        const { header } = decodeEntry(bytes);
        const entry: OutboxEntry = {
          file,
          counter: Number(match[1]),
          acceptedAt: Number(match[2]),
          blobName: header.blobName,
          capturedAt: header.capturedAt,
          bytes: bytes.length,
        };
        found.push(entry);
        headers.set(entry, header);
      } catch (err) {
        const bytes = (await stat(file).catch(() => ({ size: 0 }))).size;
        await rm(file, { force: true });
        this.log.error({ file: name, err: { message: (err as Error).message } }, 'outbox entry unreadable: removed');
        this.options.onEvict?.({ file, bytes }, 'corrupt');
      }
    }
    found.sort((a, b) => a.counter - b.counter);
    for (const entry of found) {
      if (this.names.has(entry.blobName)) {
        await rm(entry.file, { force: true });
        headers.delete(entry);
        continue;
      }
      this.index(entry);
    }
    this.counter = found.reduce((max, e) => Math.max(max, e.counter), 0);
    for (const entry of found) {
      const header = headers.get(entry);
      if (header !== undefined) this.options.onResumed?.(header);
    }
    if (found.length > 0) this.log.info({ images: this.entries.length, bytes: this.totalBytes }, 'outbox resumed');
    await this.expire();
  }

  private index(entry: OutboxEntry): void {
    this.entries.push(entry);
    this.names.add(entry.blobName);
    this.totalBytes += entry.bytes;
  }

  private unindex(entry: OutboxEntry): boolean {
    const i = this.entries.indexOf(entry);
    if (i < 0) return false;
    this.entries.splice(i, 1);
    this.names.delete(entry.blobName);
    this.totalBytes -= entry.bytes;
    return true;
  }

  has(blobName: string): boolean {
    return this.names.has(blobName);
  }

  /** Resolves once the image is on disk for good (when fsync is on): only then is it accepted. */
  async add(item: OutboxItem): Promise<AddResult> {
    if (this.names.has(item.blobName)) return 'duplicate';
    const acceptedAt = this.now();
    const { jpeg, ...rest } = item;
    const header: OutboxHeader = {
      ...rest,
      acceptedAt,
      md5: createHash('md5').update(jpeg).digest('base64'),
      sha256: createHash('sha256').update(jpeg).digest('hex'),
    };
    const bytes = encodeEntry(header, jpeg);
    if (bytes.length > this.options.maxBytes) return 'too-large';
    this.counter += 1;
    const name = `${String(this.counter).padStart(12, '0')}-${acceptedAt}.img`;
    const entry: OutboxEntry = {
      file: path.join(this.dir, name),
      counter: this.counter,
      acceptedAt,
      blobName: item.blobName,
      capturedAt: item.capturedAt,
      bytes: bytes.length,
    };
    // Reserve the name and the space now, so concurrent adds see them.
    this.index(entry);
    this.writing.add(entry);
    try {
      await this.evictForSpace(entry);
      await this.writeDurably(entry.file, bytes);
    } catch (err) {
      this.unindex(entry);
      throw err;
    } finally {
      this.writing.delete(entry);
    }
    return 'accepted';
  }

  private async writeDurably(file: string, bytes: Buffer): Promise<void> {
    const tmp = path.join(this.dir, `${TMP_PREFIX}${path.basename(file)}`);
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(bytes);
      if (this.options.fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
    if (this.options.fsync) {
      const folder = await open(this.dir, 'r');
      try {
        await folder.sync();
      } finally {
        await folder.close();
      }
    }
  }

  private async evictForSpace(keep: OutboxEntry): Promise<void> {
    while (this.totalBytes > this.options.maxBytes) {
      const oldest = this.entries.find((e) => e !== keep && !this.writing.has(e));
      if (oldest === undefined) return;
      await this.evict(oldest, 'disk');
    }
  }

  private async evict(entry: OutboxEntry, reason: EvictReason): Promise<void> {
    if (!this.unindex(entry)) return;
    await rm(entry.file, { force: true });
    this.log.warn(
      { blob: entry.blobName, reason, ageMs: this.now() - entry.acceptedAt, bytes: entry.bytes },
      `outbox image evicted (${EVICT_WHY[reason]}), never uploaded`,
    );
    this.options.onEvict?.(entry, reason);
  }

  /** Evicts images older than the TTL. */
  async expire(): Promise<void> {
    const limit = this.now() - this.options.ttlMs;
    for (const entry of [...this.entries]) {
      if (entry.acceptedAt < limit && !this.writing.has(entry)) await this.evict(entry, 'ttl');
    }
  }

  /** The oldest images not in `busy`. */
  oldest(count: number, busy: ReadonlySet<OutboxEntry>): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    for (const entry of this.entries) {
      if (out.length >= count) break;
      if (!busy.has(entry) && !this.writing.has(entry)) out.push(entry);
    }
    return out;
  }

  contains(entry: OutboxEntry): boolean {
    return this.entries.includes(entry);
  }

  async read(entry: OutboxEntry): Promise<{ header: OutboxHeader; jpeg: Buffer }> {
    return decodeEntry(await readFile(entry.file));
  }

  /**
   * The image waiting under a blob name, or undefined when none does (never accepted, still being
   * written, or uploaded or evicted meanwhile: its file gone).
   */
  async readByName(blobName: string): Promise<{ header: OutboxHeader; jpeg: Buffer } | undefined> {
    if (!this.names.has(blobName)) return undefined;
    const entry = this.entries.find((e) => e.blobName === blobName);
    if (entry === undefined || this.writing.has(entry)) return undefined;
    try {
      return await this.read(entry);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Deletes an image whose upload was confirmed. */
  async remove(entry: OutboxEntry): Promise<void> {
    if (!this.contains(entry)) return;
    // The file goes first, so the index never shows fewer images than the folder holds.
    await rm(entry.file, { force: true });
    this.unindex(entry);
  }

  /** Drops an entry that cannot be read or that the store refuses for good; counted. */
  async discard(entry: OutboxEntry, reason: 'corrupt' | 'rejected'): Promise<void> {
    await this.evict(entry, reason);
  }

  stats(): { images: number; bytes: number; oldestAcceptedAt: number | null } {
    return { images: this.entries.length, bytes: this.totalBytes, oldestAcceptedAt: this.entries[0]?.acceptedAt ?? null };
  }
}

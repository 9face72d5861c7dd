import { closeSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from 'pino';
import { writeFileAtomic } from '@sightline/kit';

/**
 * The uplink's store-and-forward queue: messages on their way upstream, in append-only segment
 * files, in arrival order. A message is removed only once the upstream has it (`ack`), so what
 * is in the queue survives the uplink stopping, crashing or the upstream being away. Bounded in
 * messages and bytes: past either, the oldest message goes, counted.
 *
 * On disk: `<n>.seg` files of records, and `head` naming the first record still wanted
 * (`<segment> <offset>`). A record is
 *   magic u32 | body length u32 | crc32(body) u32 | body
 * and its body is
 *   version u8 | flags u8 (1: retain) | topic length u16 | arrived at f64 (ms) | topic | payload.
 * Appends are not fsynced one by one: a crash of the process loses nothing (the kernel holds the
 * write), a power cut may lose the last writes or tear the last record, which reading back
 * detects (magic, length, checksum), logs, counts and skips. The head is written at most every
 * `headWriteMs` and at close, so after a crash up to that much of what was delivered is delivered
 * again: delivery is at least once.
 */

const MAGIC = 0x534c5551; // "SLUQ"
const MAGIC_BYTES = Buffer.from('SLUQ', 'latin1');
const VERSION = 1;
const HEADER_BYTES = 12;
const BODY_FIXED_BYTES = 1 + 1 + 2 + 8;
const SEGMENT_SUFFIX = '.seg';
const HEAD_FILE = 'head';
/** Longest topic MQTT can carry. */
const MAX_TOPIC_BYTES = 65_535;

export interface QueuedMessage {
  topic: string;
  payload: Buffer;
  retain: boolean;
  /** When it arrived, ms since the epoch. */
  at: number;
}

/** A message as handed out for sending: `id` is what `ack` takes. */
export interface OutgoingMessage extends QueuedMessage {
  id: number;
}

interface Entry {
  id: number;
  segment: number;
  offset: number;
  /** Record size on disk, header included. */
  bytes: number;
  at: number;
  sent: boolean;
  acked: boolean;
}

export type DropReason = 'overflow' | 'too-large';

export interface QueueOptions {
  dir: string;
  maxMessages: number;
  maxBytes: number;
  logger: Logger;
  /** A segment is closed and a new one begun past this size (default: maxBytes / 16, 64 KiB-4 MiB). */
  segmentBytes?: number;
  headWriteMs?: number;
  now?: () => number;
  onDrop?: (reason: DropReason, messages: number, bytes: number) => void;
  /** An unreadable stretch of a segment, skipped. */
  onCorrupt?: (segment: string, offset: number, bytes: number) => void;
}

/** A FIFO with O(1) push and shift (an array with a moving start, compacted now and then). */
class Deque<T> {
  private items: T[] = [];
  private start = 0;
  get length(): number {
    return this.items.length - this.start;
  }
  push(item: T): void {
    this.items.push(item);
  }
  at(index: number): T | undefined {
    return this.items[this.start + index];
  }
  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.items[this.start]!;
    this.start += 1;
    if (this.start > 1024 && this.start * 2 > this.items.length) {
      this.items = this.items.slice(this.start);
      this.start = 0;
    }
    return item;
  }
}

function segmentName(n: number): string {
  return `${String(n).padStart(12, '0')}${SEGMENT_SUFFIX}`;
}

export function encodeRecord(message: QueuedMessage): Buffer {
  const topic = Buffer.from(message.topic, 'utf8');
  if (topic.length > MAX_TOPIC_BYTES) throw new Error(`topic of ${topic.length} bytes is longer than MQTT allows`);
  const bodyLength = BODY_FIXED_BYTES + topic.length + message.payload.length;
  const record = Buffer.allocUnsafe(HEADER_BYTES + bodyLength);
  record.writeUInt32BE(MAGIC, 0);
  record.writeUInt32BE(bodyLength, 4);
  let at = HEADER_BYTES;
  at = record.writeUInt8(VERSION, at);
  at = record.writeUInt8(message.retain ? 1 : 0, at);
  at = record.writeUInt16BE(topic.length, at);
  at = record.writeDoubleBE(message.at, at);
  at += topic.copy(record, at);
  message.payload.copy(record, at);
  record.writeUInt32BE(crc32(record.subarray(HEADER_BYTES)), 8);
  return record;
}

/** The record starting at `offset` of `data`, or why there is none. */
function decodeRecord(data: Buffer, offset: number): { message: QueuedMessage; bytes: number } | { problem: string } {
  if (data.length - offset < HEADER_BYTES) return { problem: 'truncated header' };
  if (data.readUInt32BE(offset) !== MAGIC) return { problem: 'no record marker' };
  const bodyLength = data.readUInt32BE(offset + 4);
  if (bodyLength < BODY_FIXED_BYTES) return { problem: 'impossible length' };
  if (data.length - offset - HEADER_BYTES < bodyLength) return { problem: 'truncated record' };
  const body = data.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + bodyLength);
  if (crc32(body) !== data.readUInt32BE(offset + 8)) return { problem: 'checksum mismatch' };
  if (body.readUInt8(0) !== VERSION) return { problem: `unknown record version ${body.readUInt8(0)}` };
  const topicLength = body.readUInt16BE(2);
  if (BODY_FIXED_BYTES + topicLength > bodyLength) return { problem: 'impossible topic length' };
  const topic = body.subarray(BODY_FIXED_BYTES, BODY_FIXED_BYTES + topicLength).toString('utf8');
  return {
    message: { retain: (body.readUInt8(1) & 1) === 1, at: body.readDoubleBE(4), topic, payload: Buffer.from(body.subarray(BODY_FIXED_BYTES + topicLength)) },
    bytes: HEADER_BYTES + bodyLength,
  };
}

export class DiskQueue {
  private readonly options: QueueOptions;
  private readonly segmentBytes: number;
  private readonly entries = new Deque<Entry>();
  private nextId = 1;
  private liveBytes = 0;
  /** Entries at the front that have been handed out for sending. */
  private sentCount = 0;
  private writeSegment = 0;
  private writeFd: number | null = null;
  private writeSize = 0;
  private readFds = new Map<number, number>();
  /** The first segment still on disk. */
  private firstSegment = 0;
  private headDirty = false;
  private headTimer: NodeJS.Timeout | undefined;
  private opened = false;

  constructor(options: QueueOptions) {
    this.options = options;
    this.segmentBytes = options.segmentBytes ?? Math.min(4 * 1024 * 1024, Math.max(64 * 1024, Math.floor(options.maxBytes / 16)));
  }

  get messages(): number {
    return this.entries.length;
  }

  get bytes(): number {
    return this.liveBytes;
  }

  /** When the oldest waiting message arrived. */
  get oldestAt(): number | null {
    return this.entries.at(0)?.at ?? null;
  }

  /** Reads what the queue held when it was last closed (or the process died). */
  open(): void {
    const { dir, logger } = this.options;
    mkdirSync(dir, { recursive: true });
    const segments = readdirSync(dir)
      .filter((name) => /^\d{12}\.seg$/.test(name))
      .map((name) => Number(name.slice(0, 12)))
      .sort((a, b) => a - b);
    const head = this.readHead();
    for (const n of segments) {
      if (head !== null && n < head.segment) rmSync(path.join(dir, segmentName(n)), { force: true });
    }
    const kept = segments.filter((n) => head === null || n >= head.segment);
    for (const n of kept) this.scanSegment(n, head !== null && n === head.segment ? head.offset : 0, n === kept.at(-1));
    this.firstSegment = kept[0] ?? (head?.segment ?? 0) + 1;
    this.writeSegment = kept.at(-1) ?? this.firstSegment;
    this.openForAppend(this.writeSegment);
    this.opened = true;
    this.enforceLimits();
    if (this.entries.length > 0) logger.info({ messages: this.entries.length, bytes: this.liveBytes }, 'queue read back from disk: delivering it first');
  }

  private readHead(): { segment: number; offset: number } | null {
    let text: string;
    try {
      text = readFileSync(path.join(this.options.dir, HEAD_FILE), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const match = /^(\d{1,12}) (\d{1,15})\n?$/.exec(text);
    if (match === null) {
      this.options.logger.error({ file: path.join(this.options.dir, HEAD_FILE) }, 'queue head file unreadable: delivering every message on disk again');
      return null;
    }
    return { segment: Number(match[1]), offset: Number(match[2]) };
  }

  /** Indexes the records of one segment from `from`; skips (and reports) what cannot be read. */
  private scanSegment(n: number, from: number, last: boolean): void {
    const file = path.join(this.options.dir, segmentName(n));
    const data = readFileSync(file);
    let offset = Math.min(from, data.length);
    let lastGood = offset;
    while (offset < data.length) {
      const record = decodeRecord(data, offset);
      if ('message' in record) {
        this.entries.push({ id: this.nextId++, segment: n, offset, bytes: record.bytes, at: record.message.at, sent: false, acked: false });
        this.liveBytes += record.bytes;
        offset += record.bytes;
        lastGood = offset;
        continue;
      }
      // Find the next record that reads whole: a torn or damaged stretch costs only itself.
      let next = offset + 1;
      for (;;) {
        next = data.indexOf(MAGIC_BYTES, next);
        if (next === -1 || 'message' in decodeRecord(data, next)) break;
        next += 1;
      }
      const end = next === -1 ? data.length : next;
      this.options.logger.error(
        { segment: file, offset, bytes: end - offset, problem: record.problem },
        next === -1
          ? 'queue file ends in an unreadable record (a torn write?): skipped'
          : 'unreadable stretch in a queue file: skipped, the records after it are kept',
      );
      this.options.onCorrupt?.(file, offset, end - offset);
      offset = end;
    }
    // A torn tail of the segment new records go to is cut off, so they follow the last whole record.
    if (last && lastGood < data.length) {
      const fd = openSync(file, 'r+');
      try {
        ftruncateSync(fd, lastGood);
      } finally {
        closeSync(fd);
      }
    }
  }

  private openForAppend(n: number): void {
    if (this.writeFd !== null) {
      fsyncSync(this.writeFd);
      closeSync(this.writeFd);
    }
    this.writeSegment = n;
    this.writeFd = openSync(path.join(this.options.dir, segmentName(n)), 'a');
    this.writeSize = fstatSync(this.writeFd).size;
  }

  /** Stores a message at the end. Returns false (counted) for a message larger than the whole queue. */
  append(message: QueuedMessage): boolean {
    if (!this.opened || this.writeFd === null) throw new Error('queue not open');
    const record = encodeRecord(message);
    if (record.length > this.options.maxBytes) {
      this.options.onDrop?.('too-large', 1, record.length);
      return false;
    }
    if (this.writeSize > 0 && this.writeSize + record.length > this.segmentBytes) this.openForAppend(this.writeSegment + 1);
    let written = 0;
    while (written < record.length) written += writeSync(this.writeFd!, record, written);
    this.entries.push({
      id: this.nextId++,
      segment: this.writeSegment,
      offset: this.writeSize,
      bytes: record.length,
      at: message.at,
      sent: false,
      acked: false,
    });
    this.writeSize += record.length;
    this.liveBytes += record.length;
    this.enforceLimits();
    return true;
  }

  /** Drops the oldest messages while over a limit; one in flight goes too (its acknowledgement is then ignored). */
  private enforceLimits(): void {
    let messages = 0;
    let bytes = 0;
    while (this.entries.length > this.options.maxMessages || this.liveBytes > this.options.maxBytes) {
      const dropped = this.removeFirst();
      messages += 1;
      bytes += dropped.bytes;
    }
    if (messages > 0) {
      this.options.onDrop?.('overflow', messages, bytes);
      this.afterHeadMoved();
      // Acknowledged out of order behind the dropped ones: delivered, so they go too, uncounted.
      this.advance();
    }
  }

  private removeFirst(): Entry {
    const entry = this.entries.shift()!;
    if (entry.sent) this.sentCount -= 1;
    this.liveBytes -= entry.bytes;
    return entry;
  }

  /** The next message not yet handed out, marked as sent; null when every message is out. */
  next(): OutgoingMessage | null {
    while (this.sentCount < this.entries.length) {
      const entry = this.entries.at(this.sentCount)!;
      this.sentCount += 1;
      entry.sent = true;
      if (entry.acked) continue;
      const message = this.read(entry);
      if (message !== null) return { id: entry.id, ...message };
      // Unreadable now (the disk changed under us): count it, forget it.
      entry.acked = true;
      this.options.onCorrupt?.(segmentName(entry.segment), entry.offset, entry.bytes);
      this.advance();
    }
    return null;
  }

  /** Whether a message waits that has not been handed out. */
  hasUnsent(): boolean {
    return this.sentCount < this.entries.length;
  }

  private read(entry: Entry): QueuedMessage | null {
    let fd = this.readFds.get(entry.segment);
    if (fd === undefined) {
      fd = openSync(path.join(this.options.dir, segmentName(entry.segment)), 'r');
      this.readFds.set(entry.segment, fd);
    }
    const data = Buffer.allocUnsafe(entry.bytes);
    let got = 0;
    while (got < entry.bytes) {
      const n = readSync(fd, data, got, entry.bytes - got, entry.offset + got);
      if (n === 0) break;
      got += n;
    }
    if (got < entry.bytes) return null;
    const record = decodeRecord(data, 0);
    return 'message' in record ? record.message : null;
  }

  /** The upstream has the message: it leaves the queue once everything before it has too. */
  ack(id: number): boolean {
    for (let i = 0; i < this.sentCount; i++) {
      const entry = this.entries.at(i)!;
      if (entry.id !== id) continue;
      entry.acked = true;
      this.advance();
      return true;
    }
    return false; // dropped while in flight
  }

  /** Everything handed out but not acknowledged is to be sent again (the connection went). */
  rewind(): void {
    for (let i = 0; i < this.sentCount; i++) this.entries.at(i)!.sent = false;
    this.sentCount = 0;
  }

  private advance(): void {
    let moved = false;
    while (this.entries.length > 0 && this.entries.at(0)!.acked) {
      this.removeFirst();
      moved = true;
    }
    if (moved) this.afterHeadMoved();
  }

  private afterHeadMoved(): void {
    this.headDirty = true;
    if (this.headTimer === undefined) {
      this.headTimer = setTimeout(() => {
        this.headTimer = undefined;
        this.flushHead();
      }, this.options.headWriteMs ?? 250);
      this.headTimer.unref();
    }
  }

  /** Writes where the queue begins, then removes the segments wholly before it. */
  flushHead(): void {
    if (!this.headDirty || !this.opened) return;
    this.headDirty = false;
    const first = this.entries.at(0);
    const head = first === undefined ? { segment: this.writeSegment, offset: this.writeSize } : { segment: first.segment, offset: first.offset };
    writeFileAtomic(path.join(this.options.dir, HEAD_FILE), `${head.segment} ${head.offset}\n`);
    for (let n = this.firstSegment; n < head.segment; n++) {
      const fd = this.readFds.get(n);
      if (fd !== undefined) {
        closeSync(fd);
        this.readFds.delete(n);
      }
      rmSync(path.join(this.options.dir, segmentName(n)), { force: true });
    }
    this.firstSegment = Math.max(this.firstSegment, head.segment);
  }

  close(): void {
    if (!this.opened) return;
    clearTimeout(this.headTimer);
    this.headTimer = undefined;
    this.flushHead();
    if (this.writeFd !== null) {
      fsyncSync(this.writeFd);
      closeSync(this.writeFd);
      this.writeFd = null;
    }
    for (const fd of this.readFds.values()) closeSync(fd);
    this.readFds.clear();
    this.opened = false;
  }
}

import { Duplex } from 'node:stream';

/**
 * MQTT reads a whole packet before it can act on it, so the size a packet announces in its fixed
 * header is what a client makes the broker buffer. The gate sits between every accepted
 * connection (TCP, TLS, and the byte stream of a WebSocket) and aedes, reads each fixed header
 * (type, remaining-length varint) as bytes arrive, and closes the connection the moment a packet
 * announces more than its type may carry, before any of it is buffered.
 */

export interface PacketLimits {
  /** Remaining length of the first packet, which must be CONNECT (read before authentication). */
  connectBytes: number;
  /** Remaining length of a PUBLISH. */
  publishBytes: number;
  /** Remaining length of a SUBSCRIBE or UNSUBSCRIBE. */
  subscribeBytes: number;
}

export type GateViolation = 'first_not_connect' | 'connect_too_large' | 'publish_too_large' | 'subscribe_too_large' | 'malformed_length' | 'unexpected_type';

export interface Violation {
  reason: GateViolation;
  /** The packet type (1-15) whose header broke the rule. */
  type: number;
  /** The remaining length it announced, when it was read. */
  announced?: number;
  limit?: number;
}

/** MQTT 3.1.1 fixed header: at most four remaining-length bytes. */
const MAX_LENGTH_BYTES = 4;

const CONNECT = 1;
const PUBLISH = 3;
const SUBSCRIBE = 8;
const UNSUBSCRIBE = 10;
/** Client-to-server packets whose remaining length the spec fixes: PUBACK, PUBREC, PUBREL, PUBCOMP (2), PINGREQ, DISCONNECT (0). */
const FIXED_LENGTH: ReadonlyMap<number, number> = new Map([
  [4, 2],
  [5, 2],
  [6, 2],
  [7, 2],
  [12, 0],
  [14, 0],
]);

/** Where the scanner is in the current packet. */
const TYPE = 0;
const LENGTH = 1;
const BODY = 2;

/** Follows the packet boundaries of one client's byte stream and reports the first packet that breaks a limit. */
export class PacketScanner {
  readonly #limits: PacketLimits;
  #state: number = TYPE;
  #type = 0;
  #length = 0;
  #multiplier = 1;
  #lengthBytes = 0;
  #remaining = 0;
  #packets = 0;
  #completed = 0;
  #firstEnd = -1;
  #lastEnd = -1;

  constructor(limits: PacketLimits) {
    this.#limits = limits;
  }

  /** Packets read to their last byte. */
  get completed(): number {
    return this.#completed;
  }

  /** Where in the chunk last scanned the first packet completed in it ends (-1: none did). */
  get firstEnd(): number {
    return this.#firstEnd;
  }

  /** Where in the chunk last scanned the last packet completed in it ends (-1: none did). */
  get lastEnd(): number {
    return this.#lastEnd;
  }

  #complete(end: number): void {
    this.#completed += 1;
    if (this.#firstEnd === -1) this.#firstEnd = end;
    this.#lastEnd = end;
  }

  /** Scans the next bytes; returns the violation found in them, if any (the stream must then be closed). */
  scan(chunk: Uint8Array): Violation | null {
    let i = 0;
    const n = chunk.length;
    this.#firstEnd = -1;
    this.#lastEnd = -1;
    while (i < n) {
      switch (this.#state) {
        case BODY: {
          const take = Math.min(this.#remaining, n - i);
          this.#remaining -= take;
          i += take;
          if (this.#remaining === 0) {
            this.#state = TYPE;
            this.#complete(i);
          }
          break;
        }
        case TYPE: {
          this.#type = chunk[i]! >> 4;
          i += 1;
          const problem = this.#checkType();
          if (problem !== null) return problem;
          this.#state = LENGTH;
          this.#length = 0;
          this.#multiplier = 1;
          this.#lengthBytes = 0;
          break;
        }
        case LENGTH: {
          const byte = chunk[i]!;
          i += 1;
          this.#length += (byte & 0x7f) * this.#multiplier;
          this.#multiplier *= 128;
          this.#lengthBytes += 1;
          if (byte & 0x80) {
            if (this.#lengthBytes === MAX_LENGTH_BYTES) return { reason: 'malformed_length', type: this.#type };
            break;
          }
          const problem = this.#checkLength();
          if (problem !== null) return problem;
          this.#packets += 1;
          this.#remaining = this.#length;
          this.#state = this.#length === 0 ? TYPE : BODY;
          if (this.#length === 0) this.#complete(i);
          break;
        }
      }
    }
    // A length whose bytes so far already exceed the limit need not wait for its last byte.
    if (this.#state === LENGTH) return this.#checkLength(true);
    return null;
  }

  #checkType(): Violation | null {
    const type = this.#type;
    if (this.#packets === 0) return type === CONNECT ? null : { reason: 'first_not_connect', type };
    if (type === PUBLISH || type === SUBSCRIBE || type === UNSUBSCRIBE || FIXED_LENGTH.has(type)) return null;
    // CONNECT again ([MQTT-3.1.0-2]), server-to-client types, and the reserved 0 and 15.
    return { reason: 'unexpected_type', type };
  }

  #checkLength(partial = false): Violation | null {
    const type = this.#type;
    const announced = this.#length;
    const over = (reason: GateViolation, limit: number): Violation | null => (announced > limit ? { reason, type, announced, limit } : null);
    if (type === CONNECT) return over('connect_too_large', this.#limits.connectBytes);
    if (type === PUBLISH) return over('publish_too_large', this.#limits.publishBytes);
    if (type === SUBSCRIBE || type === UNSUBSCRIBE) return over('subscribe_too_large', this.#limits.subscribeBytes);
    const fixed = FIXED_LENGTH.get(type)!;
    if (partial) return over('malformed_length', fixed);
    return announced === fixed ? null : { reason: 'malformed_length', type, announced, limit: fixed };
  }
}

export interface PacketGateOptions {
  limits: PacketLimits;
  onViolation: (violation: Violation) => void;
  /** Called once the client has authenticated (a WebSocket raises its message limit then). */
  onAuthenticated?: () => void;
}

/**
 * The stream aedes reads and writes in place of the connection. Reads pass through the scanner
 * and are handed on in whole packets; writes (and cork/uncork, so aedes' batched writes stay
 * batched) go straight to the connection. Once the CONNECT is read, nothing more is read until
 * the client has authenticated (aedes reads nothing meanwhile either), so before authentication
 * a connection holds at most its CONNECT and one read of the socket.
 *
 * Why whole packets: aedes reads with `read(null)`, which joined every buffered socket read into
 * one new buffer, and mqtt-packet copied each payload again whenever it spanned two reads (most
 * 50 KB frames do, the socket reading 64 KiB at a time). Now a packet within one socket read is
 * passed on as a view of it, one spanning reads is joined once (as Mosquitto reads each packet
 * into a buffer of its own), and `read(null)` returns one such buffer at a time: whole packets
 * only, so aedes always parses at least one and asks for the next buffer when done.
 */
export class PacketGate extends Duplex {
  readonly #inner: Duplex;
  readonly #scanner: PacketScanner;
  readonly #options: PacketGateOptions;
  #authenticated = false;
  /** The start of a packet not yet read to its end: views of the socket reads it came in. */
  #partial: Buffer[] = [];
  /** Lengths of the buffers waiting in the readable side, oldest first. */
  #queued: number[] = [];

  constructor(inner: Duplex, options: PacketGateOptions) {
    // Buffering 256 KiB rather than the default 64 KiB spares a pause and resume of the socket
    // per 64 KiB read: the gate's cost on 50 KB publishes fell from 8% to 2% of CPU (median of 9
    // runs of 10,000, against the socket read directly).
    super({ allowHalfOpen: false, decodeStrings: true, readableHighWaterMark: 256 * 1024 });
    this.#inner = inner;
    this.#options = options;
    this.#scanner = new PacketScanner(options.limits);
    inner.on('data', (chunk: Buffer) => this.#onData(chunk));
    inner.on('end', () => this.push(null));
    // Writes go to the connection directly: its drain is the gate's.
    inner.on('drain', () => this.emit('drain'));
    inner.on('error', (err: Error) => this.destroy(err));
    inner.on('close', () => this.destroy());
  }

  /** The peer address of a TCP or TLS connection (aedes and the auth hooks read it from the stream). */
  get remoteAddress(): string | undefined {
    return (this.#inner as Partial<{ remoteAddress: string }>).remoteAddress;
  }

  /** Bytes written to the client and not yet taken by its socket. */
  get unsentBytes(): number {
    return this.#inner.writableLength + this.writableLength;
  }

  authenticated(): void {
    if (this.#authenticated) return;
    this.#authenticated = true;
    this.#options.onAuthenticated?.();
    if (!this.destroyed) this.#inner.resume();
  }

  #waitingForAuthentication(): boolean {
    return !this.#authenticated && this.#scanner.completed > 0;
  }

  #onData(chunk: Buffer): void {
    if (this.destroyed) return;
    const scanner = this.#scanner;
    const violation = scanner.scan(chunk);
    if (violation !== null) {
      this.#options.onViolation(violation);
      this.#inner.destroy();
      this.destroy();
      return;
    }
    const first = scanner.firstEnd;
    const last = scanner.lastEnd;
    if (last === -1) {
      this.#partial.push(chunk);
      return;
    }
    let flowing = true;
    if (this.#partial.length === 0) {
      flowing = this.#hand(chunk.subarray(0, last));
    } else {
      const partial = this.#partial;
      partial.push(chunk.subarray(0, first));
      flowing = this.#hand(Buffer.concat(partial));
      if (last > first) flowing = this.#hand(chunk.subarray(first, last));
    }
    this.#partial = last < chunk.length ? [chunk.subarray(last)] : [];
    if (!flowing || this.#waitingForAuthentication()) this.#inner.pause();
  }

  /** Passes whole packets on; false once the readable side holds its high-water mark. */
  #hand(packets: Buffer): boolean {
    const before = this.readableLength;
    const flowing = this.push(packets);
    // Not counted when handed straight to a 'data' listener rather than buffered.
    if (this.readableLength > before) this.#queued.push(packets.length);
    return flowing;
  }

  /** `read(null)`, as aedes calls it, returns the oldest buffer of whole packets rather than all of them joined. */
  override read(size?: number | null): Buffer | null {
    if (size === undefined || size === null) {
      const next = this.#queued[0];
      if (next !== undefined && next <= this.readableLength) {
        this.#queued.shift();
        return super.read(next) as Buffer | null;
      }
      this.#queued = [];
    }
    return super.read(size ?? undefined) as Buffer | null;
  }

  override _read(): void {
    if (!this.#waitingForAuthentication()) this.#inner.resume();
  }

  /** What aedes writes (mqtt-packet's pieces of each packet) goes to the connection without a second stream's bookkeeping. */
  override write(
    chunk: unknown,
    encoding?: BufferEncoding | ((error: Error | null | undefined) => void),
    callback?: (error: Error | null | undefined) => void,
  ): boolean {
    if (this.destroyed || this.writableEnded) return super.write(chunk, encoding as BufferEncoding, callback);
    if (typeof encoding === 'function') return this.#inner.write(chunk, encoding);
    return this.#inner.write(chunk, encoding as BufferEncoding, callback);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#inner.write(chunk)) callback();
    else this.#inner.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#inner.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#inner.destroy();
    this.#partial = [];
    this.#queued = [];
    callback(error);
  }

  override cork(): void {
    this.#inner.cork();
  }

  override uncork(): void {
    this.#inner.uncork();
  }
}

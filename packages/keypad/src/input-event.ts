/**
 * The kernel's `struct input_event` as read from /dev/input/event* on 64-bit Linux: 24 bytes,
 * little-endian, `tv_sec` (int64), `tv_usec` (int64), `type` (u16), `code` (u16), `value` (s32).
 * Parsed here once, where it enters (CONVENTIONS 13); nothing else reads the bytes.
 */

export const INPUT_EVENT_SIZE = 24;

export const EV_SYN = 0;
export const EV_KEY = 1;
export const EV_MSC = 4;

/** EV_SYN codes: a packet of events ends with SYN_REPORT; SYN_DROPPED says the kernel's buffer overflowed. */
export const SYN_REPORT = 0;
export const SYN_DROPPED = 3;

/** EV_KEY values. */
export const KEY_RELEASE = 0;
export const KEY_PRESS = 1;
export const KEY_AUTOREPEAT = 2;

export interface InputEvent {
  /** Seconds since the epoch (evdev's default clock is CLOCK_REALTIME). */
  sec: number;
  usec: number;
  type: number;
  code: number;
  value: number;
}

const TWO_32 = 2 ** 32;

/** Writes one record at `offset` of `target` (a new 24-byte buffer by default). */
export function encodeInputEvent(event: InputEvent, target: Buffer = Buffer.alloc(INPUT_EVENT_SIZE), offset = 0): Buffer {
  target.writeBigInt64LE(BigInt(event.sec), offset);
  target.writeBigInt64LE(BigInt(event.usec), offset + 8);
  target.writeUInt16LE(event.type, offset + 16);
  target.writeUInt16LE(event.code, offset + 18);
  target.writeInt32LE(event.value, offset + 20);
  return target;
}

export function encodeInputEvents(events: readonly InputEvent[]): Buffer {
  const out = Buffer.alloc(events.length * INPUT_EVENT_SIZE);
  events.forEach((event, i) => encodeInputEvent(event, out, i * INPUT_EVENT_SIZE));
  return out;
}

/** Reads one record at `offset`; the caller makes sure 24 bytes are there. */
export function decodeInputEvent(source: Uint8Array, offset = 0): InputEvent {
  const view = new DataView(source.buffer, source.byteOffset + offset, INPUT_EVENT_SIZE);
  // Two 32-bit halves rather than getBigInt64: a key flood decodes without a BigInt per field,
  // and every real timestamp fits a double exactly.
  return {
    sec: view.getInt32(4, true) * TWO_32 + view.getUint32(0, true),
    usec: view.getInt32(12, true) * TWO_32 + view.getUint32(8, true),
    type: view.getUint16(16, true),
    code: view.getUint16(18, true),
    value: view.getInt32(20, true),
  };
}

/** The record's timestamp in microseconds since the epoch (exact: below 2^53 until the year 2255). */
export function eventTimeUs(event: InputEvent): number {
  return event.sec * 1_000_000 + event.usec;
}

/** The record's timestamp in whole milliseconds since the epoch, comparable with `Date.now()`. */
export function eventTimeMs(event: InputEvent): number {
  return event.sec * 1000 + Math.floor(event.usec / 1000);
}

/**
 * Records from a byte stream cut anywhere: a pipe or a socket may split a record across reads
 * (evdev itself only returns whole ones). Holds at most 23 bytes between calls.
 */
export class InputEventDecoder {
  readonly #carry = Buffer.alloc(INPUT_EVENT_SIZE);
  #carried = 0;

  /** Bytes of an unfinished record waiting for the rest. */
  get pendingBytes(): number {
    return this.#carried;
  }

  /** Calls `onEvent` for every record completed by `chunk`, in order. */
  push(chunk: Uint8Array, onEvent: (event: InputEvent) => void): void {
    let at = 0;
    if (this.#carried > 0) {
      const take = Math.min(INPUT_EVENT_SIZE - this.#carried, chunk.length);
      this.#carry.set(chunk.subarray(0, take), this.#carried);
      this.#carried += take;
      at = take;
      if (this.#carried < INPUT_EVENT_SIZE) return;
      this.#carried = 0;
      onEvent(decodeInputEvent(this.#carry));
    }
    for (; at + INPUT_EVENT_SIZE <= chunk.length; at += INPUT_EVENT_SIZE) onEvent(decodeInputEvent(chunk, at));
    if (at < chunk.length) {
      this.#carry.set(chunk.subarray(at), 0);
      this.#carried = chunk.length - at;
    }
  }

  /** Forgets an unfinished record (the stream ended or was reopened); returns how many bytes it had. */
  reset(): number {
    const dropped = this.#carried;
    this.#carried = 0;
    return dropped;
  }
}

/** All records of `bytes`; throws when its length is not a whole number of records. */
export function decodeInputEvents(bytes: Uint8Array): InputEvent[] {
  if (bytes.length % INPUT_EVENT_SIZE !== 0) throw new RangeError(`${bytes.length} bytes is not a whole number of ${INPUT_EVENT_SIZE}-byte input events`);
  const events: InputEvent[] = [];
  for (let at = 0; at < bytes.length; at += INPUT_EVENT_SIZE) events.push(decodeInputEvent(bytes, at));
  return events;
}

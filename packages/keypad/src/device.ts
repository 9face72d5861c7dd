import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import type { Logger } from '@sightline/kit';
import { INPUT_EVENT_SIZE, InputEventDecoder, type InputEvent } from './input-event.ts';

/**
 * One input device path, read for as long as it is wanted: opened when it appears, reopened when
 * it comes back, its records decoded and handed on one by one.
 *
 * Why not `fs.createReadStream`: each read of a stream is a blocking read(2) on a libuv threadpool
 * thread until the device has data, that is until the next key press. Measured on Node 24 with a
 * FIFO whose writer stays silent: `destroy()` does not close the stream until the read returns
 * (2 s later, when a byte was finally written), so stop() would hang until someone pressed a key;
 * and four such readers (four lanes) took all four threadpool threads, so an unrelated
 * `fs.readFile` (and pino's asynchronous log writes) waited behind them indefinitely.
 *
 * So the path is opened O_RDONLY|O_NONBLOCK and read with readSync on the main thread: a read
 * returns at once, with whole records from evdev, EAGAIN when no key is down, or ENODEV once the
 * device is unplugged. Nothing is ever in flight, so stop() is a clearTimeout and a close. The
 * price is a poll: one read every `pollMs` (20 ms: well under what a shopper notices before the
 * speech answers; an empty read costs about 8 µs, so 50 a second is about 0.04% of a core).
 * Node has no way to wait on a character device's readiness without a native addon (net.Socket
 * takes FIFOs but refuses character devices).
 *
 * A FIFO at the path (what the tests use) behaves the same way: O_NONBLOCK makes open return at
 * once even with no writer, where a blocking open would wait for one; a read with no writer gives
 * end of input (0), with a silent writer EAGAIN. A FIFO with no writer is therefore a device that
 * is not there ('missing'), and a writer that closes is a device unplugged.
 */

export type DeviceState = 'open' | 'missing' | 'error';

export interface DeviceStatus {
  device: string;
  state: DeviceState;
  /** Why the device is missing or unusable. */
  reason?: string;
  /** `now()` when the device entered this state. */
  since: number;
  /** Partial records thrown away at the end of input. */
  corrupt: number;
}

export interface InputDeviceOptions {
  device: string;
  logger: Logger;
  onEvent(event: InputEvent): void;
  onStateChange?(status: DeviceStatus): void;
  /** How long to wait before looking again for a missing or unusable device; default 1000 ms. */
  retryMs?: number;
  /** How long to wait before reading again when the device had nothing; default 20 ms. */
  pollMs?: number;
  now?: () => number;
}

export interface InputDevice {
  /** Opens the device if it is there (or starts waiting for it); never throws for the device's sake. */
  start(): void;
  stop(): void;
  status(): DeviceStatus;
}

/** 2048 records (48 KiB) a read: a flood is decoded a bounded chunk per event-loop turn. */
const READ_RECORDS = 2048;

const MISSING_OPEN_CODES = new Set(['ENOENT', 'ENODEV', 'ENXIO']);
const GONE_READ_CODES = new Set(['ENODEV', 'EIO', 'ENXIO']);

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function kindOf(stats: Stats): string {
  if (stats.isFile()) return 'a regular file';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isSocket()) return 'a socket';
  if (stats.isBlockDevice()) return 'a block device';
  return 'not a character device';
}

export function permissionReason(device: string): string {
  return `permission denied opening ${device}: the service's user needs read access to input devices; add it to the "input" group (usermod -aG input <user>, then restart the service) or grant the keypad with a udev rule`;
}

export function createInputDevice(options: InputDeviceOptions): InputDevice {
  const { device, onEvent } = options;
  const logger = options.logger.child({ module: 'keypad', device });
  const retryMs = options.retryMs ?? 1000;
  const pollMs = options.pollMs ?? 20;
  const now = options.now ?? Date.now;
  const buffer = Buffer.alloc(READ_RECORDS * INPUT_EVENT_SIZE);
  const decoder = new InputEventDecoder();

  let running = false;
  let fd: number | null = null;
  let timer: NodeJS.Timeout | null = null;
  let immediate: NodeJS.Immediate | null = null;
  /** null before the first look at the device (and after stop), so that first look is always logged. */
  let state: DeviceState | null = null;
  let reason: string | undefined = 'not started';
  let since = now();
  let corrupt = 0;

  const status = (): DeviceStatus => ({
    device,
    state: state ?? 'missing',
    ...(reason === undefined ? {} : { reason }),
    since,
    corrupt,
  });

  function enter(next: DeviceState, why?: string): void {
    if (next === state && why === reason) return;
    const previous = state;
    if (next !== state) since = now();
    state = next;
    reason = why;
    // One line per change of state, not per retry: a keypad left unplugged all day logs once.
    if (next === 'open') logger.info('keypad device open');
    else if (next === 'missing' && previous !== 'missing')
      logger.warn({ reason: why, retryMs }, 'keypad device missing; looking for it again until it appears');
    else if (next === 'error') logger.error({ reason: why, retryMs }, 'keypad device unusable; looking again in case it is replaced');
    options.onStateChange?.(status());
  }

  function closeDevice(): void {
    if (fd === null) return;
    try {
      closeSync(fd);
    } catch (err) {
      logger.debug({ err }, 'closing the keypad device failed');
    }
    fd = null;
  }

  function lookLater(): void {
    if (running) timer = setTimeout(open, retryMs);
  }

  function lost(next: DeviceState, why: string): void {
    const partial = decoder.reset();
    if (partial > 0) {
      corrupt += 1;
      logger.warn({ bytes: partial }, 'partial input record at the end of input, dropped');
    }
    closeDevice();
    enter(next, why);
    lookLater();
  }

  function open(): void {
    timer = null;
    if (!running) return;
    try {
      fd = openSync(device, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (err) {
      const code = errorCode(err);
      if (code === 'EACCES' || code === 'EPERM') enter('error', permissionReason(device));
      else if (code === 'ENXIO' && isSocket(device))
        enter('error', `${device} is a socket, not an input device: expected a character device such as /dev/input/event3`);
      else if (code !== undefined && MISSING_OPEN_CODES.has(code)) enter('missing', `not found (${code})`);
      else enter('error', `cannot open ${device}: ${errorText(err)}`);
      lookLater();
      return;
    }
    let stats: Stats;
    try {
      stats = fstatSync(fd);
    } catch (err) {
      lost('error', `cannot stat ${device}: ${errorText(err)}`);
      return;
    }
    if (!stats.isCharacterDevice() && !stats.isFIFO()) {
      // Read anyway, a regular file would replay whatever it holds and a directory fails with
      // EISDIR; say what the path is instead, and keep looking in case it is replaced.
      lost(
        'error',
        `${device} is ${kindOf(stats)}, not an input device: expected a character device such as /dev/input/event3 (or a /dev/input/by-id/*-event-kbd link to one)`,
      );
      return;
    }
    decoder.reset();
    read();
  }

  function read(): void {
    timer = null;
    immediate = null;
    if (fd === null || !running) return;
    let bytes: number;
    try {
      bytes = readSync(fd, buffer, 0, buffer.length, null);
    } catch (err) {
      const code = errorCode(err);
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
        enter('open');
        timer = setTimeout(read, pollMs);
      } else if (code === 'EINTR') {
        immediate = setImmediate(read);
      } else if (code !== undefined && GONE_READ_CODES.has(code)) {
        lost('missing', `unplugged (${code})`);
      } else {
        lost('error', `cannot read ${device}: ${errorText(err)}`);
      }
      return;
    }
    if (bytes === 0) {
      lost('missing', 'end of input (unplugged, or a FIFO with no writer)');
      return;
    }
    enter('open');
    decoder.push(buffer.subarray(0, bytes), onEvent);
    // The next chunk on the next turn of the event loop: a flood never holds it for more than one.
    if (running && fd !== null) immediate = setImmediate(read);
  }

  return {
    start() {
      if (running) return;
      running = true;
      open();
    },
    stop() {
      running = false;
      if (timer) clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
      timer = null;
      immediate = null;
      decoder.reset();
      closeDevice();
      if (state !== null) since = now();
      state = null;
      reason = 'stopped';
    },
    status,
  };
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

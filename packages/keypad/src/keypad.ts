import type { Logger } from '@sightline/kit';
import { createInputDevice, type DeviceState } from './device.ts';
import { EV_KEY, EV_SYN, eventTimeMs, eventTimeUs, KEY_PRESS, SYN_DROPPED, SYN_REPORT, type InputEvent } from './input-event.ts';
import { isKeyName, keyCode, keyNameOf, unknownKeyMessage, type KeyName } from './keys.ts';

/**
 * Key presses on one input device, as commands. Generic over the command: this library knows
 * keys; what a key means (repeat, pause, louder...) is the caller's key map.
 */

export interface KeyPress {
  key: KeyName;
  /** The kernel's timestamp of the press, milliseconds since the epoch. */
  at: number;
}

export interface KeypadOptions<C> {
  /** The input device, best a stable link such as /dev/input/by-id/usb-...-event-kbd. */
  device: string;
  keys: Partial<Record<KeyName, C>>;
  /** Called once per press of a mapped key; a throw or a rejection is logged, never fatal. */
  onCommand(command: C, press: KeyPress): void | Promise<void>;
  logger: Logger;
  /** How often a missing or unusable device is looked for again; default 1000 ms. */
  retryMs?: number;
  /** How often an open device is read when it had nothing; default 20 ms. */
  pollMs?: number;
  /** A second press of the same key this soon after the last one is contact bounce; default 50 ms. */
  debounceMs?: number;
  /** The clock for `since` in the status; Date.now by default. */
  now?: () => number;
}

export interface KeypadStatus {
  device: string;
  state: DeviceState;
  reason?: string;
  /** `now()` when the device entered this state. */
  since: number;
  /** Presses that became commands. */
  presses: number;
  /** Presses that did not: keys with no command, and bounces. */
  ignored: number;
  /** The part of `ignored` that was a bounce. */
  bounces: number;
  /** Times the kernel's buffer overflowed (SYN_DROPPED) and the rest of that packet was skipped. */
  dropped: number;
  /** Partial records thrown away at the end of input. */
  corrupt: number;
  /** `at` of the last press that became a command. */
  lastKeyAt: number | null;
}

export interface Keypad {
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): KeypadStatus;
}

export function createKeypad<C>(options: KeypadOptions<C>): Keypad {
  const bindings = new Map<number, { key: KeyName; command: C }>();
  for (const [key, command] of Object.entries(options.keys) as [string, C | undefined][]) {
    if (!isKeyName(key)) throw new TypeError(unknownKeyMessage(key));
    if (command !== undefined) bindings.set(keyCode(key), { key, command });
  }
  const debounceUs = (options.debounceMs ?? 50) * 1000;
  const logger = options.logger.child({ module: 'keypad', device: options.device });

  let running = false;
  let presses = 0;
  let ignored = 0;
  let bounces = 0;
  let dropped = 0;
  let lastKeyAt: number | null = null;
  /** Kernel time of the last accepted press per mapped key: at most one entry per binding. */
  const lastPressUs = new Map<number, number>();
  /** After SYN_DROPPED, the rest of the packet up to the next SYN_REPORT is incomplete. */
  let skippingPacket = false;

  // Log fields say `keyName`: the house logger redacts any field called `key` (secrets).
  function deliver(command: C, press: KeyPress): void {
    try {
      const result = options.onCommand(command, press);
      if (result instanceof Promise) result.catch((err: unknown) => logger.error({ err, keyName: press.key }, 'keypad command failed'));
    } catch (err) {
      logger.error({ err, keyName: press.key }, 'keypad command failed');
    }
  }

  function onEvent(event: InputEvent): void {
    // onCommand may stop the keypad in the middle of a chunk; the rest of the chunk is not read.
    if (!running) return;
    if (event.type === EV_SYN) {
      if (event.code === SYN_DROPPED) {
        dropped += 1;
        skippingPacket = true;
        logger.warn('the kernel dropped keypad events (its buffer overflowed); skipping the incomplete packet');
      } else if (event.code === SYN_REPORT) {
        skippingPacket = false;
      }
      return;
    }
    // Releases (0) and autorepeat (2) are not commands: a held key is one press.
    if (skippingPacket || event.type !== EV_KEY || event.value !== KEY_PRESS) return;
    const binding = bindings.get(event.code);
    if (!binding) {
      ignored += 1;
      logger.debug({ code: event.code, keyName: keyNameOf(event.code) }, 'key with no command, ignored');
      return;
    }
    const atUs = eventTimeUs(event);
    const previous = lastPressUs.get(event.code);
    // A clock stepped back (evdev stamps with CLOCK_REALTIME) gives a negative gap: not a bounce.
    if (previous !== undefined && atUs - previous >= 0 && atUs - previous < debounceUs) {
      ignored += 1;
      bounces += 1;
      logger.debug({ keyName: binding.key, gapMs: (atUs - previous) / 1000 }, 'key bounce, ignored');
      return;
    }
    lastPressUs.set(event.code, atUs);
    presses += 1;
    lastKeyAt = eventTimeMs(event);
    deliver(binding.command, { key: binding.key, at: lastKeyAt });
  }

  const device = createInputDevice({
    device: options.device,
    logger: options.logger,
    onEvent,
    onStateChange: () => {
      // A packet cut short by the device going away must not swallow the first one after it.
      skippingPacket = false;
    },
    retryMs: options.retryMs,
    pollMs: options.pollMs,
    now: options.now,
  });

  return {
    async start() {
      running = true;
      device.start();
    },
    async stop() {
      running = false;
      device.stop();
    },
    status: () => ({ ...device.status(), presses, ignored, bounces, dropped, lastKeyAt }),
  };
}

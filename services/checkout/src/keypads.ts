import { createKeypad, KEY_NAMES, type Keypad, type KeypadStatus, type KeyName } from '@sightline/keypad';
import type { Logger } from '@sightline/kit';
import { laneCommands, type LaneCommand } from '@sightline/schemas';
import { Counter, Gauge, type Registry } from 'prom-client';

/** A lane keypad as the lanes file names it: the device and what each key does. */
export interface LaneKeypadConfig {
  device: string;
  keys: Partial<Record<KeyName, LaneCommand>>;
}

/**
 * The layout a lane keypad gets when the lanes file names no keys, for a standard 17-key USB
 * numeric keypad. Built around the 5, the key with the tactile bump that a blind shopper finds
 * first: repeat is there, and more time (asked for under time pressure) right below it. The big
 * keys at the bottom are the sound (0 pause or continue, dot stop), the right column its volume,
 * Enter (where a keyboard "confirms") ends the purchase, with only the harmless basket read-out (3)
 * beside it. The bottom row of digits asks (1 help, 2 more time, 3 the basket); the top row acts
 * (7 language, 9 remove the last item), away from the keys pressed most.
 */
export const DEFAULT_KEYS: Readonly<Partial<Record<KeyName, LaneCommand>>> = {
  KP5: 'repeat',
  KP0: 'toggle-pause',
  KPDOT: 'stop',
  KPPLUS: 'volume-up',
  KPMINUS: 'volume-down',
  KP1: 'help',
  KP2: 'more-time',
  KP3: 'basket',
  KP7: 'language',
  KP9: 'remove-last',
  KPENTER: 'finish',
};

/** A result's key list holds at most this many keys (`keyBindingSchema` list in the contract). */
export const MAX_BOUND_KEYS = 40;

export interface KeyBinding {
  key: KeyName;
  command: LaneCommand;
}

/**
 * The keys in the order help says them: by command in the contract's order (the sound, then the
 * basket and the session), a command's keys in keypad order. The same whatever the lanes file's order.
 */
export function orderedBindings(keys: Partial<Record<KeyName, LaneCommand>>): KeyBinding[] {
  const bindings: KeyBinding[] = [];
  for (const command of laneCommands) {
    for (const key of KEY_NAMES) if (keys[key] === command) bindings.push({ key, command });
  }
  return bindings;
}

/** The first key bound to `command` in help order, if any. */
export function keyFor(keys: Partial<Record<KeyName, LaneCommand>>, command: LaneCommand): KeyName | undefined {
  return orderedBindings(keys).find((binding) => binding.command === command)?.key;
}

export interface LaneKeypadsOptions {
  lanes: ReadonlyArray<{ id: string; keypad: LaneKeypadConfig | null }>;
  logger: Logger;
  registry: Registry;
  /** Where a press goes: checkout publishes it on the lane's control channel. */
  press(lane: string, command: LaneCommand): void;
  retryMs?: number;
  pollMs?: number;
  now?: () => number;
}

/** One evdev keypad per lane that names one; each press becomes that lane's command. */
export class LaneKeypads {
  readonly #keypads = new Map<string, Keypad>();

  constructor({ lanes, logger, registry, press, retryMs, pollMs, now }: LaneKeypadsOptions) {
    const registers = [registry];
    const presses = new Counter({
      name: 'sightline_checkout_keypad_presses_total',
      help: 'Key presses of lane keypads that became commands (published on the lane control channel)',
      labelNames: ['lane', 'command'],
      registers,
    });
    for (const lane of lanes) {
      if (!lane.keypad) continue;
      this.#keypads.set(
        lane.id,
        createKeypad<LaneCommand>({
          device: lane.keypad.device,
          keys: lane.keypad.keys,
          logger: logger.child({ lane: lane.id }),
          onCommand: (command) => {
            presses.inc({ lane: lane.id, command });
            press(lane.id, command);
          },
          ...(retryMs !== undefined ? { retryMs } : {}),
          ...(pollMs !== undefined ? { pollMs } : {}),
          ...(now ? { now } : {}),
        }),
      );
    }
    const keypads = this.#keypads;
    new Gauge({
      name: 'sightline_checkout_keypad_open',
      help: '1 while the lane keypad device is open and read, 0 while it is missing or unusable',
      labelNames: ['lane'],
      registers,
      collect() {
        for (const [lane, keypad] of keypads) this.set({ lane }, keypad.status().state === 'open' ? 1 : 0);
      },
    });
  }

  async start(): Promise<void> {
    for (const keypad of this.#keypads.values()) await keypad.start();
  }

  async stop(): Promise<void> {
    for (const keypad of this.#keypads.values()) await keypad.stop();
  }

  /** The lane keypad's state and counts, or null for a lane without one. */
  status(lane: string): KeypadStatus | null {
    return this.#keypads.get(lane)?.status() ?? null;
  }
}

#!/usr/bin/env node
/**
 * Prints the name of every key pressed on an input device, for an installer finding which device
 * is the keypad and what its keys are called in the lanes file:
 *
 *   node packages/keypad/src/cli.ts /dev/input/by-id/usb-...-event-kbd
 *
 * Without a path it lists the keyboards the kernel names under /dev/input/by-id and by-path.
 * It reads the device the way the checkout service does (same hot-plug, same messages), but shows
 * every press, mapped or not, bounce or not.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { createLogger } from '@sightline/kit';
import { createInputDevice, type DeviceStatus } from './device.ts';
import { EV_KEY, KEY_PRESS, type InputEvent } from './input-event.ts';
import { keyNameOf } from './keys.ts';

function keyboards(): string[] {
  const found: string[] = [];
  for (const dir of ['/dev/input/by-id', '/dev/input/by-path']) {
    try {
      for (const name of readdirSync(dir).sort()) if (name.endsWith('-event-kbd')) found.push(path.join(dir, name));
    } catch {
      // No such folder: no input devices, or no udev (a container).
    }
  }
  return found;
}

function usage(): number {
  const found = keyboards();
  process.stderr.write('usage: node packages/keypad/src/cli.ts <input device>\n');
  process.stderr.write(
    found.length > 0
      ? `keyboards here:\n${found.map((d) => `  ${d}\n`).join('')}`
      : 'no keyboards under /dev/input/by-id or /dev/input/by-path: is the keypad plugged in?\n',
  );
  return 2;
}

function describe(status: DeviceStatus): string {
  if (status.state === 'open') return `reading ${status.device}: press keys (Ctrl-C to stop)`;
  if (status.state === 'missing') return `waiting for ${status.device}: ${status.reason ?? 'missing'}`;
  return `cannot use ${status.device}: ${status.reason ?? 'error'} (trying again)`;
}

function printPress(event: InputEvent): void {
  if (event.type !== EV_KEY || event.value !== KEY_PRESS) return;
  const name = keyNameOf(event.code);
  process.stdout.write(name ? `${name}\t(code ${event.code})\n` : `code ${event.code}\t(no name in @sightline/keypad: cannot be used in a key map)\n`);
}

function main(args: string[]): number | null {
  const device = args[0];
  if (device === undefined || device === '-h' || device === '--help' || args.length > 1) return usage();
  const reader = createInputDevice({
    device,
    logger: createLogger('keypad-cli', 'silent'),
    onEvent: printPress,
    onStateChange: (status) => process.stderr.write(`${describe(status)}\n`),
  });
  const stop = () => {
    reader.stop();
    process.exitCode = 0;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  reader.start();
  return null;
}

const code = main(process.argv.slice(2));
if (code !== null) process.exitCode = code;

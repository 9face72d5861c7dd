/**
 * A FIFO at the device path stands in for /dev/input/event*: the keypad opens and reads it the
 * same way, and the tests write real 24-byte input_event records into it.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { createLogger, type Logger } from '@sightline/kit';
import { encodeInputEvents, EV_KEY, EV_MSC, EV_SYN, KEY_PRESS, KEY_RELEASE, SYN_REPORT, type InputEvent } from '../src/input-event.ts';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function waitUntil(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(5);
  }
}

export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sightline-keypad-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function mkfifo(at: string): void {
  execFileSync('mkfifo', [at]);
}

export interface LogLine {
  level: string;
  msg?: string;
  [key: string]: unknown;
}

export function captureLogs(): { logger: Logger; lines: LogLine[]; at(level: string): LogLine[] } {
  const lines: LogLine[] = [];
  const logger = createLogger('keypad-test', 'debug', { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines, at: (level) => lines.filter((line) => line.level === level) };
}

/** The first press of a test, in the kernel's clock: 2026-12-01T10:00:00Z. */
export const T0_SEC = 1_796_119_200;

/** One key event as a USB keyboard sends it: MSC_SCAN, the key, SYN_REPORT; `ms` after T0. */
export function keyEvents(code: number, value: number, ms: number): InputEvent[] {
  const sec = T0_SEC + Math.floor(ms / 1000);
  const usec = Math.round((ms % 1000) * 1000);
  return [
    { sec, usec, type: EV_MSC, code: 4, value: 0x70000 + code },
    { sec, usec, type: EV_KEY, code, value },
    { sec, usec, type: EV_SYN, code: SYN_REPORT, value: 0 },
  ];
}

/** A press at `ms` and its release `holdMs` later, as bytes. */
export function tap(code: number, ms: number, holdMs = 80): Buffer {
  return encodeInputEvents([...keyEvents(code, KEY_PRESS, ms), ...keyEvents(code, KEY_RELEASE, ms + holdMs)]);
}

/** `at` the keypad reports for a press `ms` after T0. */
export const atMs = (ms: number) => T0_SEC * 1000 + ms;

export interface FifoWriter {
  /** Resolves once a reader has the FIFO open (a blocking open of a FIFO waits for one). */
  opened: Promise<FileHandle>;
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens `fifo` for writing, in the threadpool: the open waits until the keypad opens the FIFO for
 * reading. Closed when the test ends; a writer still waiting then is let through first, or the
 * test process would never exit.
 */
export function fifoWriter(t: TestContext, fifo: string): FifoWriter {
  const opened = open(fifo, 'w');
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await (await opened).close();
  };
  let settled = false;
  opened.then(
    () => (settled = true),
    () => (settled = true),
  );
  t.after(async () => {
    if (closed) return;
    if (!settled) closeSync(openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK));
    await close();
  });
  return {
    opened,
    write: async (bytes) => {
      const handle = await opened;
      await handle.write(bytes);
    },
    close,
  };
}

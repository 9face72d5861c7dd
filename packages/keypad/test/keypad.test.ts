import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, closeSync, constants, mkdirSync, openSync, rmdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { test, type TestContext } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { encodeInputEvents, EV_KEY, EV_SYN, KEY_AUTOREPEAT, KEY_PRESS, KEY_RELEASE, SYN_DROPPED, SYN_REPORT } from '../src/input-event.ts';
import { createKeypad, type KeyPress } from '../src/keypad.ts';
import type { KeyName } from '../src/keys.ts';
import { atMs, captureLogs, fifoWriter, keyEvents, mkfifo, sleep, tap, tempDir, waitUntil } from './helpers.ts';

const KP5 = 76;
const KPPLUS = 78;
const KP1 = 79;
const KP9 = 73;
const KEY_A = 30;

type Command = 'repeat' | 'louder' | 'help';
const KEYS: Partial<Record<KeyName, Command>> = { KP5: 'repeat', KPPLUS: 'louder', KP1: 'help' };

/** A keypad on `device` with short retry and poll periods, stopped when the test ends. */
function keypadOn(t: TestContext, device: string, onCommand?: (command: Command, press: KeyPress) => void | Promise<void>) {
  const logs = captureLogs();
  const commands: [Command, KeyPress][] = [];
  const keypad = createKeypad<Command>({
    device,
    keys: KEYS,
    onCommand: onCommand ?? ((command, press) => void commands.push([command, press])),
    logger: logs.logger,
    retryMs: 40,
    pollMs: 5,
  });
  t.after(() => keypad.stop());
  return { keypad, commands, logs };
}

/** A keypad reading a fresh FIFO at its device path, started, with a writer on the FIFO. */
async function startedOnFifo(t: TestContext) {
  const fifo = path.join(tempDir(t), 'event-kbd');
  mkfifo(fifo);
  const { keypad, commands, logs } = keypadOn(t, fifo);
  await keypad.start();
  return { fifo, keypad, commands, logs, writer: fifoWriter(t, fifo) };
}

test('keypad: one command per press; releases, autorepeat and scan codes are not commands; `at` is the kernel time', async (t) => {
  const { keypad, commands, writer } = await startedOnFifo(t);
  await writer.write(
    encodeInputEvents([
      ...keyEvents(KP5, KEY_PRESS, 0),
      ...keyEvents(KP5, KEY_AUTOREPEAT, 500),
      ...keyEvents(KP5, KEY_AUTOREPEAT, 533),
      ...keyEvents(KP5, KEY_RELEASE, 600),
      ...keyEvents(KPPLUS, KEY_PRESS, 700.25),
      ...keyEvents(KPPLUS, KEY_RELEASE, 750),
      ...keyEvents(KP5, KEY_PRESS, 1000),
      ...keyEvents(KP5, KEY_RELEASE, 1100),
    ]),
  );
  await waitUntil('three commands', () => commands.length === 3);
  assert.deepEqual(commands, [
    ['repeat', { key: 'KP5', at: atMs(0) }],
    ['louder', { key: 'KPPLUS', at: atMs(700) }],
    ['repeat', { key: 'KP5', at: atMs(1000) }],
  ]);
  await sleep(30);
  const status = keypad.status();
  assert.equal(commands.length, 3, 'nothing more came of the release and autorepeat records');
  assert.deepEqual(
    { state: status.state, presses: status.presses, ignored: status.ignored, lastKeyAt: status.lastKeyAt },
    { state: 'open', presses: 3, ignored: 0, lastKeyAt: atMs(1000) },
  );
});

test('keypad: records split across writes at odd places are put back together', async (t) => {
  const { keypad, commands, writer } = await startedOnFifo(t);
  const presses = [KP5, KPPLUS, KP1, KP5, KPPLUS, KP1].map((code, i) => tap(code, i * 200));
  const bytes = Buffer.concat(presses);
  const sizes = [1, 23, 2, 47, 5, 24, 25, 13, 71, 3];
  for (let at = 0, i = 0; at < bytes.length; i += 1) {
    const size = sizes[i % sizes.length] ?? 1;
    await writer.write(bytes.subarray(at, at + size));
    at += size;
    await sleep(6); // a read (every 5 ms) between most writes, so reads end mid-record
  }
  await waitUntil('six commands', () => commands.length === 6);
  assert.deepEqual(
    commands.map(([command, press]) => [command, press.key, press.at]),
    [
      ['repeat', 'KP5', atMs(0)],
      ['louder', 'KPPLUS', atMs(200)],
      ['help', 'KP1', atMs(400)],
      ['repeat', 'KP5', atMs(600)],
      ['louder', 'KPPLUS', atMs(800)],
      ['help', 'KP1', atMs(1000)],
    ],
  );
  assert.equal(keypad.status().corrupt, 0);
});

test('keypad: a second press of the same key within 50 ms (kernel time) is a bounce; another key is not', async (t) => {
  const { keypad, commands, writer } = await startedOnFifo(t);
  await writer.write(
    encodeInputEvents([
      ...keyEvents(KP5, KEY_PRESS, 0),
      ...keyEvents(KP5, KEY_RELEASE, 10),
      ...keyEvents(KP5, KEY_PRESS, 30), // bounce
      ...keyEvents(KP5, KEY_RELEASE, 40),
      ...keyEvents(KP5, KEY_PRESS, 95), // 95 ms after the accepted press
      ...keyEvents(KPPLUS, KEY_PRESS, 100), // another key 5 ms later
      ...keyEvents(KP5, KEY_PRESS, 144.999), // bounce: 49.999 ms after 95
      ...keyEvents(KP5, KEY_PRESS, 145), // 50 ms after the last accepted press
      ...keyEvents(KP1, KEY_PRESS, 2000),
    ]),
  );
  await waitUntil('the last press', () => commands.some(([, press]) => press.key === 'KP1'));
  assert.deepEqual(
    commands.map(([, press]) => [press.key, press.at]),
    [
      ['KP5', atMs(0)],
      ['KP5', atMs(95)],
      ['KPPLUS', atMs(100)],
      ['KP5', atMs(145)],
      ['KP1', atMs(2000)],
    ],
  );
  const { presses, ignored, bounces } = keypad.status();
  assert.deepEqual({ presses, ignored, bounces }, { presses: 5, ignored: 2, bounces: 2 });
});

test('keypad: unmapped keys are counted and logged at debug; a failing command is logged and reading goes on', async (t) => {
  const fifo = path.join(tempDir(t), 'event-kbd');
  mkfifo(fifo);
  const seen: string[] = [];
  const { keypad, logs } = keypadOn(t, fifo, async (command, press) => {
    seen.push(press.key);
    if (press.key === 'KP5') throw new Error('speaker busy');
    if (press.key === 'KPPLUS') await Promise.reject(new Error('speaker gone'));
  });
  await keypad.start();
  const writer = fifoWriter(t, fifo);
  await writer.write(Buffer.concat([tap(KEY_A, 0), tap(KP9, 100), tap(KP5, 200), tap(KPPLUS, 300), tap(KP1, 400)]));
  await waitUntil('the last press', () => seen.includes('KP1'));
  assert.deepEqual(seen, ['KP5', 'KPPLUS', 'KP1']);
  const { presses, ignored, bounces } = keypad.status();
  assert.deepEqual({ presses, ignored, bounces }, { presses: 3, ignored: 2, bounces: 0 });
  const unmapped = logs.at('debug').filter((line) => line.msg === 'key with no command, ignored');
  assert.deepEqual(
    unmapped.map((line) => [line.code, line.keyName]),
    [
      [KEY_A, undefined],
      [KP9, 'KP9'],
    ],
  );
  await waitUntil('both failures logged', () => logs.at('error').length === 2);
  assert.deepEqual(
    logs.at('error').map((line) => [line.keyName, (line.err as { message: string }).message]),
    [
      ['KP5', 'speaker busy'],
      ['KPPLUS', 'speaker gone'],
    ],
  );
});

test('keypad: after SYN_DROPPED the rest of the packet is skipped, the next packet counts', async (t) => {
  const { keypad, commands, writer } = await startedOnFifo(t);
  const sec = atMs(0) / 1000;
  await writer.write(
    Buffer.concat([
      tap(KP5, 0),
      encodeInputEvents([
        { sec, usec: 100_000, type: EV_SYN, code: SYN_DROPPED, value: 0 },
        { sec, usec: 110_000, type: EV_KEY, code: KPPLUS, value: KEY_PRESS },
        { sec, usec: 110_000, type: EV_SYN, code: SYN_REPORT, value: 0 },
      ]),
      tap(KP1, 200),
    ]),
  );
  await waitUntil('the last press', () => commands.length === 2);
  assert.deepEqual(
    commands.map(([, press]) => press.key),
    ['KP5', 'KP1'],
  );
  assert.equal(keypad.status().dropped, 1);
});

test('keypad: a device missing at start is waited for (one warning), then read once it appears', async (t) => {
  const device = path.join(tempDir(t), 'usb-Keypad-event-kbd');
  const { keypad, commands, logs } = keypadOn(t, device);
  await keypad.start();
  assert.equal(keypad.status().state, 'missing');
  assert.match(keypad.status().reason ?? '', /not found \(ENOENT\)/);
  await sleep(150); // a few retries
  const warnings = logs.at('warn');
  assert.equal(warnings.length, 1, 'logged once, not once per retry');
  assert.equal(warnings[0]?.device, device);
  mkfifo(device);
  const writer = fifoWriter(t, device);
  await writer.opened;
  await waitUntil('open', () => keypad.status().state === 'open');
  await writer.write(tap(KP5, 0));
  await waitUntil('a command', () => commands.length === 1);
  assert.equal(logs.at('warn').length, 1);
  assert.equal(logs.lines.filter((line) => line.msg === 'keypad device open').length, 1);
});

test('keypad: a device that goes away (writer closes, node removed) is missing, then read again when it is back', async (t) => {
  const device = path.join(tempDir(t), 'event-kbd');
  mkfifo(device);
  const { keypad, commands, logs } = keypadOn(t, device);
  await keypad.start();
  assert.equal(keypad.status().state, 'missing', 'a FIFO with no writer is a device not plugged in');
  const first = fifoWriter(t, device);
  await first.write(tap(KP5, 0));
  await waitUntil('first command', () => commands.length === 1);
  assert.equal(keypad.status().state, 'open');
  await first.close();
  await waitUntil('missing', () => keypad.status().state === 'missing');
  assert.match(keypad.status().reason ?? '', /end of input/);
  unlinkSync(device);
  await waitUntil('not found', () => /ENOENT/.test(keypad.status().reason ?? ''));
  mkfifo(device);
  const second = fifoWriter(t, device);
  await second.write(tap(KPPLUS, 5000));
  await waitUntil('second command', () => commands.length === 2);
  assert.deepEqual(
    commands.map(([command]) => command),
    ['repeat', 'louder'],
  );
  assert.equal(keypad.status().state, 'open');
  // At start (no writer yet) and when the device went; the change of reason while gone is silent.
  assert.equal(logs.at('warn').length, 2);
});

test('keypad: a regular file or a directory at the path is an error with a reason, and the path is still watched', async (t) => {
  const device = path.join(tempDir(t), 'event-kbd');
  writeFileSync(device, tap(KP5, 0)); // records that would become a command if the file were read
  const { keypad, commands, logs } = keypadOn(t, device);
  await keypad.start();
  assert.equal(keypad.status().state, 'error');
  assert.match(keypad.status().reason ?? '', /is a regular file, not an input device: expected a character device such as \/dev\/input\/event3/);
  await sleep(120);
  assert.equal(logs.at('error').length, 1, 'logged once, not once per retry');
  rmSync(device);
  mkdirSync(device);
  await waitUntil('a directory', () => /is a directory, not an input device/.test(keypad.status().reason ?? ''));
  assert.equal(keypad.status().state, 'error');
  rmdirSync(device);
  mkfifo(device);
  const writer = fifoWriter(t, device);
  await writer.write(tap(KP1, 0));
  await waitUntil('a command', () => commands.length === 1);
  assert.deepEqual(commands[0]?.[0], 'help');
  assert.equal(keypad.status().state, 'open');
  assert.equal(keypad.status().reason, undefined);
});

test('keypad: a partial record at the end of input is counted and dropped, and does not shift the next device', async (t) => {
  const device = path.join(tempDir(t), 'event-kbd');
  mkfifo(device);
  const { keypad, commands, logs } = keypadOn(t, device);
  await keypad.start();
  const first = fifoWriter(t, device);
  await first.write(Buffer.concat([tap(KP5, 0), Buffer.alloc(10, 0xff)]));
  await first.close();
  await waitUntil('missing', () => keypad.status().corrupt === 1 && keypad.status().state === 'missing');
  assert.equal(commands.length, 1);
  assert.equal(logs.lines.filter((line) => line.msg === 'partial input record at the end of input, dropped' && line.bytes === 10).length, 1);
  const second = fifoWriter(t, device);
  await second.write(tap(KP1, 1000));
  await waitUntil('second command', () => commands.length === 2);
  assert.deepEqual(commands[1], ['help', { key: 'KP1', at: atMs(1000) }]);
});

test('keypad: a flood of 100k records is read in bounded chunks: every press counted, memory flat, the event loop free', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const device = path.join(tempDir(t), 'event-kbd');
  mkfifo(device);
  let count = 0;
  const { keypad } = keypadOn(t, device, () => void (count += 1));
  await keypad.start();
  // 6 records a tap; keys in turn, 20 ms apart, so the same key comes back after 60 ms: no bounces.
  const taps = Math.ceil(100_000 / 6);
  const codes = [KP5, KPPLUS, KP1];
  const flood = Buffer.concat(Array.from({ length: taps }, (_, i) => tap(codes[i % 3] ?? KP5, i * 20, 10)));
  const writer = fifoWriter(t, device);
  await writer.opened;
  await waitUntil('open', () => keypad.status().state === 'open');
  gc();
  const before = process.memoryUsage();
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const started = performance.now();
  await writer.write(flood);
  await waitUntil('every press', () => count === taps, 8000);
  const elapsedMs = performance.now() - started;
  delay.disable();
  gc();
  const after = process.memoryUsage();
  const heapGrowth = after.heapUsed - before.heapUsed;
  const rssGrowth = after.rss - before.rss;
  const maxDelayMs = delay.max / 1e6;
  t.diagnostic(
    `${taps * 6} records (${flood.length} bytes) in ${elapsedMs.toFixed(0)} ms; heap +${(heapGrowth / 1024).toFixed(0)} KiB, rss +${(rssGrowth / 1024).toFixed(0)} KiB; event loop max delay ${maxDelayMs.toFixed(1)} ms`,
  );
  assert.equal(keypad.status().presses, taps);
  assert.equal(keypad.status().bounces, 0);
  assert.ok(heapGrowth < 1024 * 1024, `heap grew ${heapGrowth} bytes`);
  assert.ok(rssGrowth < 32 * 1024 * 1024, `rss grew ${rssGrowth} bytes`);
  assert.ok(maxDelayMs < 100, `event loop held for ${maxDelayMs} ms`);
});

test('keypad: stop() returns at once, waiting for a writer or reading a silent one, and lets go of the FIFO', async (t) => {
  const device = path.join(tempDir(t), 'event-kbd');
  mkfifo(device);
  const waiting = keypadOn(t, device).keypad;
  await waiting.start();
  assert.equal(waiting.status().state, 'missing');
  let started = performance.now();
  await waiting.stop();
  assert.ok(performance.now() - started < 50, 'stop while waiting for a writer');
  // No reader holds the FIFO any more: a non-blocking writer is refused (ENXIO).
  assert.throws(() => openSync(device, constants.O_WRONLY | constants.O_NONBLOCK), { code: 'ENXIO' });

  // A writer that stays silent is a keyboard nobody touches: a blocking read would wait for it.
  const reading = keypadOn(t, device).keypad;
  await reading.start();
  const silent = fifoWriter(t, device);
  await silent.opened;
  await waitUntil('open', () => reading.status().state === 'open');
  started = performance.now();
  await reading.stop();
  assert.ok(performance.now() - started < 50, 'stop while reading a silent device');
  assert.deepEqual(reading.status().reason, 'stopped');
  await assert.rejects(silent.write(tap(KP5, 0)), { code: 'EPIPE' }, 'the keypad no longer reads the FIFO');
});

test('keypad: permission denied is an error whose reason names the input group', async (t) => {
  const dir = tempDir(t);
  chmodSync(dir, 0o755);
  const device = path.join(dir, 'event-kbd');
  mkfifo(device);
  chmodSync(device, 0o000);
  const fixture = path.join(import.meta.dirname, 'fixtures', 'status-as-nobody.ts');
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [fixture, device], { timeout: 5000 }, (err, out) => (err ? reject(err) : resolve(out))),
  );
  const { status } = JSON.parse(stdout) as { status: { state: string; reason: string } };
  assert.equal(status.state, 'error');
  assert.match(status.reason, /permission denied opening .*event-kbd: .*add it to the "input" group/);
  closeSync(openSync(device, constants.O_RDONLY | constants.O_NONBLOCK)); // root still can: only the child was refused
});

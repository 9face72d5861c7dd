import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { encodeInputEvents, EV_KEY, EV_MSC, EV_SYN, KEY_PRESS, KEY_RELEASE, keyCode, SYN_REPORT, type InputEvent, type KeyName } from '@sightline/keypad';
import { sleep, waitUntil } from '@sightline/kit/testing';
import type { ControlResult } from '@sightline/schemas';
import { DEFAULT_KEYS, orderedBindings } from '../src/keypads.ts';
import { controlSetup, laneConfig, metricValue, tempDir } from './helpers.ts';

/**
 * A FIFO at the device path stands in for /dev/input/event*: checkout's keypad opens and reads it
 * the same way, and the tests write real 24-byte input_event records into it.
 */

const T0_SEC = 1_796_119_200;

/** A key press and its release as a USB keypad sends them (MSC_SCAN, the key, SYN_REPORT each), `ms` after T0. */
function tap(key: KeyName, ms: number): Buffer {
  const code = keyCode(key);
  const events = (value: number, at: number): InputEvent[] => {
    const sec = T0_SEC + Math.floor(at / 1000);
    const usec = (at % 1000) * 1000;
    return [
      { sec, usec, type: EV_MSC, code: 4, value: 0x70000 + code },
      { sec, usec, type: EV_KEY, code, value },
      { sec, usec, type: EV_SYN, code: SYN_REPORT, value: 0 },
    ];
  };
  return encodeInputEvents([...events(KEY_PRESS, ms), ...events(KEY_RELEASE, ms + 80)]);
}

/**
 * Opens `fifo` for writing in the threadpool (the open waits for the keypad to open it for
 * reading). Closed when the test ends; a writer still waiting then is let through first.
 */
function fifoWriter(t: TestContext, fifo: string): { write(bytes: Uint8Array): Promise<void> } {
  const opened: Promise<FileHandle> = open(fifo, 'w');
  let settled = false;
  opened.then(
    () => (settled = true),
    () => (settled = true),
  );
  t.after(async () => {
    if (!settled) closeSync(openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK));
    await (await opened).close();
  });
  return { write: async (bytes) => void (await (await opened).write(bytes)) };
}

const FAST = { keypad: { retryMs: 40, pollMs: 5 } };

interface LaneView {
  id: string;
  keypad: { device: string; state: string; presses: number; ignored: number } | null;
}

test('keypad: real key records become controls on the lane channel, carried out when they come back from the broker', async (t) => {
  const device = path.join(tempDir(t), 'usb-keypad-event-kbd');
  execFileSync('mkfifo', [device]);
  const h = await controlSetup(
    t,
    [laneConfig({ scale: false, keypad: { device, keys: { ...DEFAULT_KEYS } } }), laneConfig({ id: 'lane-2', camera: 'cam-2' })],
    {
      deps: FAST,
    },
  );
  const writer = fifoWriter(t, device);
  await writer.write(Buffer.concat([tap('KP1', 0), tap('KP5', 500), tap('KPASTERISK', 900), tap('KPENTER', 1200)]));

  await waitUntil('three commands on the control channel', () => h.controls.length === 3);
  assert.deepEqual(h.controls, [
    { command: 'help', source: 'keypad' },
    { command: 'repeat', source: 'keypad' },
    { command: 'finish', source: 'keypad' },
  ]);
  await waitUntil('the answers', () => h.results.length === 2);
  const [help, finish] = h.results as [Extract<ControlResult, { outcome: 'help' }>, Extract<ControlResult, { outcome: 'refused' }>];
  assert.equal(help.outcome, 'help');
  assert.deepEqual(help.keys, orderedBindings(DEFAULT_KEYS));
  assert.deepEqual(
    help.keys.map((k) => `${k.key}:${k.command}`),
    [
      'KP5:repeat',
      'KP0:toggle-pause',
      'KPDOT:stop',
      'KPPLUS:volume-up',
      'KPMINUS:volume-down',
      'KP1:help',
      'KP3:basket',
      'KP9:remove-last',
      'KPENTER:finish',
      'KP2:more-time',
      'KP7:language',
    ],
  );
  assert.deepEqual([finish.outcome, finish.command, finish.reason], ['refused', 'finish', 'basket-empty']);
  await sleep(30);
  assert.equal(h.results.length, 2, "repeat is the speaker's to answer");

  const lanes = (await h.app.runtime.http.inject({ url: '/lanes' })).json() as { lanes: LaneView[] };
  assert.deepEqual(
    lanes.lanes.map((l) => [l.id, l.keypad && { device: l.keypad.device, state: l.keypad.state, presses: l.keypad.presses, ignored: l.keypad.ignored }]),
    [
      ['lane-1', { device, state: 'open', presses: 3, ignored: 1 }],
      ['lane-2', null],
    ],
  );
  const registry = h.app.runtime.registry;
  assert.equal(await metricValue(registry, 'sightline_checkout_keypad_presses_total', { lane: 'lane-1', command: 'help' }), 1);
  assert.equal(await metricValue(registry, 'sightline_checkout_keypad_presses_total', { lane: 'lane-1' }), 3);
  assert.equal(await metricValue(registry, 'sightline_checkout_keypad_open', { lane: 'lane-1' }), 1);
  assert.equal(await metricValue(registry, 'sightline_checkout_controls_total', { source: 'keypad', command: 'finish' }), 1);
});

test('keypad: a device missing at start is not fatal; it is read once it appears', async (t) => {
  const device = path.join(tempDir(t), 'later-event-kbd');
  const h = await controlSetup(t, [laneConfig({ scale: false, keypad: { device, keys: { KP3: 'more-time', KP2: 'basket' } } })], { deps: FAST });
  const view = async () => ((await h.app.runtime.http.inject({ url: '/lanes' })).json() as { lanes: LaneView[] }).lanes[0]!.keypad!;
  assert.equal((await view()).state, 'missing');
  assert.equal(await metricValue(h.app.runtime.registry, 'sightline_checkout_keypad_open', { lane: 'lane-1' }), 0);
  assert.equal((await h.app.runtime.http.inject({ url: '/readyz' })).statusCode, 200, 'checkout is ready without its keypad');

  execFileSync('mkfifo', [device]);
  const writer = fifoWriter(t, device);
  await writer.write(Buffer.concat([tap('KP2', 0), tap('KP3', 300)]));
  await waitUntil('both answers', () => h.results.length === 2, 3000);
  assert.deepEqual(
    h.results.map((r) => [r.command, r.outcome]),
    [
      ['basket', 'basket'],
      ['more-time', 'refused'],
    ],
  );
  assert.equal((await view()).state, 'open');
});

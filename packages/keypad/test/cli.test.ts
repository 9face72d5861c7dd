import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { test } from 'node:test';
import { fifoWriter, mkfifo, tap, tempDir, waitUntil } from './helpers.ts';

const CLI = path.join(import.meta.dirname, '..', 'src', 'cli.ts');

test('cli: prints the name of every key pressed, mapped or not, and stops on Ctrl-C; without a device it prints usage', async (t) => {
  const device = path.join(tempDir(t), 'usb-Keypad-event-kbd');
  mkfifo(device);
  const usage = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [CLI], { timeout: 5000 }, (_err, _out, stderr) => resolve({ code: child.exitCode, stderr }));
  });
  const child = spawn(process.execPath, [CLI, device], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 8000 });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await waitUntil('the cli waits for the device', () => stderr.includes(`waiting for ${device}`), 6000);
  const writer = fifoWriter(t, device);
  await writer.write(Buffer.concat([tap(76, 0), tap(30, 200), tap(96, 400)]));
  await waitUntil('three lines', () => stdout.split('\n').length > 3);
  assert.equal(stdout, 'KP5\t(code 76)\ncode 30\t(no name in @sightline/keypad: cannot be used in a key map)\nKPENTER\t(code 96)\n');
  assert.match(stderr, /reading .*usb-Keypad-event-kbd: press keys/);
  child.kill('SIGINT');
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0);
  await writer.close();
  const { code: usageCode, stderr: usageText } = await usage;
  assert.equal(usageCode, 2);
  assert.match(usageText, /^usage: node packages\/keypad\/src\/cli\.ts <input device>\n/);
});

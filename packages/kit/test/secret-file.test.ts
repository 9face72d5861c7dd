import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { ensureSecretFile } from '../src/index.ts';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', 'src', 'ensure-secret-cli.ts');

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'sightline-secret-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a secret is made once, 0600, and kept on every later call', (t) => {
  const file = join(tempDir(t), 'http-token');
  assert.equal(ensureSecretFile(file), true);
  const secret = readFileSync(file, 'utf8');
  assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(ensureSecretFile(file), false);
  assert.equal(readFileSync(file, 'utf8'), secret);
  assert.deepEqual(readdirSync(join(file, '..')), ['http-token'], 'no temporary file is left');
});

test('processes racing at first start agree on one secret; a file with no secret is refused, not overwritten', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'http-token');
  const outputs = await Promise.all(Array.from({ length: 6 }, () => run(process.execPath, [cli, file])));
  assert.equal(outputs.filter((o) => o.stdout.startsWith('made')).length, 1);
  assert.equal(outputs.filter((o) => o.stdout.startsWith('kept')).length, 5);
  assert.ok(
    outputs.every((o) => !o.stdout.includes(readFileSync(file, 'utf8'))),
    'the secret is never printed',
  );
  assert.deepEqual(readdirSync(dir), ['http-token']);

  const empty = join(dir, 'empty');
  writeFileSync(empty, '');
  await assert.rejects(
    run(process.execPath, [cli, empty]),
    (err: { code: number; stderr: string }) => err.code === 1 && /holds no secret of 32 characters or more: remove it/.test(err.stderr),
  );
  assert.equal(readFileSync(empty, 'utf8'), '');
});

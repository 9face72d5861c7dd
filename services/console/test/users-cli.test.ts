import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkLogin } from '../src/accounts.ts';
import { tempDir } from './helpers.ts';

const CLI = join(import.meta.dirname, '..', 'src', 'users-cli.ts');

function cli(file: string, args: string[], input = '') {
  return spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8', env: { PATH: process.env.PATH, SIGHTLINE_CONSOLE_USERS_FILE: file } });
}

test('users CLI: add (password from stdin, mode 0600), log in with it, list, remove; bad input refused with the reason', async (t) => {
  const file = join(tempDir(t), 'users.json');
  const added = cli(file, ['add', 'kim', '--role', 'operator'], 'kim has a long password\n');
  assert.equal(added.status, 0, added.stderr);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal((await checkLogin(file, 'kim', 'kim has a long password'))?.role, 'operator');
  assert.equal(await checkLogin(file, 'kim', 'wrong'), null);
  assert.equal(cli(file, ['list']).stdout, 'kim\toperator\n');

  const short = cli(file, ['add', 'lee'], 'short\n');
  assert.equal(short.status, 1);
  assert.match(short.stderr, /at least 12 characters/);
  const badName = cli(file, ['add', '../etc'], 'a long enough password\n');
  assert.equal(badName.status, 2);
  assert.match(badName.stderr, /name "..\/etc" must be/);
  const badRole = cli(file, ['add', 'lee', '--role', 'root'], 'a long enough password\n');
  assert.equal(badRole.status, 2);
  assert.match(badRole.stderr, /--role must be operator or viewer/);

  assert.equal(cli(file, ['remove', 'kim']).status, 0);
  assert.equal(cli(file, ['list']).stdout, '');
  assert.equal(cli(file, ['remove', 'kim']).status, 1);
});

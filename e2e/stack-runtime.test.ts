import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { COMPILE_CACHE_DIR, RUNTIME_NODE_OPTIONS, runtimeEnv } from '../infra/stack/services.ts';
import { launchStack } from './launch.ts';

const root = join(import.meta.dirname, '..');

function environOf(pid: number): Record<string, string> {
  return Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, 'latin1')
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

test('the runtime settings keep NODE_OPTIONS and settings the user gave, after and over ours', () => {
  assert.deepEqual(runtimeEnv('/d', {}), {
    NODE_OPTIONS: RUNTIME_NODE_OPTIONS,
    NODE_COMPILE_CACHE: join('/d', COMPILE_CACHE_DIR),
    MALLOC_ARENA_MAX: '2',
  });
  const mine = runtimeEnv('/d', { NODE_OPTIONS: '--max-semi-space-size=8', NODE_COMPILE_CACHE: '/c', MALLOC_ARENA_MAX: '4' });
  assert.equal(mine.NODE_OPTIONS, `${RUNTIME_NODE_OPTIONS} --max-semi-space-size=8`);
  assert.equal(mine.NODE_COMPILE_CACHE, '/c');
  assert.equal(mine.MALLOC_ARENA_MAX, '4');
});

test('the containers run Node with the runtime settings the dev stack gives its services', () => {
  const dockerfile = readFileSync(join(root, 'infra', 'containers', 'Dockerfile'), 'utf8');
  // The runtime stage's ENV instruction (backslash-continued lines of KEY=value).
  const block = /^ENV NODE_ENV=production((?:\s*\\\n\s+\S+=\S+)+)/m.exec(dockerfile);
  assert.ok(block, 'the runtime stage sets its ENV in one instruction');
  const set = Object.fromEntries([...block[1]!.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!.replace(/^"|"$/g, '')]));
  const expected = runtimeEnv('/data', {});
  for (const [key, value] of Object.entries(expected)) assert.equal(set[key], value, `Dockerfile ENV ${key}`);
});

test('the one-command stack runs each service with the runtime settings, and a compile cache in its data dir', { timeout: 120_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sightline-e2e-runtime-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const stack = await launchStack(dataDir, { SIGHTLINE_STACK_SERVICES: 'broker,alert' });
  t.after(() => stack.kill());
  const state = JSON.parse(readFileSync(join(dataDir, 'stack.json'), 'utf8')) as { services: Record<string, { pid: number }> };
  for (const name of ['broker', 'alert']) {
    const environ = environOf(state.services[name]!.pid);
    assert.equal(environ.NODE_OPTIONS, RUNTIME_NODE_OPTIONS, `${name} NODE_OPTIONS`);
    assert.equal(environ.MALLOC_ARENA_MAX, '2', `${name} MALLOC_ARENA_MAX`);
    assert.equal(environ.NODE_COMPILE_CACHE, join(dataDir, COMPILE_CACHE_DIR), `${name} NODE_COMPILE_CACHE`);
  }
  // Node writes its cache when a process exits (or flushes it): stop the stack and look.
  process.kill(stack.pid, 'SIGINT');
  assert.equal(await stack.exited, 0);
  const cache = join(dataDir, COMPILE_CACHE_DIR);
  assert.ok(existsSync(cache), 'the compile cache dir was made');
  const entries = readdirSync(cache, { recursive: true });
  assert.ok(entries.length > 1, `the compile cache holds entries: ${entries.join(', ')}`);
});

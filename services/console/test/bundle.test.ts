import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { buildWebApp } from '../src/bundle.ts';

/** The command lines of this process's children that are still running. */
function children(): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) found.push(readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' '));
    } catch {
      // gone
    }
  }
  return found;
}

test('the web app is bundled, and esbuild stops once it is: no helper process lives on with the console', async () => {
  const [first, second] = await Promise.all([buildWebApp(), buildWebApp()]);
  assert.equal(first, second, 'callers at the same time share one build');
  assert.ok(first.assets.get('/assets/app.js')!.body.length > 10_000);
  assert.match(first.html.body.toString(), /<html/i);
  assert.deepEqual(
    children().filter((cmd) => cmd.includes('esbuild')),
    [],
  );
  const again = await buildWebApp();
  assert.notEqual(again, first, 'a later call builds again');
  assert.equal(again.assets.get('/assets/app.js')!.body.length, first.assets.get('/assets/app.js')!.body.length);
});

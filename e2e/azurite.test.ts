import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BlobServiceClient } from '@azure/storage-blob';
import { azuriteConnectionString } from '../infra/azurite/account.ts';
import { freePort } from './ports.ts';

const root = join(import.meta.dirname, '..');

function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The dev stack's Azurite wrapper (infra/azurite/main.ts) as the stack runs it, resolved once its /readyz answers. */
async function startAzurite(dataDir: string, blobPort: number, httpPort: number) {
  const child = spawn(process.execPath, [join(root, 'infra', 'azurite', 'main.ts')], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      SIGHTLINE_DATA_DIR: dataDir,
      SIGHTLINE_AZURITE_BLOB_PORT: String(blobPort),
      SIGHTLINE_AZURITE_HTTP_PORT: String(httpPort),
      SIGHTLINE_LOG_LEVEL: 'debug',
    },
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`azurite did not become ready:\n${output}`);
    const ok = await fetch(`http://127.0.0.1:${httpPort}/readyz`).then(
      (res) => res.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, exited, output: () => output };
}

test(
  'Azurite runs inside its wrapper: blobs are stored, logged at debug, kept across a restart, and a SIGTERM stops it cleanly',
  { timeout: 90_000 },
  async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sightline-e2e-azurite-'));
    t.after(() => rmSync(dataDir, { recursive: true, force: true }));
    const blobPort = await freePort();
    const httpPort = await freePort();
    const client = () => BlobServiceClient.fromConnectionString(azuriteConnectionString('127.0.0.1', blobPort));

    const first = await startAzurite(dataDir, blobPort, httpPort);
    t.after(() => first.child.kill('SIGKILL'));
    assert.deepEqual(childrenOf(first.child.pid!), [], 'no helper process: Azurite is in the wrapper');
    const container = client().getContainerClient('kept');
    await container.create();
    await container.getBlockBlobClient('a/frame.jpg').upload(Buffer.from('jpeg bytes'), 10);
    // The access log, a line per request, at debug level in the wrapper's own JSON log.
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(
      first
        .output()
        .split('\n')
        .some((line) => line.startsWith('{') && /"level":"debug".*PUT \/devstoreaccount1\/kept\/a\/frame\.jpg/.test(line)),
      first.output(),
    );
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);

    const second = await startAzurite(dataDir, blobPort, httpPort);
    t.after(() => second.child.kill('SIGKILL'));
    const body = await client().getContainerClient('kept').getBlockBlobClient('a/frame.jpg').downloadToBuffer();
    assert.equal(body.toString(), 'jpeg bytes');
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  },
);

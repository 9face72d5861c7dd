import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { createSyncApp, StoreRefusedError } from '../src/app.ts';
import { DEV_ACCOUNT_NAME } from '../src/config.ts';
import {
  detectionsFor,
  freePort,
  listBlobs,
  publisher,
  startApp,
  startAzurite,
  startTestBroker,
  SYNC_DIR,
  tempDir,
  testConfig,
  testEnv,
  testLogger,
  waitUntil,
} from './helpers.ts';

const WRONG_KEY = Buffer.from('definitely not the azurite key, 64 bytes long, padded out here!!').toString('base64');

test('a well-formed connection string with the wrong key: start fails with the cause (403), nothing retried', async (t) => {
  const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
  const cs = `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT_NAME};AccountKey=${WRONG_KEY};BlobEndpoint=http://127.0.0.1:${azurite.port}/${DEV_ACCOUNT_NAME};`;
  const app = createSyncApp(testConfig(broker.url, tempDir(t), cs), testLogger());
  t.after(() => app.stop());
  await assert.rejects(app.start(), (err: Error) => {
    assert.ok(err instanceof StoreRefusedError);
    assert.match(err.message, /refused container "frames" at http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1: 403 AuthorizationFailure/);
    assert.ok(!err.message.includes(WRONG_KEY));
    return true;
  });
});

test('a well-formed connection string to nowhere: starts, not ready, keeps images, uploads once the store appears', async (t) => {
  const broker = await startTestBroker(t);
  const azurite = await startAzurite(t);
  await azurite.stop();
  const app = await startApp(t, testConfig(broker.url, tempDir(t), azurite.connectionString));
  await waitUntil('subscribed', () => app.runtime.bus.ready(), 5000);
  const ready = await app.runtime.http.inject({ url: '/readyz' });
  assert.equal(ready.statusCode, 503);
  assert.match(ready.json().reason, /blob storage unreachable: ECONNREFUSED/);
  const pub = await publisher(t, broker.url);
  const t0 = Date.now();
  await pub.frame('cam', 0, t0);
  await pub.detections(detectionsFor('cam', 0, t0, [['x', 0.5]]));
  await waitUntil('accepted into the outbox', () => app.stats().outbox.images === 1, 5000);
  assert.equal(app.stats().store.reachable, false);
  await azurite.restart();
  await waitUntil('uploaded', () => app.stats().uploaded === 1, 10_000);
  assert.equal((await app.runtime.http.inject({ url: '/readyz' })).statusCode, 200);
  assert.equal((await listBlobs(azurite.service().getContainerClient('frames'))).length, 1);
});

function runMain(env: Record<string, string>, timeoutMs = 15_000): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(SYNC_DIR, 'src/main.ts')], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('main: a malformed connection string exits 1 at once with a clear message and no secret', async (t) => {
  const dir = tempDir(t);
  const secret = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldY';
  const result = await runMain({ SIGHTLINE_DATA_DIR: dir, SIGHTLINE_SYNC_CONNECTION_STRING: `AccountKey=${secret};Foo`, SIGHTLINE_SYNC_HTTP_PORT: '0' });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /SIGHTLINE_SYNC_CONNECTION_STRING: is not a connection string/);
  assert.ok(!(result.stderr + result.stdout).includes(secret));
});

test("main: the wrong key exits 1 with the store's answer in the log", async (t) => {
  const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
  const cs = `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT_NAME};AccountKey=${WRONG_KEY};BlobEndpoint=http://127.0.0.1:${azurite.port}/${DEV_ACCOUNT_NAME};`;
  const result = await runMain(testEnv(broker.url, tempDir(t), cs, { SIGHTLINE_SYNC_HTTP_PORT: String(await freePort()) }));
  assert.equal(result.code, 1);
  assert.match(result.stdout, /failed to start/);
  assert.match(result.stdout, /403 AuthorizationFailure/);
  assert.ok(!result.stdout.includes(WRONG_KEY));
});

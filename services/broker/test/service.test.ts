import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createBrokerApp } from '../src/app.ts';
import { brokerConfig } from '../src/config.ts';
import { collect, connectClient, mqttUrl, openBroker, quietLogger, startBroker, subscribeGranted, tempDir, tryConnect } from './helpers.ts';

const CLI = fileURLToPath(new URL('../src/users-cli.ts', import.meta.url));

function cli(args: string[], stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

async function metricValue(app: { ports(): { http: number } }, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${app.ports().http}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  assert.ok(line !== undefined, `metric ${name} missing`);
  return Number(line.split(' ').at(-1));
}

test('/readyz is 503 before start and 200 once the listeners are bound; /healthz answers', async (t) => {
  const app = createBrokerApp(brokerConfig(), quietLogger());
  const before = await app.http.inject({ method: 'GET', url: '/readyz' });
  assert.equal(before.statusCode, 503);
  await app.start();
  t.after(() => app.stop());
  const ready = await fetch(`http://127.0.0.1:${app.ports().http}/readyz`);
  assert.equal(ready.status, 200);
  assert.equal((await fetch(`http://127.0.0.1:${app.ports().http}/healthz`)).status, 200);
});

test('/metrics counters follow the traffic', async (t) => {
  const app = await openBroker(t);
  assert.equal(await metricValue(app, 'sightline_broker_connections'), 0);
  const subscriber = await connectClient(t, mqttUrl(app));
  const inbox = collect(subscriber);
  await subscriber.subscribeAsync('sightline/metrics/#', { qos: 1 });
  const publisher = await connectClient(t, mqttUrl(app));
  await publisher.publishAsync('sightline/metrics/a', Buffer.alloc(1000), { qos: 1 });
  await inbox.next();
  assert.equal(await metricValue(app, 'sightline_broker_connections'), 2);
  assert.equal(await metricValue(app, 'sightline_broker_connections_total'), 2);
  assert.equal(await metricValue(app, 'sightline_broker_messages_in_total'), 1);
  assert.equal(await metricValue(app, 'sightline_broker_bytes_in_total'), 1000);
  assert.equal(await metricValue(app, 'sightline_broker_messages_out_total'), 1);
  assert.equal(await metricValue(app, 'sightline_broker_bytes_out_total'), 1000);
  await publisher.endAsync();
  assert.equal(await metricValue(app, 'sightline_broker_connections'), 1);
});

test('the broker announces online (retained) at start and offline at stop, under the configured prefix', async (t) => {
  const dataDir = await tempDir(t);
  const app = createBrokerApp(brokerConfig({ topicPrefix: 'site-a/line-1', persistence: 'level', dataDir }), quietLogger());
  await app.start();
  t.after(() => app.stop());
  const watcher = await connectClient(t, mqttUrl(app));
  const inbox = collect(watcher);
  await watcher.subscribeAsync('site-a/line-1/services/broker/availability', { qos: 1 });
  const online = await inbox.next();
  assert.deepEqual([online.payload.toString(), online.retain], ['online', true]);
  await app.stop();
  const offline = await inbox.next((m) => m.payload.toString() === 'offline');
  assert.equal(offline.topic, 'site-a/line-1/services/broker/availability');
  // And it was stored as the retained value.
  const { Level } = await import('level');
  const db = new Level<string, Buffer>(dataDir, { valueEncoding: 'buffer' });
  const stored = await db.get('retained:site-a/line-1/services/broker/availability');
  await db.close();
  assert.ok(stored !== undefined && stored.includes(Buffer.from('offline')));
});

test('users CLI: add, list, passwd, remove; the file it writes authenticates', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'users.json');
  const added = await cli(['add', file, 'camera', '--readwrite', 'sightline/cameras/%u/#', '--read', 'sightline/#'], 'first-pw\n');
  assert.equal(added.code, 0, added.stderr);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.doesNotMatch(await readFile(file, 'utf8'), /first-pw/);
  const listed = await cli(['list', file]);
  assert.equal(listed.stdout, 'camera\treadwrite sightline/cameras/%u/#, read sightline/#\n');
  assert.equal((await cli(['add', file, 'camera'], 'x\n')).code, 1);
  assert.equal((await cli(['add', file, 'other', '--write'], 'x\n')).code, 2);
  assert.equal((await cli(['add', file, 'empty'], '')).code, 1);
  assert.equal((await cli(['frobnicate', file])).code, 2);

  const app = await startBroker(t, { usersFile: file, anonymous: 'off' });
  assert.ok('client' in (await tryConnect(t, mqttUrl(app), { username: 'camera', password: 'first-pw' })));

  assert.equal((await cli(['passwd', file, 'camera'], 'second-pw\n')).code, 0);
  await app.reloadUsers();
  assert.deepEqual(await tryConnect(t, mqttUrl(app), { username: 'camera', password: 'first-pw' }), { refused: 4 });
  assert.ok('client' in (await tryConnect(t, mqttUrl(app), { username: 'camera', password: 'second-pw' })));

  assert.equal((await cli(['remove', file, 'camera'])).code, 0);
  assert.equal((await cli(['remove', file, 'camera'])).code, 1);
  assert.equal((await cli(['list', file])).stdout, '');
  await app.reloadUsers();
  assert.deepEqual(await tryConnect(t, mqttUrl(app), { username: 'camera', password: 'second-pw' }), { refused: 4 });

  const hashed = await cli(['hash'], 'pw\n');
  assert.equal(hashed.code, 0);
  assert.match(hashed.stdout, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+\n$/);
  assert.equal((await cli(['list', join(dir, 'nope.json')])).code, 1);
});

test('provisioning creates missing users with 0600 password files that authenticate, and keeps existing ones', async (t: TestContext) => {
  const dir = await tempDir(t);
  // In a folder that does not exist yet, as on a first start.
  const usersFile = join(dir, 'broker', 'users.json');
  const provisionDir = join(dir, 'secrets');
  const lines: string[] = [];
  const { createLogger } = await import('@sightline/kit');
  const logger = createLogger('broker', 'debug', { write: (line: string) => lines.push(line) });
  const config = brokerConfig({
    usersFile,
    anonymous: 'off',
    provision: {
      users: [
        { username: 'capture', rights: 'readwrite' },
        { username: 'viewer', rights: 'read' },
      ],
      dir: provisionDir,
    },
  });
  const app = createBrokerApp(config, logger);
  await app.start();
  t.after(() => app.stop());
  const password = await readFile(join(provisionDir, 'capture'), 'utf8');
  assert.ok(password.length >= 24);
  assert.equal((await stat(join(provisionDir, 'capture'))).mode & 0o777, 0o600);
  assert.equal((await stat(usersFile)).mode & 0o777, 0o600);
  const client = await connectClient(t, mqttUrl(app), { username: 'capture', password });
  await client.publishAsync('sightline/cameras/a/frame', 'x', { qos: 1 });
  assert.ok(lines.some((line) => line.includes('provisioned users')));
  // A read-only provisioned user receives but cannot publish.
  const viewer = await connectClient(t, mqttUrl(app), { username: 'viewer', password: await readFile(join(provisionDir, 'viewer'), 'utf8') });
  const seen = collect(viewer);
  assert.deepEqual(await subscribeGranted(viewer, ['sightline/#']), [1]);
  await viewer.publishAsync('sightline/cameras/b/frame', 'from viewer', { qos: 1 });
  await client.publishAsync('sightline/cameras/a/frame', 'from capture', { qos: 1 });
  assert.equal((await seen.next((m) => m.topic.startsWith('sightline/cameras/'))).payload.toString(), 'from capture');
  assert.ok(!lines.some((line) => line.includes(password)), 'a password reached the log');
  await app.stop();

  const again = createBrokerApp(config, quietLogger());
  await again.start();
  t.after(() => again.stop());
  assert.equal(await readFile(join(provisionDir, 'capture'), 'utf8'), password);
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readFile, writeFile } from 'node:fs/promises';
import type { MqttClient } from 'mqtt';
import { hashPassword } from '@sightline/kit';
import type { UsersFile } from '../src/users-file.ts';
import { collect, connectClient, FAST_SCRYPT, metric, mqttUrl, sleep, startBroker, subscribeGranted, tempDir, writeUsers } from './helpers.ts';

type Users = Parameters<typeof writeUsers>[1];

const everything = [{ pattern: 'sightline/#', access: 'readwrite' as const }];

/** Edits the users file as an operator would: what is not changed keeps its hash. */
async function editUsers(path: string, edit: (file: UsersFile) => void | Promise<void>): Promise<void> {
  const file = JSON.parse(await readFile(path, 'utf8')) as UsersFile;
  await edit(file);
  await writeFile(path, JSON.stringify(file));
}

function closed(client: MqttClient, ms = 3000): Promise<boolean> {
  if (!client.connected) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    client.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

test('reloading the users file disconnects removed users and changed passwords; the others stay', async (t) => {
  const dir = await tempDir(t);
  const usersFile = join(dir, 'users.json');
  const users: Users = {
    keeper: { password: 'keeper-pw', acl: everything },
    removed: { password: 'removed-pw', acl: everything },
    rotated: { password: 'old-pw', acl: everything },
  };
  await writeUsers(usersFile, users);
  const app = await startBroker(t, { usersFile, anonymous: 'off' });
  const url = mqttUrl(app);
  const connect = async (username: string, password: string) => {
    const client = await connectClient(t, url, { username, password, reconnectPeriod: 0 });
    await client.subscribeAsync('sightline/#', { qos: 1 });
    return client;
  };
  const keeper = await connect('keeper', 'keeper-pw');
  const removed = await connect('removed', 'removed-pw');
  const rotated = await connect('rotated', 'old-pw');
  const removedInbox = collect(removed);

  await editUsers(usersFile, async (file) => {
    delete file.users.removed;
    file.users.rotated!.hash = await hashPassword('new-pw', FAST_SCRYPT);
  });
  await app.reloadUsers();
  assert.deepEqual(await Promise.all([closed(removed), closed(rotated)]), [true, true]);
  await keeper.publishAsync('sightline/after', 'after the reload', { qos: 1 });
  await sleep(200);
  assert.equal(keeper.connected, true);
  assert.deepEqual(
    removedInbox.filter((m) => m.topic === 'sightline/after'),
    [],
  );
  assert.equal(await metric(app, 'sightline_broker_connections_closed_total', 'reason="user_removed"'), 1);
  assert.equal(await metric(app, 'sightline_broker_connections_closed_total', 'reason="password_changed"'), 1);
});

test('changed rights apply at once to open connections, for delivery and for publishing', async (t) => {
  const dir = await tempDir(t);
  const usersFile = join(dir, 'users.json');
  await writeUsers(usersFile, {
    admin: { password: 'admin-pw', acl: everything },
    carol: {
      password: 'carol-pw',
      acl: [
        { pattern: 'sightline/#', access: 'read' },
        { pattern: 'sightline/carol/#', access: 'write' },
      ],
    },
  });
  const app = await startBroker(t, { usersFile, anonymous: 'off' });
  const url = mqttUrl(app);
  const adminClient = await connectClient(t, url, { username: 'admin', password: 'admin-pw' });
  const adminInbox = collect(adminClient);
  await adminClient.subscribeAsync('sightline/#', { qos: 1 });
  const carol = await connectClient(t, url, { username: 'carol', password: 'carol-pw' });
  const carolInbox = collect(carol);
  assert.deepEqual(await subscribeGranted(carol, ['sightline/#']), [1]);
  await adminClient.publishAsync('sightline/secret/a', 'before', { qos: 1 });
  await carolInbox.next((m) => m.payload.toString() === 'before');
  await carol.publishAsync('sightline/carol/x', 'carol-before', { qos: 1 });
  await adminInbox.next((m) => m.payload.toString() === 'carol-before');

  // Carol may now read only sightline/public and write sightline/other.
  await editUsers(usersFile, (file) => {
    file.users.carol!.acl = [
      { pattern: 'sightline/public/#', access: 'read' },
      { pattern: 'sightline/other/#', access: 'write' },
    ];
  });
  await app.reloadUsers();
  await adminClient.publishAsync('sightline/secret/a', 'after', { qos: 1 });
  await adminClient.publishAsync('sightline/public/a', 'public-after', { qos: 1 });
  await carolInbox.next((m) => m.payload.toString() === 'public-after');
  await carol.publishAsync('sightline/carol/x', 'carol-after', { qos: 1 });
  await carol.publishAsync('sightline/other/x', 'other-after', { qos: 1 });
  await adminInbox.next((m) => m.payload.toString() === 'other-after');
  assert.deepEqual(
    carolInbox.filter((m) => m.payload.toString() === 'after'),
    [],
  );
  assert.deepEqual(
    adminInbox.filter((m) => m.payload.toString() === 'carol-after'),
    [],
  );
  assert.equal(carol.connected, true);
});

test('SIGHUP to the broker process revokes a removed user at once', async (t: TestContext) => {
  const dir = await tempDir(t);
  const usersFile = join(dir, 'users.json');
  await writeUsers(usersFile, { watcher: { password: 'watcher-pw', acl: everything }, other: { password: 'other-pw', acl: everything } });
  const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
  const child = spawn(process.execPath, [main], {
    env: {
      PATH: process.env.PATH,
      SIGHTLINE_LOG_LEVEL: 'info',
      SIGHTLINE_DATA_DIR: dir,
      SIGHTLINE_BROKER_USERS_FILE: usersFile,
      SIGHTLINE_BROKER_PERSISTENCE: 'memory',
      SIGHTLINE_BROKER_MQTT_PORT: '0',
      SIGHTLINE_BROKER_WS_PORT: '0',
      SIGHTLINE_BROKER_HTTP_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`broker exited with ${code}`)));
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; ports?: { mqtt: number } };
      if (entry.msg === 'broker listening' && entry.ports !== undefined) resolve(entry.ports.mqtt);
    });
  });
  const watcher = await connectClient(t, `mqtt://127.0.0.1:${port}`, { username: 'watcher', password: 'watcher-pw', reconnectPeriod: 0 });
  await editUsers(usersFile, (file) => {
    delete file.users.watcher;
  });
  child.kill('SIGHUP');
  assert.equal(await closed(watcher), true);
});

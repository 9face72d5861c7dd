import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { createBrokerApp } from '../src/app.ts';
import { brokerConfig, type BrokerConfig } from '../src/config.ts';
import { collect, connectClient, metric, mqttUrl, quietLogger, sleep, startBroker, subscribeGranted, tempDir, tryConnect, writeUsers } from './helpers.ts';

const ALERT_ID = 'sightline-alert';

async function usersFile(t: TestContext): Promise<string> {
  const dir = await tempDir(t);
  const path = join(dir, 'users.json');
  await writeUsers(
    path,
    {
      alert: { password: 'alert-pw', acl: [{ pattern: 'sightline/#', access: 'readwrite' }] },
      mallory: { password: 'mallory-pw', acl: [{ pattern: 'sightline/#', access: 'readwrite' }] },
      self: {
        password: 'self-pw',
        acl: [
          { pattern: '%c/#', access: 'readwrite' },
          { pattern: 'sightline/%c/#', access: 'readwrite' },
        ],
      },
    },
    { acl: [{ pattern: 'sightline/#', access: 'readwrite' }] },
  );
  return path;
}

const alert = { username: 'alert', password: 'alert-pw' };
const mallory = { username: 'mallory', password: 'mallory-pw' };

test("another user (or an anonymous client) cannot take a persistent session's client id: CONNACK 2, the session and the owner's connection untouched", async (t) => {
  const app = await startBroker(t, { usersFile: await usersFile(t), anonymous: 'loopback' });
  const url = mqttUrl(app);
  const owner = await connectClient(t, url, { ...alert, clientId: ALERT_ID, clean: false });
  await owner.subscribeAsync('sightline/lanes/#', { qos: 1 });
  await owner.endAsync();
  const publisher = await connectClient(t, url, mallory);
  await publisher.publishAsync('sightline/lanes/1/scan', 'queued-1', { qos: 1 });

  assert.deepEqual(await tryConnect(t, url, { ...mallory, clientId: ALERT_ID, clean: false }), { refused: 2 });
  assert.deepEqual(await tryConnect(t, url, { ...mallory, clientId: ALERT_ID, clean: true }), { refused: 2 });
  assert.deepEqual(await tryConnect(t, url, { clientId: ALERT_ID, clean: false }), { refused: 2 });
  assert.deepEqual(await tryConnect(t, url, { clientId: ALERT_ID, clean: true }), { refused: 2 });

  // The owner gets its queued message and keeps its session.
  const back = await connectClient(t, url, { ...alert, clientId: ALERT_ID, clean: false });
  const inbox = collect(back);
  assert.equal((await inbox.next()).payload.toString(), 'queued-1');
  // With the owner connected, the thief is refused and the owner's connection stays.
  assert.deepEqual(await tryConnect(t, url, { ...mallory, clientId: ALERT_ID, clean: false }), { refused: 2 });
  await publisher.publishAsync('sightline/lanes/1/scan', 'live-2', { qos: 1 });
  assert.equal((await inbox.next((m) => m.payload.toString() === 'live-2')).topic, 'sightline/lanes/1/scan');
  assert.equal(back.connected, true);
  assert.equal(await metric(app, 'sightline_broker_auth_failures_total', 'reason="client_id"'), 5);
});

test('the client id in use by a connection belongs to its user while it is connected', async (t) => {
  const app = await startBroker(t, { usersFile: await usersFile(t), anonymous: 'off' });
  const url = mqttUrl(app);
  const first = await connectClient(t, url, { ...alert, clientId: 'lane-display' });
  assert.deepEqual(await tryConnect(t, url, { ...mallory, clientId: 'lane-display' }), { refused: 2 });
  await sleep(100);
  assert.equal(first.connected, true);
  // The same user may take over its own id, as MQTT says.
  assert.ok('client' in (await tryConnect(t, url, { ...alert, clientId: 'lane-display' })));
});

test('the binding survives a broker restart; the owner connecting with clean=true ends the session and frees the id', async (t) => {
  const dataDir = await tempDir(t);
  const config: BrokerConfig = brokerConfig({ usersFile: await usersFile(t), anonymous: 'off', persistence: 'level', dataDir });
  const first = createBrokerApp(config, quietLogger());
  await first.start();
  t.after(() => first.stop());
  const owner = await connectClient(t, mqttUrl(first), { ...alert, clientId: ALERT_ID, clean: false });
  await owner.subscribeAsync('sightline/lanes/#', { qos: 1 });
  await owner.endAsync();
  await first.stop();

  const second = createBrokerApp(config, quietLogger());
  await second.start();
  t.after(() => second.stop());
  const url = mqttUrl(second);
  assert.deepEqual(await tryConnect(t, url, { ...mallory, clientId: ALERT_ID, clean: false }), { refused: 2 });
  const releasing = await connectClient(t, url, { ...alert, clientId: ALERT_ID, clean: true });
  await releasing.endAsync();
  const newOwner = await connectClient(t, url, { ...mallory, clientId: ALERT_ID, clean: false });
  assert.equal(newOwner.connected, true);
  await newOwner.endAsync();
  assert.deepEqual(await tryConnect(t, url, { ...alert, clientId: ALERT_ID, clean: false }), { refused: 2 });
});

test('persistent sessions are capped: a new one beyond the cap gets CONNACK 3, existing ones reconnect', async (t) => {
  const app = await startBroker(t, { usersFile: await usersFile(t), anonymous: 'off', maxSessions: 2 });
  const url = mqttUrl(app);
  for (const clientId of ['s1', 's2']) await (await connectClient(t, url, { ...alert, clientId, clean: false })).endAsync();
  assert.deepEqual(await tryConnect(t, url, { ...alert, clientId: 's3', clean: false }), { refused: 3 });
  assert.ok('client' in (await tryConnect(t, url, { ...alert, clientId: 's1', clean: false })));
  assert.ok('client' in (await tryConnect(t, url, { ...alert, clientId: 's4', clean: true })));
  assert.equal(await metric(app, 'sightline_broker_auth_failures_total', 'reason="sessions"'), 1);
  assert.equal(await metric(app, 'sightline_broker_sessions'), 2);
});

test('%c and %u never expand to a $ topic', async (t) => {
  const app = await startBroker(t, { usersFile: await usersFile(t), anonymous: 'off' });
  const url = mqttUrl(app);
  const sneaky = await connectClient(t, url, { username: 'self', password: 'self-pw', clientId: '$SYS' });
  assert.deepEqual(await subscribeGranted(sneaky, ['$SYS/#', 'sightline/$SYS/x']), [128, 128]);
  // An ordinary id still gets its rules.
  const plain = await connectClient(t, url, { username: 'self', password: 'self-pw', clientId: 'cam-1' });
  assert.deepEqual(await subscribeGranted(plain, ['cam-1/#', 'sightline/cam-1/x']), [1, 1]);
});

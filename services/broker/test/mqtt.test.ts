import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  anonymousWritesFile,
  collect,
  connectClient,
  connectPacket,
  mqttUrl,
  openBroker,
  quietLogger,
  rawConnect,
  startBroker,
  tempDir,
  writeUsers,
} from './helpers.ts';
import { createBrokerApp } from '../src/app.ts';
import { brokerConfig } from '../src/config.ts';

test('retained message is delivered to a new subscriber', async (t) => {
  const app = await openBroker(t);
  const publisher = await connectClient(t, mqttUrl(app));
  await publisher.publishAsync('sightline/retained/a', 'kept', { qos: 1, retain: true });
  const subscriber = await connectClient(t, mqttUrl(app));
  const inbox = collect(subscriber);
  await subscriber.subscribeAsync('sightline/retained/+', { qos: 1 });
  const message = await inbox.next();
  assert.equal(message.topic, 'sightline/retained/a');
  assert.equal(message.payload.toString(), 'kept');
  assert.equal(message.retain, true);
});

test('QoS 1 message for an offline persistent session is delivered after reconnect', async (t) => {
  const app = await openBroker(t);
  const first = await connectClient(t, mqttUrl(app), { clientId: 'durable-1', clean: false });
  await first.subscribeAsync('sightline/queue/#', { qos: 1 });
  await first.endAsync();
  const publisher = await connectClient(t, mqttUrl(app));
  await publisher.publishAsync('sightline/queue/x', 'while you were out', { qos: 1 });
  const again = await connectClient(t, mqttUrl(app), { clientId: 'durable-1', clean: false });
  const inbox = collect(again);
  const message = await inbox.next();
  assert.equal(message.payload.toString(), 'while you were out');
  assert.equal(message.qos, 1);
});

test('durable session, its queued message and retained messages survive a restart (level persistence)', async (t) => {
  const dataDir = await tempDir(t);
  const config = brokerConfig({ persistence: 'level', dataDir, usersFile: await anonymousWritesFile(t) });
  const first = createBrokerApp(config, quietLogger());
  await first.start();
  t.after(() => first.stop());
  const durable = await connectClient(t, mqttUrl(first), { clientId: 'durable-restart', clean: false });
  await durable.subscribeAsync('sightline/persist/#', { qos: 1 });
  await durable.endAsync();
  const publisher = await connectClient(t, mqttUrl(first));
  await publisher.publishAsync('sightline/persist/queued', 'queued', { qos: 1 });
  await publisher.publishAsync('sightline/persist/retained', 'retained', { qos: 1, retain: true });
  await publisher.endAsync();
  await first.stop();

  const second = createBrokerApp(config, quietLogger());
  await second.start();
  t.after(() => second.stop());
  const back = await connectClient(t, mqttUrl(second), { clientId: 'durable-restart', clean: false });
  const inbox = collect(back);
  assert.equal((await inbox.next((m) => m.topic === 'sightline/persist/queued')).payload.toString(), 'queued');
  const fresh = await connectClient(t, mqttUrl(second));
  const freshInbox = collect(fresh);
  await fresh.subscribeAsync('sightline/persist/retained');
  const retained = await freshInbox.next();
  assert.equal(retained.payload.toString(), 'retained');
  assert.equal(retained.retain, true);
});

test('the will is published when the keepalive expires', async (t) => {
  const app = await openBroker(t);
  const watcher = await connectClient(t, mqttUrl(app));
  const inbox = collect(watcher);
  await watcher.subscribeAsync('sightline/wills/#');
  const silent = await rawConnect(
    t,
    app.ports().mqtt,
    connectPacket({ clientId: 'silent', clean: true, keepalive: 1, will: { topic: 'sightline/wills/silent', payload: 'gone' } }),
  );
  assert.equal(silent.returnCode, 0);
  const started = Date.now();
  const will = await inbox.next(undefined, 5000);
  assert.equal(will.payload.toString(), 'gone');
  assert.ok(Date.now() - started >= 1000, 'the will came before the keepalive (1.5 x 1 s) could expire');
});

test('overlapping subscriptions (a/# and a/+) deliver the message once (aedes de-duplicates per client)', async (t) => {
  const app = await openBroker(t);
  const subscriber = await connectClient(t, mqttUrl(app));
  const inbox = collect(subscriber);
  await subscriber.subscribeAsync(['sightline/overlap/#', 'sightline/overlap/+'], { qos: 1 });
  const publisher = await connectClient(t, mqttUrl(app));
  await publisher.publishAsync('sightline/overlap/x', 'one', { qos: 1 });
  await publisher.publishAsync('sightline/overlap/y/z', 'marker', { qos: 1 });
  await inbox.next((m) => m.payload.toString() === 'marker');
  assert.deepEqual(
    inbox.filter((m) => m.topic === 'sightline/overlap/x').map((m) => m.payload.toString()),
    ['one'],
  );
});

test('unsubscribe stops delivery', async (t) => {
  const app = await openBroker(t);
  const subscriber = await connectClient(t, mqttUrl(app));
  const inbox = collect(subscriber);
  await subscriber.subscribeAsync(['sightline/unsub/a', 'sightline/unsub/marker'], { qos: 1 });
  const publisher = await connectClient(t, mqttUrl(app));
  await publisher.publishAsync('sightline/unsub/a', 'before', { qos: 1 });
  await inbox.next((m) => m.payload.toString() === 'before');
  await subscriber.unsubscribeAsync('sightline/unsub/a');
  await publisher.publishAsync('sightline/unsub/a', 'after', { qos: 1 });
  await publisher.publishAsync('sightline/unsub/marker', 'marker', { qos: 1 });
  await inbox.next((m) => m.payload.toString() === 'marker');
  assert.deepEqual(
    inbox.filter((m) => m.topic === 'sightline/unsub/a').map((m) => m.payload.toString()),
    ['before'],
  );
});

test('$ topics are not matched by # or +/x', async (t) => {
  // The broker itself publishes $SYS topics; a client with read rights on them must still not get them through # or +/...
  const usersDir = await tempDir(t);
  const usersFile = `${usersDir}/users.json`;
  await writeUsers(usersFile, {
    admin: {
      password: 'pw',
      acl: [
        { pattern: '#', access: 'read' },
        { pattern: '$SYS/#', access: 'read' },
        { pattern: 'sightline/#', access: 'readwrite' },
      ],
    },
  });
  const secured = await startBroker(t, { usersFile, anonymous: 'off' });
  const wildcard = await connectClient(t, mqttUrl(secured), { username: 'admin', password: 'pw' });
  const wildcardInbox = collect(wildcard);
  await wildcard.subscribeAsync(['#', '+/+/new/clients'], { qos: 0 });
  const explicit = await connectClient(t, mqttUrl(secured), { username: 'admin', password: 'pw' });
  const explicitInbox = collect(explicit);
  await explicit.subscribeAsync('$SYS/#');
  // A new client makes the broker publish $SYS/<id>/new/clients.
  const other = await connectClient(t, mqttUrl(secured), { username: 'admin', password: 'pw' });
  await explicitInbox.next((m) => m.topic.startsWith('$SYS/') && m.topic.endsWith('/new/clients'));
  await other.publishAsync('sightline/dollar/marker', 'marker', { qos: 1 });
  await wildcardInbox.next((m) => m.topic === 'sightline/dollar/marker');
  assert.deepEqual(
    wildcardInbox.filter((m) => m.topic.startsWith('$')),
    [],
  );
});

test("aedes' packet writer keeps no cache of 65,536 encoded numbers (7.5 MB of heap), and QoS 1 still flows with message ids", async (t) => {
  const { aedesPacketWriter } = await import('../src/app.ts');
  const { createRequire } = await import('node:module');
  assert.equal(
    aedesPacketWriter,
    (createRequire(import.meta.resolve('aedes'))('mqtt-packet') as { writeToStream: unknown }).writeToStream,
    'the mqtt-packet aedes uses',
  );
  assert.equal(aedesPacketWriter.cacheNumbers, false);
  const app = await openBroker(t);
  const subscriber = await connectClient(t, mqttUrl(app));
  const received = collect(subscriber);
  await subscriber.subscribeAsync('sightline/test/#', { qos: 1 });
  const publisher = await connectClient(t, mqttUrl(app));
  for (let i = 0; i < 300; i++) await publisher.publishAsync('sightline/test/n', String(i), { qos: 1 });
  await received.next((m) => m.payload.toString() === '299');
  assert.deepEqual(
    received.map((m) => Number(m.payload.toString())),
    Array.from({ length: 300 }, (_, i) => i),
  );
  assert.ok(received.every((m) => m.qos === 1));
});

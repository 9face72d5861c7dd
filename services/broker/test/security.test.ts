import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { createBrokerApp } from '../src/app.ts';
import { brokerConfig } from '../src/config.ts';
import { createSecurity, isLoopback } from '../src/auth.ts';
import { createClientIdOwners } from '../src/client-ids.ts';
import { createBrokerMetrics } from '../src/metrics.ts';
import { createRateLimiter } from '../src/rate-limit.ts';
import {
  collect,
  connectClient,
  connectPacket,
  mqttUrl,
  openBroker,
  quietLogger,
  rawConnect,
  startBroker,
  subscribeGranted,
  tempDir,
  tryConnect,
  writeUsers,
} from './helpers.ts';

const run = promisify(execFile);

async function securedBroker(t: TestContext, overrides: Parameters<typeof startBroker>[1] = {}) {
  const dir = await tempDir(t);
  const usersFile = join(dir, 'users.json');
  await writeUsers(usersFile, {
    alice: { password: 'alice-pw', acl: [{ pattern: 'sightline/#', access: 'readwrite' }] },
    reader: { password: 'reader-pw', acl: [{ pattern: 'sightline/public/#', access: 'read' }] },
    nobody: { password: 'nobody-pw', acl: [{ pattern: 'sightline/public/#', access: 'read' }] },
    self: {
      password: 'self-pw',
      acl: [
        { pattern: 'sightline/users/%u/#', access: 'readwrite' },
        { pattern: 'sightline/clients/%c', access: 'write' },
      ],
    },
  });
  const app = await startBroker(t, { usersFile, anonymous: 'off', ...overrides });
  return { app, url: mqttUrl(app), usersFile };
}

test('anonymous clients are refused with CONNACK 5 when anonymous is off', async (t) => {
  const { url, app } = await securedBroker(t);
  assert.deepEqual(await tryConnect(t, url), { refused: 5 });
  const metrics = await (await fetch(`http://127.0.0.1:${app.ports().http}/metrics`)).text();
  assert.match(metrics, /sightline_broker_auth_failures_total\{reason="anonymous",service="broker"\} 1/);
});

test('anonymous=loopback admits loopback addresses only', async (t) => {
  const app = await startBroker(t, { anonymous: 'loopback' });
  assert.ok('client' in (await tryConnect(t, mqttUrl(app))));
  assert.equal(isLoopback('127.0.0.1'), true);
  assert.equal(isLoopback('127.8.9.10'), true);
  assert.equal(isLoopback('::1'), true);
  assert.equal(isLoopback('::ffff:127.0.0.1'), true);
  assert.equal(isLoopback('10.0.0.5'), false);
  assert.equal(isLoopback('::ffff:192.168.1.2'), false);
  assert.equal(isLoopback('fe80::1'), false);
});

test('a non-loopback client is refused when anonymous=loopback (authenticate hook with a remote peer address)', async () => {
  // This machine has only loopback, so the hook is given a client whose peer is 10.0.0.7.
  const security = createSecurity({
    users: () => null,
    anonymous: 'loopback',
    topicPrefix: 'sightline',
    maxPayloadBytes: 1000,
    maxClientBufferBytes: 1_000_000,
    rateLimiter: createRateLimiter(0, 1),
    clientIds: createClientIdOwners(null),
    maxSessions: 10,
    connectedClient: () => undefined,
    metrics: createBrokerMetrics(),
    logger: quietLogger(),
  });
  const verdict = (address: string) =>
    new Promise<{ err: { returnCode?: number } | null; ok: boolean | null }>((resolve) => {
      const client = { id: 'x', conn: Object.assign(new EventEmitter(), { remoteAddress: address }) } as never;
      security.hooks.authenticate(client, undefined, undefined, (err, ok) => resolve({ err, ok }));
    });
  assert.equal((await verdict('10.0.0.7')).err?.returnCode, 5);
  assert.equal((await verdict('::ffff:10.0.0.7')).err?.returnCode, 5);
  assert.equal((await verdict('127.0.0.1')).ok, true);
});

test('a wrong password is refused with CONNACK 4, and so is an unknown user', async (t) => {
  const { url } = await securedBroker(t);
  assert.deepEqual(await tryConnect(t, url, { username: 'alice', password: 'wrong' }), { refused: 4 });
  assert.deepEqual(await tryConnect(t, url, { username: 'mallory', password: 'alice-pw' }), { refused: 4 });
  assert.deepEqual(await tryConnect(t, url, { username: 'alice' }), { refused: 4 });
  assert.ok('client' in (await tryConnect(t, url, { username: 'alice', password: 'alice-pw' })));
});

test('a user without rights can neither subscribe to nor publish on a protected topic', async (t) => {
  const { url, app } = await securedBroker(t);
  const alice = await connectClient(t, url, { username: 'alice', password: 'alice-pw' });
  const aliceInbox = collect(alice);
  await alice.subscribeAsync('sightline/#', { qos: 1 });
  const nobody = await connectClient(t, url, { username: 'nobody', password: 'nobody-pw' });
  assert.deepEqual(await subscribeGranted(nobody, ['sightline/secret/#', 'sightline/public/#']), [128, 1]);
  // Denied publishes are acknowledged (like Mosquitto) but never delivered.
  await nobody.publishAsync('sightline/secret/x', 'leak', { qos: 1 });
  await nobody.publishAsync('sightline/secret/r', 'leak', { qos: 1, retain: true });
  assert.equal(nobody.connected, true);
  await alice.publishAsync('sightline/secret/marker', 'marker', { qos: 1 });
  await aliceInbox.next((m) => m.payload.toString() === 'marker');
  assert.deepEqual(
    aliceInbox.filter((m) => m.payload.toString() === 'leak'),
    [],
  );
  // A broad subscription is granted but only readable topics are delivered.
  const reader = await connectClient(t, url, { username: 'reader', password: 'reader-pw' });
  const readerInbox = collect(reader);
  const [broad] = await reader.subscribeAsync('sightline/#', { qos: 1 });
  assert.equal(broad?.qos, 1);
  await alice.publishAsync('sightline/secret/y', 'secret', { qos: 1 });
  await alice.publishAsync('sightline/public/y', 'public', { qos: 1 });
  await readerInbox.next((m) => m.payload.toString() === 'public');
  assert.deepEqual(
    readerInbox.filter((m) => m.payload.toString() === 'secret'),
    [],
  );
  const metrics = await (await fetch(`http://127.0.0.1:${app.ports().http}/metrics`)).text();
  assert.match(metrics, /sightline_broker_denied_publishes_total\{service="broker"\} 2/);
  assert.match(metrics, /sightline_broker_denied_subscriptions_total\{service="broker"\} 1/);
});

test('%u and %c in ACL patterns stand for the username and the client id', async (t) => {
  const { url } = await securedBroker(t);
  const alice = await connectClient(t, url, { username: 'alice', password: 'alice-pw' });
  const inbox = collect(alice);
  await alice.subscribeAsync('sightline/#', { qos: 1 });
  const self = await connectClient(t, url, { username: 'self', password: 'self-pw', clientId: 'cam-7' });
  assert.deepEqual(await subscribeGranted(self, ['sightline/users/self/#', 'sightline/users/alice/#']), [1, 128]);
  await self.publishAsync('sightline/users/self/x', 'own', { qos: 1 });
  await self.publishAsync('sightline/users/alice/x', 'foreign', { qos: 1 });
  await self.publishAsync('sightline/clients/cam-7', 'own-client', { qos: 1 });
  await self.publishAsync('sightline/clients/cam-8', 'foreign-client', { qos: 1 });
  await alice.publishAsync('sightline/marker', 'marker', { qos: 1 });
  await inbox.next((m) => m.payload.toString() === 'marker');
  const fromSelf = inbox.filter((m) => /^sightline\/(users|clients)\//.test(m.topic));
  assert.deepEqual(fromSelf.map((m) => m.payload.toString()).sort(), ['own', 'own-client']);
});

test('an oversize payload is dropped and counted, the client stays connected', async (t) => {
  const app = await openBroker(t, { maxPayloadBytes: 1024 });
  const subscriber = await connectClient(t, mqttUrl(app));
  const inbox = collect(subscriber);
  await subscriber.subscribeAsync('sightline/size/#', { qos: 1 });
  const publisher = await connectClient(t, mqttUrl(app));
  await publisher.publishAsync('sightline/size/big', Buffer.alloc(1025, 1), { qos: 1 });
  await publisher.publishAsync('sightline/size/ok', Buffer.alloc(1024, 2), { qos: 1 });
  const ok = await inbox.next();
  assert.equal(ok.topic, 'sightline/size/ok');
  assert.equal(publisher.connected, true);
  assert.deepEqual(
    inbox.filter((m) => m.topic === 'sightline/size/big'),
    [],
  );
  const metrics = await (await fetch(`http://127.0.0.1:${app.ports().http}/metrics`)).text();
  assert.match(metrics, /sightline_broker_oversize_drops_total\{service="broker"\} 1/);
  // A will larger than the limit refuses the connection.
  const refused = await tryConnect(t, mqttUrl(app), { will: { topic: 'sightline/size/will', payload: Buffer.alloc(2000), qos: 0, retain: false } });
  assert.deepEqual(refused, { refused: 5 });
});

test('a zero-length client id with clean session off is refused with CONNACK 2', async (t) => {
  const app = await startBroker(t);
  const refused = await rawConnect(t, app.ports().mqtt, connectPacket({ clientId: '', clean: false, keepalive: 30 }));
  assert.equal(refused.returnCode, 2);
  const accepted = await rawConnect(t, app.ports().mqtt, connectPacket({ clientId: '', clean: true, keepalive: 30 }));
  assert.equal(accepted.returnCode, 0);
});

test('clients can never write $ topics, even with a # write rule', async (t) => {
  const dir = await tempDir(t);
  const usersFile = join(dir, 'users.json');
  await writeUsers(usersFile, {
    root: {
      password: 'pw',
      acl: [
        { pattern: '#', access: 'readwrite' },
        { pattern: '$SYS/#', access: 'readwrite' },
        { pattern: '$foo/#', access: 'readwrite' },
      ],
    },
  });
  const app = await startBroker(t, { usersFile, anonymous: 'off' });
  const root = await connectClient(t, mqttUrl(app), { username: 'root', password: 'pw' });
  const inbox = collect(root);
  await root.subscribeAsync(['$SYS/#', '$foo/#', 'marker'], { qos: 1 });
  await root.publishAsync('$SYS/fake/heartbeat', 'forged', { qos: 1 });
  await root.publishAsync('$foo/x', 'forged', { qos: 1 });
  await root.publishAsync('marker', 'marker', { qos: 1 });
  await inbox.next((m) => m.topic === 'marker');
  assert.deepEqual(
    inbox.filter((m) => m.payload.toString() === 'forged'),
    [],
  );
  assert.equal(root.connected, true);
});

test('connection attempts are rate limited per IP', async (t) => {
  const app = await startBroker(t, { connectRate: 0.5, connectBurst: 3 });
  const outcomes = [];
  for (let i = 0; i < 5; i++) outcomes.push(await tryConnect(t, mqttUrl(app)));
  assert.deepEqual(
    outcomes.map((o) => ('client' in o ? 'ok' : o)),
    ['ok', 'ok', 'ok', { closed: true }, { closed: true }],
  );
  const metrics = await (await fetch(`http://127.0.0.1:${app.ports().http}/metrics`)).text();
  assert.match(metrics, /sightline_broker_rate_limited_connections_total\{service="broker"\} 2/);
});

test('a non-loopback listener with anonymous=on and no TLS is refused unless INSECURE=true', async (t) => {
  const refused = createBrokerApp(brokerConfig({ host: '0.0.0.0', anonymous: 'on' }), quietLogger());
  await assert.rejects(refused.start(), /refusing to listen on 0\.0\.0\.0 with SIGHTLINE_BROKER_ANONYMOUS=on and no TLS/);
  const lines: string[] = [];
  const { createLogger } = await import('@sightline/kit');
  const logger = createLogger('broker', 'warn', { write: (line: string) => lines.push(line) });
  const allowed = createBrokerApp(brokerConfig({ host: '0.0.0.0', anonymous: 'on', insecure: true, logLevel: 'warn' }), logger);
  await allowed.start();
  t.after(() => allowed.stop());
  assert.ok(
    lines.some((line) => JSON.parse(line).level === 'warn' && /INSECURE/.test(line)),
    lines.join('\n'),
  );
});

test('TLS: mqtts and wss work with a self-signed certificate', async (t) => {
  const dir = await tempDir(t);
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  const app = await openBroker(t, { tls: { cert, key } });
  const ports = app.ports();
  assert.ok(ports.mqtts !== null && ports.mqtts > 0 && ports.wss !== null && ports.wss > 0);
  const { readFile } = await import('node:fs/promises');
  const ca = await readFile(cert);
  const secure = await connectClient(t, `mqtts://127.0.0.1:${ports.mqtts}`, { ca, rejectUnauthorized: true });
  const inbox = collect(secure);
  await secure.subscribeAsync('sightline/tls/#', { qos: 1 });
  const overWss = await connectClient(t, `wss://127.0.0.1:${ports.wss}`, { ca, rejectUnauthorized: true });
  await overWss.publishAsync('sightline/tls/x', 'through wss', { qos: 1 });
  assert.equal((await inbox.next()).payload.toString(), 'through wss');
  // A client that does not trust the certificate is refused by TLS itself.
  const untrusted = await tryConnect(t, `mqtts://127.0.0.1:${ports.mqtts}`, { rejectUnauthorized: true });
  assert.deepEqual(untrusted, { closed: true });
});

test('TLS files that are missing or invalid fail the start clearly', async (t) => {
  const dir = await tempDir(t);
  const missing = createBrokerApp(brokerConfig({ tls: { cert: join(dir, 'nope.pem'), key: join(dir, 'nope.key') } }), quietLogger());
  await assert.rejects(missing.start(), /cannot read TLS certificate .*nope\.pem: ENOENT/);
  const { writeFile } = await import('node:fs/promises');
  await writeFile(join(dir, 'bad.pem'), 'not a certificate');
  await writeFile(join(dir, 'bad.key'), 'not a key');
  const invalid = createBrokerApp(brokerConfig({ tls: { cert: join(dir, 'bad.pem'), key: join(dir, 'bad.key') } }), quietLogger());
  await assert.rejects(invalid.start(), /invalid TLS certificate or key/);
});

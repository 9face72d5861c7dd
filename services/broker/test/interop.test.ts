import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { collect, connectClient, execFileAsync, mqttUrl, openBroker, startBroker, subscribeGranted, tempDir, writeUsers } from './helpers.ts';

/** Runs a mosquitto client, killing it at the deadline; resolves with its exit code and output. */
function mosquitto(
  t: TestContext,
  command: string,
  args: string[],
  timeoutMs = 5000,
): { done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { done };
}

async function usersBroker(t: TestContext) {
  const dir = await tempDir(t);
  const usersFile = join(dir, 'users.json');
  await writeUsers(usersFile, { svc: { password: 's3cret', acl: [{ pattern: 'sightline/#', access: 'readwrite' }] } });
  return startBroker(t, { usersFile, anonymous: 'loopback' });
}

test('mosquitto_sub receives a message published by mqtt.js', async (t) => {
  const app = await usersBroker(t);
  const port = String(app.ports().mqtt);
  const sub = mosquitto(t, 'mosquitto_sub', [
    '-V',
    'mqttv311',
    '-h',
    '127.0.0.1',
    '-p',
    port,
    '-u',
    'svc',
    '-P',
    's3cret',
    '-t',
    'sightline/interop/#',
    '-C',
    '1',
    '-v',
    '-q',
    '1',
    '-i',
    'mosq-sub',
  ]);
  const publisher = await connectClient(t, mqttUrl(app), { username: 'svc', password: 's3cret' });
  // Publish until the subscriber (which connects in its own time) has the message.
  const timer = setInterval(() => publisher.publish('sightline/interop/a', 'from mqtt.js', { qos: 1 }), 100);
  t.after(() => clearInterval(timer));
  const result = await sub.done;
  clearInterval(timer);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim(), 'sightline/interop/a from mqtt.js');
});

test('mosquitto_pub with username and password reaches an mqtt.js subscriber', async (t) => {
  const app = await usersBroker(t);
  const subscriber = await connectClient(t, mqttUrl(app), { username: 'svc', password: 's3cret' });
  const inbox = collect(subscriber);
  await subscriber.subscribeAsync('sightline/interop/#', { qos: 1 });
  const { stderr } = await execFileAsync('mosquitto_pub', [
    '-V',
    'mqttv311',
    '-h',
    '127.0.0.1',
    '-p',
    String(app.ports().mqtt),
    '-u',
    'svc',
    '-P',
    's3cret',
    '-t',
    'sightline/interop/b',
    '-m',
    'from mosquitto_pub',
    '-q',
    '1',
  ]);
  assert.equal(stderr, '');
  const message = await inbox.next();
  assert.equal(message.topic, 'sightline/interop/b');
  assert.equal(message.payload.toString(), 'from mosquitto_pub');
});

test('mosquitto_sub with a wrong password is refused', async (t) => {
  const app = await usersBroker(t);
  const result = await mosquitto(t, 'mosquitto_sub', [
    '-V',
    'mqttv311',
    '-h',
    '127.0.0.1',
    '-p',
    String(app.ports().mqtt),
    '-u',
    'svc',
    '-P',
    'wrong',
    '-t',
    'sightline/#',
    '-C',
    '1',
  ]).done;
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /bad user name or password|not authori[sz]ed/i);
});

test('MQTT over WebSocket works, to and from TCP clients', async (t) => {
  const app = await openBroker(t);
  const overWs = await connectClient(t, `ws://127.0.0.1:${app.ports().ws}`);
  const wsInbox = collect(overWs);
  assert.deepEqual(await subscribeGranted(overWs, ['sightline/ws/#']), [1]);
  const overTcp = await connectClient(t, mqttUrl(app));
  const tcpInbox = collect(overTcp);
  await overTcp.subscribeAsync('sightline/ws/from-ws', { qos: 1 });
  await overTcp.publishAsync('sightline/ws/from-tcp', 'tcp', { qos: 1 });
  assert.equal((await wsInbox.next()).payload.toString(), 'tcp');
  await overWs.publishAsync('sightline/ws/from-ws', Buffer.alloc(100 * 1024, 7), { qos: 1 });
  assert.equal((await tcpInbox.next()).payload.length, 100 * 1024);
  // A plain HTTP request to the WebSocket port gets 426, not a hang.
  const response = await fetch(`http://127.0.0.1:${app.ports().ws}/`);
  assert.equal(response.status, 426);
});

test("mosquitto_sub under another user's persistent client id is refused: identifier rejected", async (t) => {
  const dir = await tempDir(t);
  const usersFile = join(dir, 'users.json');
  const acl = [{ pattern: 'sightline/#', access: 'readwrite' as const }];
  await writeUsers(usersFile, { alert: { password: 'alert-pw', acl }, mallory: { password: 'mallory-pw', acl } });
  const app = await startBroker(t, { usersFile, anonymous: 'off' });
  const owner = await connectClient(t, mqttUrl(app), { username: 'alert', password: 'alert-pw', clientId: 'sightline-alert', clean: false });
  await owner.subscribeAsync('sightline/#', { qos: 1 });
  const port = String(app.ports().mqtt);
  const thief = await mosquitto(t, 'mosquitto_sub', [
    '-V',
    'mqttv311',
    '-h',
    '127.0.0.1',
    '-p',
    port,
    '-u',
    'mallory',
    '-P',
    'mallory-pw',
    '-i',
    'sightline-alert',
    '-c',
    '-q',
    '1',
    '-t',
    'sightline/#',
    '-C',
    '1',
  ]).done;
  assert.notEqual(thief.code, 0);
  assert.match(thief.stderr, /identifier rejected/i);
  assert.equal(owner.connected, true);
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { test } from 'node:test';
import { channels } from '@sightline/schemas';
import { createLogger, createRuntime } from '../src/index.ts';
import { startTestBroker, until } from './helpers.ts';

const silent = createLogger('test', 'silent');
const fixture = join(import.meta.dirname, 'fixtures', 'availability-service.ts');

test('readyz says why until the broker is reached and subscriptions are granted; availability is announced', async (t) => {
  const { url, retained } = await startTestBroker(t);
  const runtime = createRuntime({
    service: 'checkout',
    logger: silent,
    mqtt: { url, topicPrefix: 'sightline' },
    http: { host: '127.0.0.1', port: 0 },
  });
  t.after(() => runtime.stop());

  const before = await runtime.http.inject({ url: '/readyz' });
  assert.equal(before.statusCode, 503);
  assert.match(before.json<{ reason: string }>().reason, /not connected/);

  await runtime.start();
  await runtime.bus.subscribe(channels.availability, {}, () => {});
  const after = await runtime.http.inject({ url: '/readyz' });
  assert.equal(after.statusCode, 200, after.body);
  assert.equal((await runtime.http.inject({ url: '/healthz' })).statusCode, 200);
  await until(() => retained.get('sightline/services/checkout/availability') === 'online');

  const metrics = await runtime.http.inject({ url: '/metrics' });
  assert.match(metrics.body, /sightline_bus_messages_received_total\{channel="availability",service="checkout"\} [1-9]/);
  assert.match(metrics.body, /process_resident_memory_bytes/);

  const res = await fetch(`http://127.0.0.1:${runtime.httpPort()}/healthz`);
  assert.equal(res.status, 200);
});

test('a service that vanishes is marked offline by its last will; a stopped one says offline itself', async (t) => {
  const { url, retained } = await startTestBroker(t);
  const vanishing = createRuntime({ service: 'checkout', logger: silent, mqtt: { url, topicPrefix: 'sightline' }, http: { host: '127.0.0.1', port: 0 } });
  await vanishing.start();
  await until(() => retained.get('sightline/services/checkout/availability') === 'online');
  vanishing.client.options.reconnectPeriod = 0;
  vanishing.client.stream.destroy();
  await until(() => retained.get('sightline/services/checkout/availability') === 'offline', 5000, 'last will');
  await vanishing.stop();

  const polite = createRuntime({ service: 'checkout', logger: silent, mqtt: { url, topicPrefix: 'sightline' }, http: { host: '127.0.0.1', port: 0 } });
  await polite.start();
  await until(() => retained.get('sightline/services/checkout/availability') === 'online');
  await polite.stop();
  assert.equal(retained.get('sightline/services/checkout/availability'), 'offline');
});

function runFixture(env: Record<string, string>, ipc = false) {
  const child = spawn(process.execPath, [fixture], {
    env: { PATH: process.env.PATH ?? '', SIGHTLINE_LOG_LEVEL: 'warn', ...env },
    stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout! });
  // The line the fixture prints once up (log lines may come before it).
  const firstLine = new Promise<string>((resolve) => lines.on('line', (line) => line.startsWith('{"httpPort"') && resolve(line)));
  return { child, firstLine, stderr: () => stderr };
}

test('main: a bad config prints every problem and exits 1', async () => {
  const { child, stderr } = runFixture({ SIGHTLINE_CHECKOUT_HTTP_PORT: 'x', SIGHTLINE_CHECKOUT_NOPE: '1' });
  const [code] = (await once(child, 'exit')) as [number];
  assert.equal(code, 1);
  assert.match(stderr(), /checkout: invalid configuration/);
  assert.match(stderr(), /SIGHTLINE_CHECKOUT_HTTP_PORT: must be a port number/);
  assert.match(stderr(), /SIGHTLINE_CHECKOUT_NOPE: unknown setting/);
});

test('main: SIGTERM stops the service gracefully (exit 0, offline published)', async (t) => {
  const { url, retained } = await startTestBroker(t);
  const { child, firstLine } = runFixture({ SIGHTLINE_MQTT_URL: url });
  const { httpPort } = JSON.parse(await firstLine) as { httpPort: number };
  await until(async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status === 200);
  assert.equal(retained.get('sightline/services/checkout/availability'), 'online');
  const started = Date.now();
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number];
  assert.equal(code, 0);
  assert.ok(Date.now() - started < 5000);
  assert.equal(retained.get('sightline/services/checkout/availability'), 'offline');
});

test('main: a stop that hangs is cut off after 5 s with exit 1', async (t) => {
  const { url } = await startTestBroker(t);
  const { child, firstLine } = runFixture({ SIGHTLINE_MQTT_URL: url, SIGHTLINE_CHECKOUT_STOP_DELAY_MS: '60000' });
  await firstLine;
  const started = Date.now();
  child.kill('SIGINT');
  const [code] = (await once(child, 'exit')) as [number];
  const took = Date.now() - started;
  assert.equal(code, 1);
  assert.ok(took >= 4900 && took < 7000, `stopped after ${took} ms`);
});

test('main: a service started by a supervisor stops gracefully when the supervisor goes away', async (t) => {
  const { url, retained } = await startTestBroker(t);
  const { child, firstLine } = runFixture({ SIGHTLINE_MQTT_URL: url }, true);
  await firstLine;
  await until(() => retained.get('sightline/services/checkout/availability') === 'online');
  child.disconnect();
  const [code] = (await once(child, 'exit')) as [number];
  assert.equal(code, 0);
  assert.equal(retained.get('sightline/services/checkout/availability'), 'offline');
});

test('main: a log reader that stops reading blocks neither the service nor its stop; the lines it did not take are dropped and counted', async (t) => {
  const { url } = await startTestBroker(t);
  const { child, firstLine } = runFixture({ SIGHTLINE_MQTT_URL: url, SIGHTLINE_LOG_LEVEL: 'info', SIGHTLINE_CHECKOUT_LOG_LINES: '5000' });
  t.after(() => child.kill('SIGKILL'));
  const { httpPort } = JSON.parse(await firstLine) as { httpPort: number };
  // From here on nothing reads the service's output: 5 MB of lines meet a full socket.
  child.stdout!.pause();
  await until(async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status === 200);
  const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const dropped = Number(/^sightline_log_lines_dropped_total\{[^}]*\} (\d+)/m.exec(metrics)?.[1]);
  assert.ok(dropped > 3000, `dropped ${dropped} of 5000 lines`);
  const started = Date.now();
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number];
  assert.equal(code, 0, 'a graceful stop');
  assert.ok(Date.now() - started < 5000, `stopped in ${Date.now() - started} ms`);
});

test('main: killed outright, a supervisor leaves no orphan, even with the log socket it left open and full', async (t) => {
  const { url, retained } = await startTestBroker(t);
  const supervisor = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'supervisor.ts')], {
    env: { PATH: process.env.PATH ?? '', SIGHTLINE_MQTT_URL: url, SIGHTLINE_LOG_LEVEL: 'info', SIGHTLINE_CHECKOUT_LOG_LINES: '5000' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const pids = JSON.parse(await new Promise<string>((resolve) => createInterface({ input: supervisor.stdout! }).once('line', resolve))) as {
    service: number;
    holder: number;
  };
  t.after(() => {
    for (const pid of [pids.service, pids.holder, supervisor.pid!]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  });
  await until(() => retained.get('sightline/services/checkout/availability') === 'online', 10_000);
  const started = Date.now();
  supervisor.kill('SIGKILL');
  await until(() => !alive(pids.service), 8000, 'the service outlived its supervisor');
  assert.ok(Date.now() - started < 7000, `gone ${Date.now() - started} ms after its supervisor`);
  assert.equal(retained.get('sightline/services/checkout/availability'), 'offline', 'and it said so: a graceful stop');
});

test('main: Ctrl-C delivered twice at once (the terminal and the package manager) is one graceful stop, exit 0', async (t) => {
  const { url } = await startTestBroker(t);
  const { child, firstLine } = runFixture({ SIGHTLINE_MQTT_URL: url, SIGHTLINE_CHECKOUT_STOP_DELAY_MS: '500' });
  await firstLine;
  child.kill('SIGINT');
  child.kill('SIGINT');
  const [code] = (await once(child, 'exit')) as [number];
  assert.equal(code, 0);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('a persistent session gets what was published while the service was down; a runtime never started stops cleanly', async (t) => {
  const { url } = await startTestBroker(t);
  const options = {
    service: 'alert',
    logger: silent,
    mqtt: { url, topicPrefix: 'sightline' },
    http: { host: '127.0.0.1', port: 0 },
    mqttSession: { clientId: 'sightline-alert-test' },
  };
  const received: string[] = [];
  const first = createRuntime(options);
  // Subscribed before connecting (granted on connect), as a service does.
  const granted = first.bus.subscribe(channels.availability, { service: 'inference' }, (state) => void received.push(`first ${state}`));
  await first.start();
  await granted;
  await first.stop();

  const publisher = createRuntime({ ...options, service: 'inference', mqttSession: undefined });
  await publisher.start();
  await until(() => publisher.client.connected);
  await publisher.bus.publish(channels.availability, { service: 'inference' }, 'offline', { retain: false });
  await publisher.stop();

  const second = createRuntime(options);
  const granted2 = second.bus.subscribe(channels.availability, { service: 'inference' }, (state) => void received.push(`second ${state}`));
  await second.start();
  t.after(() => second.stop());
  await granted2;
  // Queued by the broker for the session while nobody was connected, then delivered.
  await until(() => received.includes('second offline'));

  await createRuntime(options).stop();
});

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { connect, type MqttClient } from 'mqtt';
import { createLogger, SERVICES, type Logger } from '@sightline/kit';
import { waitUntil } from '@sightline/kit/testing';
import { createBus, createTopics, type Bus } from '@sightline/schemas';
import { createConsoleApp, loadConsoleConfig, setAccount, type ConsoleApp } from '../src/index.ts';

export function testLogger(): Logger {
  return createLogger('console', process.env['TEST_LOG_LEVEL'] ?? 'silent');
}

export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'sightline-console-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const OPERATOR = { username: 'olga', password: 'operator password 1' };
export const VIEWER = { username: 'victor', password: 'viewer password 12' };

export interface StartedConsole {
  app: ConsoleApp;
  dir: string;
  usersFile: string;
}

/** The console on a test broker, with one operator and one viewer account; `env` on top. */
export async function startConsole(t: TestContext, brokerUrl: string, env: Record<string, string> = {}): Promise<StartedConsole> {
  const dir = tempDir(t);
  const usersFile = join(dir, 'users.json');
  await setAccount(usersFile, OPERATOR.username, OPERATOR.password, 'operator');
  await setAccount(usersFile, VIEWER.username, VIEWER.password, 'viewer');
  const config = loadConsoleConfig({
    SIGHTLINE_MQTT_URL: brokerUrl,
    SIGHTLINE_DATA_DIR: dir,
    SIGHTLINE_CONSOLE_HTTP_PORT: '0',
    SIGHTLINE_CONSOLE_USERS_FILE: usersFile,
    // Nothing answers here: the services are down.
    SIGHTLINE_CONSOLE_SERVICES: 'checkout=http://127.0.0.1:9,alert=http://127.0.0.1:9,inference=http://127.0.0.1:9',
    ...env,
  });
  const app = createConsoleApp(config, testLogger());
  await app.start();
  t.after(() => app.stop());
  return { app, dir, usersFile };
}

/** Logs in with inject: the cookie header to send and the CSRF token. */
export async function login(app: ConsoleApp, who: { username: string; password: string }): Promise<{ cookie: string; csrf: string }> {
  const res = await app.runtime.http.inject({ method: 'POST', url: '/api/login', payload: who });
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  const cookie = String(res.headers['set-cookie']).split(';')[0]!;
  return { cookie, csrf: res.json().csrf };
}

/** A plain client on the test broker publishing what the services would. */
export async function busClient(t: TestContext, url: string): Promise<{ client: MqttClient; bus: Bus }> {
  const client = connect(url, { clientId: `tester-${Math.random().toString(16).slice(2, 8)}`, reconnectPeriod: 100 });
  t.after(() => client.endAsync(true));
  const bus = createBus({ client, topics: createTopics('sightline'), logger: testLogger() });
  await waitUntil('the test client is connected', () => client.connected);
  return { client, bus };
}

const ROOT = join(import.meta.dirname, '..', '..', '..');

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A real service (checkout, alert, inference), run as the stack runs it (its own process, from the
 * kit's list of services): the console may not import another service, even in a test, and what
 * it must get right is exactly what those services answer. Resolves with its URL once it is ready.
 */
export async function runService(
  t: TestContext,
  name: 'checkout' | 'alert' | 'inference',
  env: Record<string, string>,
  readyTimeoutMs = 15_000,
): Promise<string> {
  const port = await freePort();
  const entry = SERVICES.find((s) => s.name === name)!.entry;
  const child = spawn(process.execPath, [join(ROOT, entry)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH ?? '', SIGHTLINE_LOG_LEVEL: 'warn', [`SIGHTLINE_${name.toUpperCase()}_HTTP_PORT`]: String(port), ...env },
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(
    `${name} answers /readyz`,
    async () => {
      if (child.exitCode !== null) throw new Error(`${name} exited ${child.exitCode}: ${stderr}`);
      return fetch(`${url}/readyz`).then(
        (res) => res.ok,
        () => false,
      );
    },
    readyTimeoutMs,
  );
  return url;
}

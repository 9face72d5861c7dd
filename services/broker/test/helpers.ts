import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { createLogger, type Logger } from '@sightline/kit';
import { createBrokerApp, type BrokerApp } from '../src/app.ts';
import { brokerConfig, type BrokerConfig } from '../src/config.ts';
import { hashPassword, type ScryptParams } from '@sightline/kit';
import type { UsersFile } from '../src/users-file.ts';

export const execFileAsync = promisify(execFile);

/** Cheap scrypt cost for test fixtures; the broker verifies whatever cost a hash names. */
export const FAST_SCRYPT: ScryptParams = { N: 1024, r: 8, p: 1 };

export function quietLogger(): Logger {
  return createLogger('broker', process.env.TEST_LOG_LEVEL ?? 'silent');
}

export async function tempDir(t: TestContext, name = 'broker-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), name));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export async function startBroker(t: TestContext, overrides: Partial<BrokerConfig> = {}): Promise<BrokerApp> {
  const app = createBrokerApp(brokerConfig(overrides), quietLogger());
  await app.start();
  t.after(() => app.stop());
  return app;
}

/**
 * A users file whose `anonymous` section lets anonymous (loopback) clients read and write the
 * prefix: for tests of MQTT behaviour rather than of rights (by default anonymous clients only read).
 */
export async function anonymousWritesFile(t: TestContext, prefix = 'sightline'): Promise<string> {
  const dir = await tempDir(t);
  const usersFile = join(dir, 'users.json');
  await writeUsers(usersFile, {}, { acl: [{ pattern: `${prefix}/#`, access: 'readwrite' }] });
  return usersFile;
}

/** A broker on which anonymous loopback clients may read and write the prefix. */
export async function openBroker(t: TestContext, overrides: Partial<BrokerConfig> = {}): Promise<BrokerApp> {
  return startBroker(t, { usersFile: await anonymousWritesFile(t), anonymous: 'loopback', ...overrides });
}

export function mqttUrl(app: BrokerApp): string {
  return `mqtt://127.0.0.1:${app.ports().mqtt}`;
}

export type ConnectOutcome = { client: MqttClient } | { refused: number } | { closed: true };

/** Connects once (no retries) and reports the CONNACK code or a close without CONNACK. */
export function tryConnect(t: TestContext, url: string, options: IClientOptions = {}): Promise<ConnectOutcome> {
  return new Promise((resolve) => {
    const client = connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 4000, ...options });
    t.after(() => client.endAsync(true));
    client.once('connect', () => resolve({ client }));
    client.once('error', (err) => {
      const code = (err as { code?: unknown }).code;
      resolve(typeof code === 'number' ? { refused: code } : { closed: true });
      client.end(true);
    });
    client.once('close', () => resolve({ closed: true }));
  });
}

export async function connectClient(t: TestContext, url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const outcome = await tryConnect(t, url, options);
  if (!('client' in outcome)) throw new Error(`connect to ${url} failed: ${JSON.stringify(outcome)}`);
  return outcome.client;
}

export interface Received {
  topic: string;
  payload: Buffer;
  retain: boolean;
  qos: number;
}

/** Collects every message a client receives. */
export function collect(client: MqttClient): Received[] & { next(predicate?: (m: Received) => boolean, timeoutMs?: number): Promise<Received> } {
  const messages: Received[] = [];
  const waiters: { predicate: (m: Received) => boolean; resolve: (m: Received) => void }[] = [];
  client.on('message', (topic, payload, packet) => {
    const message = { topic, payload, retain: packet.retain, qos: packet.qos };
    messages.push(message);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(message)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    }
  });
  return Object.assign(messages, {
    next(predicate: (m: Received) => boolean = () => true, timeoutMs = 5000): Promise<Received> {
      const seen = messages.find(predicate);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<Received>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching message within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          predicate,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        });
      });
    },
  });
}

export async function writeUsers(
  path: string,
  users: Record<string, { password: string; acl: UsersFile['users'][string]['acl'] }>,
  anonymous?: UsersFile['anonymous'],
): Promise<void> {
  const file: UsersFile = { version: 1, users: {} };
  for (const [name, { password, acl }] of Object.entries(users)) file.users[name] = { hash: await hashPassword(password, FAST_SCRYPT), acl };
  if (anonymous !== undefined) file.anonymous = anonymous;
  await writeFile(path, JSON.stringify(file));
}

export { connectPacket, remainingLength } from '../src/raw-mqtt.ts';

/** Resolves true when the peer closes the socket within `ms`, false otherwise. */
export function closedWithin(socket: { once(event: 'close', listener: () => void): unknown; destroyed?: boolean }, ms: number): Promise<boolean> {
  if (socket.destroyed === true) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** The value of one metric sample (labels in the order prom-client prints them), or 0 when absent. */
export async function metric(app: BrokerApp, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${app.ports().http}/metrics`)).text();
  const prefix = labels === '' ? `${name}{service="broker"} ` : `${name}{${labels},service="broker"} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? 0 : Number(line.slice(prefix.length));
}

/** Sends a raw CONNECT and resolves with the CONNACK return code (or null when closed first), keeping the socket open. */
export function rawConnect(t: TestContext, port: number, packet: Buffer): Promise<{ socket: Socket; returnCode: number | null }> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    t.after(() => socket.destroy());
    let buffer = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('connect', () => socket.write(packet));
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length >= 4 && buffer[0] === 0x20) resolve({ socket, returnCode: buffer[3]! });
    });
    socket.on('close', () => resolve({ socket, returnCode: null }));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Subscribes and returns the granted QoS per filter (128 = refused); mqtt.js rejects on any 128. */
export async function subscribeGranted(client: MqttClient, filters: string[], qos: 0 | 1 | 2 = 1): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters, { qos })).map((g) => g.qos);
  } catch (err) {
    const granted = (err as { packet?: { granted?: number[] } }).packet?.granted;
    if (granted === undefined) throw err;
    return granted;
  }
}

/** A plain TCP (or, with `tls`, TLS) connection to the broker, once connected; errors (a reset) only close it. */
export async function rawSocket(t: TestContext, port: number, tls?: { ca: Buffer }): Promise<Socket> {
  const { connect: tlsConnect } = await import('node:tls');
  return new Promise((resolve, reject) => {
    const socket: Socket =
      tls === undefined
        ? netConnect({ host: '127.0.0.1', port }, () => resolve(socket))
        : tlsConnect({ host: '127.0.0.1', port, ca: tls.ca }, () => resolve(socket));
    t.after(() => socket.destroy());
    socket.once('error', reject);
    socket.on('error', () => socket.destroy());
  });
}

/** Writes `chunk` every `everyMs` until the socket closes (a slow client keeping a packet open). */
export function trickle(
  socket: { write(chunk: Buffer): unknown; destroyed?: boolean; once(event: 'close', listener: () => void): unknown },
  chunk: Buffer,
  everyMs = 20,
): void {
  const timer = setInterval(() => {
    if (socket.destroyed === true) clearInterval(timer);
    else socket.write(chunk);
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
}

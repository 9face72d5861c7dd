import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { connectAsync, type MqttClient } from 'mqtt';
import { createLogger, type Logger } from '@sightline/kit';
import { waitUntil } from '@sightline/kit/testing';
import { createUplinkApp, type UplinkApp } from '../src/app.ts';
import { loadUplinkConfig } from '../src/config.ts';

export { sleep, startTestBroker, waitUntil } from '@sightline/kit/testing';

const run = promisify(execFile);

export const PREFIX = 'sites/store-7';
export const SITE_USER = 'store-7';
export const SITE_PASSWORD = 'uplink-test-password-5f1c9a';
export const READER = 'cloud-reader';
export const READER_PASSWORD = 'reader-test-password-77aa';

const cleanups = new WeakMap<TestContext, Array<() => unknown>>();

/**
 * Runs `cleanup` when the test ends, after everything deferred later: an uplink stops before its
 * folder goes (node:test runs `t.after` hooks in the order they were added, and a stopping queue
 * writes its head).
 */
export function defer(t: TestContext, cleanup: () => unknown): void {
  let list = cleanups.get(t);
  if (list === undefined) {
    const created: Array<() => unknown> = [];
    list = created;
    cleanups.set(t, created);
    t.after(async () => {
      for (const fn of created.reverse()) await fn();
    });
  }
  list.push(cleanup);
}

export function tempDir(t: TestContext, name = 'uplink'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `sightline-${name}-`));
  defer(t, () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface Certs {
  ca: string;
  /** A CA that did not sign the server's certificate. */
  otherCa: string;
  serverCert: string;
  serverKey: string;
}

/** A test CA, a server certificate it signed for 127.0.0.1 and localhost, and an unrelated CA, made with openssl. */
export async function makeCerts(dir: string): Promise<Certs> {
  const file = (name: string) => path.join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '2', '-subj', '/CN=uplink-test-ca']);
  await run('openssl', ['req', '-x509', ...ec, '-keyout', file('other-ca.key'), '-out', file('other-ca.crt'), '-days', '2', '-subj', '/CN=someone-else']);
  await run('openssl', ['req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost']);
  writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.crt'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-out',
    file('server.crt'),
    '-days',
    '2',
    '-extfile',
    file('server.ext'),
  ]);
  return { ca: file('ca.crt'), otherCa: file('other-ca.crt'), serverCert: file('server.crt'), serverKey: file('server.key') };
}

export interface Upstream {
  port: number;
  url: string;
  certs: Certs;
  running(): boolean;
  /** Starts Mosquitto (again) on the same port, with the sessions and retained messages it saved. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Debian's Mosquitto as the upstream: TLS only, passwords (mosquitto_passwd), an ACL that lets the
 * site write only under its prefix and the reader read everything, and persistence, so a
 * subscriber's session and what it missed outlive a restart.
 */
export async function startUpstream(t: TestContext): Promise<Upstream> {
  const dir = tempDir(t, 'upstream');
  const certs = await makeCerts(dir);
  const port = await freePort();
  const passwords = path.join(dir, 'passwd');
  await run('mosquitto_passwd', ['-b', '-c', passwords, SITE_USER, SITE_PASSWORD]);
  await run('mosquitto_passwd', ['-b', passwords, READER, READER_PASSWORD]);
  writeFileSync(path.join(dir, 'acl'), `user ${SITE_USER}\ntopic write ${PREFIX}/#\n\nuser ${READER}\ntopic read sites/#\n`);
  const conf = path.join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      // Stay the user the tests run as, even as root (Mosquitto would switch to "mosquitto" and lose the files).
      `user ${os.userInfo().username}`,
      'per_listener_settings false',
      'persistence true',
      `persistence_location ${dir}/`,
      'autosave_interval 0',
      // The cloud reader's session may miss nothing while it reconnects (Mosquitto keeps 1000 by default).
      'max_queued_messages 0',
      `listener ${port} 127.0.0.1`,
      `cafile ${certs.ca}`,
      `certfile ${certs.serverCert}`,
      `keyfile ${certs.serverKey}`,
      'allow_anonymous false',
      `password_file ${passwords}`,
      `acl_file ${path.join(dir, 'acl')}`,
      'log_type error',
      'log_type warning',
      '',
    ].join('\n'),
  );
  let child: ChildProcess | null = null;
  const upstream: Upstream = {
    port,
    url: `mqtts://127.0.0.1:${port}`,
    certs,
    running: () => child !== null,
    async start() {
      if (child !== null) return;
      const started = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      child = started;
      started.once('exit', () => {
        if (child === started) child = null;
      });
      await waitUntil('Mosquitto listens', () => canConnect(port), 10_000);
    },
    async stop() {
      const running = child;
      if (running === null) return;
      const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      running.kill('SIGTERM');
      await exited;
      child = null;
    },
  };
  defer(t, () => upstream.stop());
  await upstream.start();
  return upstream;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface Received {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

/** The cloud side: a reader with a persistent session (QoS 1), so it misses nothing across an upstream restart. */
export async function cloudReader(t: TestContext, upstream: Upstream, filter = `${PREFIX}/#`): Promise<{ client: MqttClient; messages: Received[] }> {
  const client = await connectAsync(upstream.url, {
    protocolVersion: 4,
    clientId: `reader-${Math.random().toString(16).slice(2, 8)}`,
    clean: false,
    username: READER,
    password: READER_PASSWORD,
    ca: readFileSync(upstream.certs.ca),
    reconnectPeriod: 100,
  });
  defer(t, () => client.endAsync(true));
  const messages: Received[] = [];
  client.on('message', (topic, payload, packet) => messages.push({ topic, payload, retain: packet.retain }));
  await client.subscribeAsync(filter, { qos: 1 });
  return { client, messages };
}

/**
 * Debian's mosquitto_sub as an independent reader: `-F '%r %t %x'` prints the retain flag, the
 * topic and the payload in hex per line; it exits after `count` messages or `timeoutS`.
 */
export async function mosquittoSub(upstream: Upstream, filter: string, count: number, timeoutS = 10): Promise<Received[]> {
  const { stdout } = await run(
    'mosquitto_sub',
    [
      '-V',
      'mqttv311',
      '-h',
      '127.0.0.1',
      '-p',
      String(upstream.port),
      '--cafile',
      upstream.certs.ca,
      '-u',
      READER,
      '-P',
      READER_PASSWORD,
      '-t',
      filter,
      '-C',
      String(count),
      '-W',
      String(timeoutS),
      '-F',
      '%r %t %x',
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  ).catch((err: { stdout?: string; code?: number }) => {
    // -W ends it with code 27 when fewer than `count` came: return what did.
    if (err.code === 27 && typeof err.stdout === 'string') return { stdout: err.stdout };
    throw err;
  });
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [retain, topic, hex = ''] = line.split(' ');
      return { retain: retain === '1', topic: topic!, payload: Buffer.from(hex, 'hex') };
    });
}

export interface LogLines {
  logger: Logger;
  lines: string[];
  text(): string;
}

/** A logger whose JSON lines the test can read (and prints them with TEST_LOG_LEVEL). */
export function captureLogs(): LogLines {
  const lines: string[] = [];
  const logger = createLogger('uplink', 'debug', {
    write(line: string) {
      lines.push(line);
      if (process.env.TEST_LOG_LEVEL !== undefined) process.stderr.write(line);
    },
  });
  return { logger, lines, text: () => lines.join('') };
}

export interface UplinkEnv {
  [key: string]: string | undefined;
}

/** The uplink's settings for a test: the upstream's TLS URL, CA and the site login, fast retries, HTTP on a free port. */
export function uplinkEnv(upstream: Upstream, localUrl: string, dataDir: string, overrides: UplinkEnv = {}): UplinkEnv {
  return {
    SIGHTLINE_MQTT_URL: localUrl,
    SIGHTLINE_DATA_DIR: dataDir,
    SIGHTLINE_UPLINK_HTTP_PORT: '0',
    SIGHTLINE_UPLINK_MQTT_CLIENT_ID: `uplink-test-${path.basename(dataDir)}`,
    SIGHTLINE_UPLINK_URL: upstream.url,
    SIGHTLINE_UPLINK_CA_FILE: upstream.certs.ca,
    SIGHTLINE_UPLINK_USERNAME: SITE_USER,
    SIGHTLINE_UPLINK_PASSWORD: SITE_PASSWORD,
    SIGHTLINE_UPLINK_TOPIC_PREFIX: PREFIX,
    SIGHTLINE_UPLINK_RETRY_MIN_SECONDS: '0.05',
    SIGHTLINE_UPLINK_RETRY_MAX_SECONDS: '0.3',
    SIGHTLINE_UPLINK_STATUS_SECONDS: '0.2',
    ...overrides,
  };
}

/** Builds the uplink from environment settings, as main.ts does, starts it, and stops it when the test ends. */
export async function startUplink(t: TestContext, env: UplinkEnv, logs: LogLines = captureLogs()): Promise<UplinkApp & { logs: LogLines }> {
  const app = createUplinkApp(loadUplinkConfig(env as NodeJS.ProcessEnv, os.tmpdir()), logs.logger);
  let stopped = false;
  const stop = app.stop.bind(app);
  const handle = Object.assign(app, {
    logs,
    async stop() {
      if (stopped) return;
      stopped = true;
      await stop();
    },
  });
  defer(t, () => handle.stop());
  await app.start();
  await waitUntil('the uplink reads the local broker', () => app.runtime.bus.ready() && app.runtime.client.connected, 10_000);
  return handle;
}

/** A client of the local broker, publishing as the services would. */
export async function localClient(t: TestContext, url: string): Promise<MqttClient> {
  const client = await connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 });
  defer(t, () => client.endAsync(true));
  return client;
}

/** A Prometheus sample's value from the uplink's /metrics. */
export async function metric(app: UplinkApp, name: string, labels = ''): Promise<number> {
  const text = await app.runtime.registry.metrics();
  const line = text.split('\n').find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(labels));
  return line === undefined ? Number.NaN : Number(line.split(' ').at(-1));
}

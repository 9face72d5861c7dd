/**
 * Throughput and latency of the Sightline broker against Debian Mosquitto: one mqtt.js publisher,
 * one mqtt.js subscriber, 50 KB payloads, QoS 0 and QoS 1. Each broker runs in its own process.
 * The publisher keeps at most WINDOW messages in flight (sent, not yet received), so latency
 * measures the broker rather than an unbounded client-side queue. The brokers' CPU time per
 * message is reported too: on a shared machine it moves far less than throughput does.
 *
 *   node services/broker/bench/broker.bench.ts [count]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connectAsync, type MqttClient } from 'mqtt';

const COUNT = Number(process.argv[2] ?? 5000);
const PAYLOAD_BYTES = 50 * 1024;
const WINDOW = 64;
const RUN_LIMIT_MS = 30000;
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

const children = new Set<ChildProcess>();
let workDir: string | undefined;

async function cleanup(): Promise<void> {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all([...children].filter((child) => child.exitCode === null).map((child) => new Promise((resolve) => child.once('exit', resolve))));
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cleanup().then(
      () => process.exit(130),
      () => process.exit(130),
    );
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function waitForPort(port: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = netConnect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on ${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

async function anonymousWritesFile(dir: string): Promise<string> {
  const path = join(dir, 'users.json');
  await writeFile(path, JSON.stringify({ version: 1, users: {}, anonymous: { acl: [{ pattern: 'sightline/#', access: 'readwrite' }] } }));
  return path;
}

interface Running {
  port: number;
  pid: number;
}

/** CPU time (user + system) a process has used, in milliseconds. */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function startSightline(dir: string, persistence: 'level' | 'memory'): Promise<Running> {
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH,
      SIGHTLINE_LOG_LEVEL: 'info',
      SIGHTLINE_DATA_DIR: join(dir, persistence),
      SIGHTLINE_BROKER_ANONYMOUS: 'loopback',
      // Anonymous clients only read unless the users file says otherwise; Mosquitto runs with allow_anonymous.
      SIGHTLINE_BROKER_USERS_FILE: await anonymousWritesFile(dir),
      SIGHTLINE_BROKER_PERSISTENCE: persistence,
      SIGHTLINE_BROKER_MQTT_PORT: '0',
      SIGHTLINE_BROKER_WS_PORT: '0',
      SIGHTLINE_BROKER_HTTP_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error('sightline broker did not start within 10 s')), 10000);
    child.once('exit', (code) => reject(new Error(`sightline broker exited with ${code}`)));
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; ports?: { mqtt: number } };
        if (entry.msg === 'broker listening' && entry.ports !== undefined) {
          clearTimeout(timer);
          resolve({ port: entry.ports.mqtt, pid: child.pid! });
        }
      } catch {
        // not a log line
      }
    });
  });
}

async function startMosquitto(dir: string): Promise<Running> {
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_type error\n`);
  const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(child);
  child.once('error', (err) => console.error(`mosquitto: ${err.message}`));
  await waitForPort(port);
  return { port, pid: child.pid! };
}

interface Result {
  broker: string;
  qos: 0 | 1;
  delivered: number;
  seconds: number;
  rate: number;
  p50: number;
  p95: number;
  /** Broker CPU time per 1000 messages delivered: less sensitive than throughput to other load on the machine. */
  cpuPerThousand: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function run(broker: string, { port, pid }: Running, qos: 0 | 1): Promise<Result> {
  const url = `mqtt://127.0.0.1:${port}`;
  const options = { protocolVersion: 4 as const, reconnectPeriod: 0, clean: true };
  const subscriber: MqttClient = await connectAsync(url, { ...options, clientId: `bench-sub-${qos}` });
  const publisher: MqttClient = await connectAsync(url, { ...options, clientId: `bench-pub-${qos}` });
  const topic = `sightline/bench/${broker}/${qos}`;
  await subscriber.subscribeAsync(topic, { qos });

  const latencies: number[] = [];
  let sent = 0;
  let received = 0;
  const payload = Buffer.alloc(PAYLOAD_BYTES, 0x5a);
  const cpuBefore = await cpuMs(pid);
  const started = performance.now();
  const result = await new Promise<Result>((resolve) => {
    const finish = () => {
      clearTimeout(limit);
      const seconds = (performance.now() - started) / 1000;
      latencies.sort((a, b) => a - b);
      resolve({
        broker,
        qos,
        delivered: received,
        seconds,
        rate: received / seconds,
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        cpuPerThousand: 0,
      });
    };
    const limit = setTimeout(finish, RUN_LIMIT_MS);
    const pump = () => {
      while (sent < COUNT && sent - received < WINDOW) {
        const message = Buffer.from(payload);
        message.writeDoubleLE(performance.now(), 0);
        sent++;
        publisher.publish(topic, message, { qos });
      }
    };
    subscriber.on('message', (_topic, message) => {
      latencies.push(performance.now() - message.readDoubleLE(0));
      received++;
      if (received >= COUNT) finish();
      else pump();
    });
    pump();
  });
  result.cpuPerThousand = ((await cpuMs(pid)) - cpuBefore) / (result.delivered / 1000);
  await Promise.all([publisher.endAsync(true), subscriber.endAsync(true)]);
  return result;
}

function table(results: Result[]): string {
  const header = ['broker', 'QoS', 'delivered', 'seconds', 'msg/s', 'MB/s', 'p50 ms', 'p95 ms', 'CPU ms/1000 msg'];
  const rows = results.map((r) => [
    r.broker,
    String(r.qos),
    `${r.delivered}/${COUNT}`,
    r.seconds.toFixed(2),
    r.rate.toFixed(0),
    ((r.rate * PAYLOAD_BYTES) / 1e6).toFixed(1),
    r.p50.toFixed(2),
    r.p95.toFixed(2),
    r.cpuPerThousand.toFixed(0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

try {
  workDir = await mkdtemp(join(tmpdir(), 'broker-bench-'));
  // Sightline's default keeps sessions and retained messages on disk; Mosquitto's default
  // (persistence false) keeps them in memory: both Sightline settings are measured.
  const brokers = [
    { name: 'sightline (level)', running: await startSightline(workDir, 'level') },
    { name: 'sightline (memory)', running: await startSightline(workDir, 'memory') },
    { name: 'mosquitto', running: await startMosquitto(workDir) },
  ];
  const results: Result[] = [];
  for (const qos of [0, 1] as const) {
    for (const broker of brokers) results.push(await run(broker.name, broker.running, qos));
  }
  console.log(`\n${COUNT} messages of ${PAYLOAD_BYTES} bytes, window ${WINDOW}, one publisher and one subscriber (mqtt.js), loopback\n`);
  console.log(table(results));
  for (const qos of [0, 1] as const) {
    const theirs = results.find((r) => r.broker === 'mosquitto' && r.qos === qos)!;
    for (const ours of results.filter((r) => r.broker.startsWith('sightline') && r.qos === qos)) {
      console.log(
        `QoS ${qos}: ${ours.broker}/mosquitto throughput ratio ${(ours.rate / theirs.rate).toFixed(2)}, p50 latency ratio ${(ours.p50 / theirs.p50).toFixed(2)}, CPU per message ratio ${(ours.cpuPerThousand / theirs.cpuPerThousand).toFixed(2)}`,
      );
    }
  }
} finally {
  await cleanup();
}

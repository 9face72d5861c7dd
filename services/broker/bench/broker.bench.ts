/**
 * Throughput and latency of the Sightline broker against Debian Mosquitto: one mqtt.js publisher,
 * one mqtt.js subscriber, 50 KB payloads, QoS 0 and QoS 1. Each broker runs in its own process.
 * The publisher keeps at most WINDOW messages in flight (sent, not yet received), so latency
 * measures the broker rather than an unbounded client-side queue.
 *
 *   node services/broker/bench/broker.bench.ts [count]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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
  await Promise.all([...children].map((child) => (child.exitCode === null ? new Promise((resolve) => child.once('exit', resolve)) : undefined)));
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void cleanup().then(() => process.exit(130));
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

async function startSightline(dir: string, persistence: 'level' | 'memory'): Promise<number> {
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH,
      SIGHTLINE_LOG_LEVEL: 'info',
      SIGHTLINE_DATA_DIR: join(dir, persistence),
      SIGHTLINE_BROKER_ANONYMOUS: 'loopback',
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
          resolve(entry.ports.mqtt);
        }
      } catch {
        // not a log line
      }
    });
  });
}

async function startMosquitto(dir: string): Promise<number> {
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_type error\n`);
  const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(child);
  child.once('error', (err) => console.error(`mosquitto: ${err.message}`));
  await waitForPort(port);
  return port;
}

interface Result {
  broker: string;
  qos: 0 | 1;
  delivered: number;
  seconds: number;
  rate: number;
  p50: number;
  p95: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function run(broker: string, port: number, qos: 0 | 1): Promise<Result> {
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
  const started = performance.now();
  const result = await new Promise<Result>((resolve) => {
    const finish = () => {
      clearTimeout(limit);
      const seconds = (performance.now() - started) / 1000;
      latencies.sort((a, b) => a - b);
      resolve({ broker, qos, delivered: received, seconds, rate: received / seconds, p50: percentile(latencies, 50), p95: percentile(latencies, 95) });
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
  await Promise.all([publisher.endAsync(true), subscriber.endAsync(true)]);
  return result;
}

function table(results: Result[]): string {
  const header = ['broker', 'QoS', 'delivered', 'seconds', 'msg/s', 'MB/s', 'p50 ms', 'p95 ms'];
  const rows = results.map((r) => [
    r.broker,
    String(r.qos),
    `${r.delivered}/${COUNT}`,
    r.seconds.toFixed(2),
    r.rate.toFixed(0),
    ((r.rate * PAYLOAD_BYTES) / 1e6).toFixed(1),
    r.p50.toFixed(2),
    r.p95.toFixed(2),
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
    { name: 'sightline (level)', port: await startSightline(workDir, 'level') },
    { name: 'sightline (memory)', port: await startSightline(workDir, 'memory') },
    { name: 'mosquitto', port: await startMosquitto(workDir) },
  ];
  const results: Result[] = [];
  for (const qos of [0, 1] as const) {
    for (const broker of brokers) results.push(await run(broker.name, broker.port, qos));
  }
  console.log(`\n${COUNT} messages of ${PAYLOAD_BYTES} bytes, window ${WINDOW}, one publisher and one subscriber (mqtt.js), loopback\n`);
  console.log(table(results));
  for (const qos of [0, 1] as const) {
    const theirs = results.find((r) => r.broker === 'mosquitto' && r.qos === qos)!;
    for (const ours of results.filter((r) => r.broker.startsWith('sightline') && r.qos === qos)) {
      console.log(`QoS ${qos}: ${ours.broker}/mosquitto throughput ratio ${(ours.rate / theirs.rate).toFixed(2)}, p50 latency ratio ${(ours.p50 / theirs.p50).toFixed(2)}`);
    }
  }
} finally {
  await cleanup();
}

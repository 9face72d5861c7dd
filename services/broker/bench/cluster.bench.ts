/**
 * Throughput of the broker cluster (Redis persistence, messages passed through Redis pub/sub)
 * against a single broker, in one run: one mqtt.js publisher and one subscriber, 50 KB payloads,
 * QoS 0 and QoS 1, at most WINDOW messages in flight.
 *
 *   - level / memory: one broker with its own persistence (the baseline);
 *   - redis, 1 broker: publisher and subscriber on the same broker of the cluster;
 *   - redis, 2 brokers: publisher on A, subscriber on B.
 *
 * Every broker and the redis-server run in their own processes; CPU time is summed over the brokers
 * and Redis.
 *
 *   node services/broker/bench/cluster.bench.ts [count]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connectAsync, type MqttClient } from 'mqtt';
import { startRedisServer, type RedisServer } from '../test/redis-server.ts';

const COUNT = Number(process.argv[2] ?? 3000);
const PAYLOAD_BYTES = 50 * 1024;
const WINDOW = 64;
const RUN_LIMIT_MS = 30000;
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

const children = new Set<ChildProcess>();
let redis: RedisServer | undefined;
let workDir: string | undefined;

async function cleanup(): Promise<void> {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all([...children].filter((child) => child.exitCode === null).map((child) => new Promise((resolve) => child.once('exit', resolve))));
  await redis?.stop();
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

interface Running {
  port: number;
  pid: number;
}

/** CPU time (user + system) a process has used, in milliseconds (fields 14 and 15 of /proc/<pid>/stat, 100 ticks a second). */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function startBroker(dir: string, name: string, env: Record<string, string>): Promise<Running> {
  const usersFile = join(dir, 'users.json');
  await writeFile(usersFile, JSON.stringify({ version: 1, users: {}, anonymous: { acl: [{ pattern: 'sightline/#', access: 'readwrite' }] } }));
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH,
      SIGHTLINE_LOG_LEVEL: 'info',
      SIGHTLINE_DATA_DIR: join(dir, name),
      SIGHTLINE_BROKER_ANONYMOUS: 'loopback',
      SIGHTLINE_BROKER_USERS_FILE: usersFile,
      SIGHTLINE_BROKER_MQTT_PORT: '0',
      SIGHTLINE_BROKER_WS_PORT: '0',
      SIGHTLINE_BROKER_HTTP_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 10 s`)), 10000);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
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

interface Setup {
  name: string;
  publishTo: Running;
  subscribeTo: Running;
  /** Processes whose CPU time is counted. */
  pids: number[];
}

interface Result {
  setup: string;
  qos: 0 | 1;
  delivered: number;
  seconds: number;
  rate: number;
  p50: number;
  p95: number;
  cpuPerThousand: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function run(setup: Setup, qos: 0 | 1): Promise<Result> {
  const options = { protocolVersion: 4 as const, reconnectPeriod: 0, clean: true };
  const subscriber: MqttClient = await connectAsync(`mqtt://127.0.0.1:${setup.subscribeTo.port}`, { ...options, clientId: `bench-sub-${qos}` });
  const publisher: MqttClient = await connectAsync(`mqtt://127.0.0.1:${setup.publishTo.port}`, { ...options, clientId: `bench-pub-${qos}` });
  const topic = `sightline/bench/${setup.name.replace(/[^a-z0-9]+/g, '-')}/${qos}`;
  await subscriber.subscribeAsync(topic, { qos });
  const latencies: number[] = [];
  let sent = 0;
  let received = 0;
  const payload = Buffer.alloc(PAYLOAD_BYTES, 0x5a);
  const cpuBefore = (await Promise.all(setup.pids.map(cpuMs))).reduce((a, b) => a + b, 0);
  const started = performance.now();
  const result = await new Promise<Result>((resolve) => {
    const finish = () => {
      clearTimeout(limit);
      const seconds = (performance.now() - started) / 1000;
      latencies.sort((a, b) => a - b);
      resolve({
        setup: setup.name,
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
  const cpuAfter = (await Promise.all(setup.pids.map(cpuMs))).reduce((a, b) => a + b, 0);
  result.cpuPerThousand = (cpuAfter - cpuBefore) / (result.delivered / 1000);
  await Promise.all([publisher.endAsync(true), subscriber.endAsync(true)]);
  return result;
}

function table(results: Result[]): string {
  const header = ['setup', 'QoS', 'delivered', 'seconds', 'msg/s', 'MB/s', 'p50 ms', 'p95 ms', 'CPU ms/1000 msg'];
  const rows = results.map((r) => [
    r.setup,
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
  workDir = await mkdtemp(join(tmpdir(), 'broker-cluster-bench-'));
  redis = await startRedisServer();
  const level = await startBroker(workDir, 'level', { SIGHTLINE_BROKER_PERSISTENCE: 'level' });
  const memory = await startBroker(workDir, 'memory', { SIGHTLINE_BROKER_PERSISTENCE: 'memory' });
  const a = await startBroker(workDir, 'redis-a', { SIGHTLINE_BROKER_REDIS_URL: redis.url() });
  const b = await startBroker(workDir, 'redis-b', { SIGHTLINE_BROKER_REDIS_URL: redis.url() });
  const setups: Setup[] = [
    { name: 'level, 1 broker', publishTo: level, subscribeTo: level, pids: [level.pid] },
    { name: 'memory, 1 broker', publishTo: memory, subscribeTo: memory, pids: [memory.pid] },
    { name: 'redis, 1 broker', publishTo: a, subscribeTo: a, pids: [a.pid, b.pid, redis.pid] },
    { name: 'redis, 2 brokers (A to B)', publishTo: a, subscribeTo: b, pids: [a.pid, b.pid, redis.pid] },
  ];
  const results: Result[] = [];
  for (const qos of [0, 1] as const) for (const setup of setups) results.push(await run(setup, qos));
  console.log(
    `\n${COUNT} messages of ${PAYLOAD_BYTES} bytes, window ${WINDOW}, one publisher and one subscriber (mqtt.js), loopback; CPU of every broker process plus redis-server\n`,
  );
  console.log(table(results));
  for (const qos of [0, 1] as const) {
    const rate = (name: string) => results.find((r) => r.setup.startsWith(name) && r.qos === qos)!.rate;
    console.log(
      `QoS ${qos}: redis 1 broker / level ${(rate('redis, 1') / rate('level')).toFixed(2)}, redis 2 brokers / level ${(rate('redis, 2') / rate('level')).toFixed(2)}, redis 2 brokers / redis 1 broker ${(rate('redis, 2') / rate('redis, 1')).toFixed(2)}, memory / level ${(rate('memory') / rate('level')).toFixed(2)}`,
    );
  }
} finally {
  await cleanup();
}

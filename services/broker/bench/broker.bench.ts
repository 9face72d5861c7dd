/**
 * The Sightline broker against Debian Mosquitto, both run as in production and measured in the
 * same run, phase by phase, one broker after the other (the order alternates between runs so a
 * change in the machine's load does not always favour the same one):
 *
 * - `qos0`, `qos1`: throughput of 50 KB frames from one mqtt.js publisher (the capture user) to
 *   one subscriber (the inference user), at most WINDOW messages in flight, for `--seconds`
 *   after a warm-up second. `qos1` uses a clean session; `qos1-session` the same with the
 *   subscriber's persistent session (every message queued for it in the session store).
 * - `load`: the shop at its realistic load: 8 cameras at 5 fps of 50 KB frames (the capture
 *   user, one connection per camera) and their detections (~1 KB, the inference user), read by
 *   an inference-like subscriber (every frame), an alert-like one (detections, persistent
 *   session), a console-like one (`sightline/#`, integrator rights) and a sync-like one (frames
 *   and detections). Reports the hop latency (publish to receipt) of every delivery.
 *
 * Sightline runs its real `main.ts` with its defaults: users with scrypt passwords and the ACLs
 * derived from the channel definitions, anonymous off, sessions and retained messages on disk
 * (LevelDB). Mosquitto gets the same users (password_file) and the same rules (acl_file),
 * anonymous off, `persistence true` (its store is in memory and written at shutdown and every
 * `autosave_interval`, so a QoS 1 message costs it no disk write), `max_queued_messages 1000`,
 * the same largest packet as Sightline and, like Sightline, Nagle's algorithm off
 * (`set_tcp_nodelay true`). Each broker's CPU time per 1000 messages delivered is
 * reported too: it moves far less than throughput when other work shares the machine.
 *
 *   node services/broker/bench/broker.bench.ts [--seconds 10] [--runs 5] [--phases qos0,qos1,qos1-session,load] [--profile dir]
 *
 * `--profile dir` runs Sightline's broker under `node --cpu-prof` and leaves its profile in dir.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { hashPassword } from '@sightline/kit';
import { integratorAccessRules, serviceAccessRules, type AccessRule } from '@sightline/schemas';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    runs: { type: 'string', default: '5' },
    phases: { type: 'string', default: 'qos0,qos1,qos1-session,load' },
    profile: { type: 'string' },
  },
});
const SECONDS = Number(args.seconds);
const RUNS = Number(args.runs);
const PHASES = args.phases.split(',') as Phase[];
const PROFILE_DIR = args.profile === undefined ? null : resolve(args.profile);
const WARMUP_MS = 1000;
const FRAME_BYTES = 50 * 1024;
const DETECTIONS_BYTES = 1024;
const WINDOW = 64;
const CAMERAS = 8;
const FPS = 5;
/** Sightline's default largest payload (SIGHTLINE_BROKER_MAX_PAYLOAD_BYTES) and its room for the topic and packet id. */
const MAX_PACKET_BYTES = 4 * 1024 * 1024 + 65539 + 5;
const PREFIX = 'sightline';
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

type Phase = 'qos0' | 'qos1' | 'qos1-session' | 'load';
const KNOWN_PHASES: readonly Phase[] = ['qos0', 'qos1', 'qos1-session', 'load'];
for (const phase of PHASES) if (!KNOWN_PHASES.includes(phase)) throw new Error(`unknown phase ${phase} (${KNOWN_PHASES.join(', ')})`);
if (!(SECONDS > 0) || !(RUNS >= 1)) throw new Error('--seconds and --runs must be positive');

const children = new Set<ChildProcess>();
let workDir: string | undefined;

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function cleanup(): Promise<void> {
  await Promise.all([...children].map(stopChild));
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
}
process.once('uncaughtException', (err) => {
  console.error(err);
  cleanup().then(
    () => process.exit(1),
    () => process.exit(1),
  );
});
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

/** The bench's users: the bus services it plays, with their real rights, and a viewer with an integrator's. */
const USERS: Record<string, AccessRule[]> = {
  capture: serviceAccessRules('capture', PREFIX),
  inference: serviceAccessRules('inference', PREFIX),
  alert: serviceAccessRules('alert', PREFIX),
  sync: serviceAccessRules('sync', PREFIX),
  viewer: integratorAccessRules(PREFIX),
};
const PASSWORDS: Record<string, string> = Object.fromEntries(Object.keys(USERS).map((name) => [name, `bench-${name}-${process.pid}`]));

interface Running {
  name: string;
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

async function startSightline(dir: string): Promise<Running> {
  const usersFile = join(dir, 'users.json');
  const users: Record<string, { hash: string; acl: AccessRule[] }> = {};
  for (const [name, acl] of Object.entries(USERS)) users[name] = { hash: await hashPassword(PASSWORDS[name]!), acl };
  await writeFile(usersFile, JSON.stringify({ version: 1, users }), { mode: 0o600 });
  const nodeArgs = PROFILE_DIR === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`];
  const child = spawn(process.execPath, [...nodeArgs, MAIN], {
    env: {
      PATH: process.env.PATH,
      SIGHTLINE_LOG_LEVEL: 'info',
      SIGHTLINE_DATA_DIR: join(dir, 'sightline-data'),
      SIGHTLINE_BROKER_USERS_FILE: usersFile,
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
        const entry = JSON.parse(line) as { msg?: string; level?: number | string; ports?: { mqtt: number } };
        if (entry.msg === 'broker listening' && entry.ports !== undefined) {
          clearTimeout(timer);
          resolve({ name: 'sightline', port: entry.ports.mqtt, pid: child.pid! });
        } else if (entry.msg !== undefined && /warn|error|40|50/.test(String(entry.level))) {
          // A limit reached during the bench would change what is measured: show it.
          console.error(`sightline: ${line}`);
        }
      } catch {
        // not a log line
      }
    });
  });
}

function mosquittoAcl(): string {
  const lines: string[] = [];
  for (const [name, rules] of Object.entries(USERS)) {
    lines.push(`user ${name}`);
    for (const rule of rules) lines.push(`topic ${rule.access} ${rule.pattern}`);
    lines.push('');
  }
  return lines.join('\n');
}

async function startMosquitto(dir: string): Promise<Running> {
  const port = await freePort();
  const passwords = join(dir, 'mosquitto.passwd');
  await writeFile(passwords, '', { mode: 0o600 });
  for (const [name, password] of Object.entries(PASSWORDS)) execFileSync('mosquitto_passwd', ['-b', passwords, name, password]);
  const acl = join(dir, 'mosquitto.acl');
  await writeFile(acl, mosquittoAcl());
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous false',
      `password_file ${passwords}`,
      `acl_file ${acl}`,
      'persistence true',
      `persistence_location ${dir}/`,
      'max_queued_messages 1000',
      // Sightline turns Nagle's algorithm off on every connection; Mosquitto's default leaves it
      // on, which held some 50 KB frames for tens of milliseconds (its p95 at the realistic load).
      'set_tcp_nodelay true',
      `max_packet_size ${MAX_PACKET_BYTES}`,
      'log_type error',
      // Started as root (a container), Mosquitto would become the user `mosquitto`, who cannot read this private directory.
      `user ${userInfo().username}`,
      '',
    ].join('\n'),
  );
  const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(child);
  child.once('error', (err) => console.error(`mosquitto: ${err.message}`));
  await waitForPort(port);
  return { name: 'mosquitto', port, pid: child.pid! };
}

function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Latencies in milliseconds, growing as needed without an array of boxed numbers. */
class Samples {
  #values = new Float64Array(1 << 16);
  length = 0;
  push(value: number): void {
    if (this.length === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.length++] = value;
  }
  sorted(): Float64Array {
    return this.#values.slice(0, this.length).sort();
  }
}

interface Result {
  broker: string;
  phase: Phase;
  delivered: number;
  seconds: number;
  rate: number;
  p50: number;
  p95: number;
  /** Broker CPU time per 1000 messages delivered. */
  cpuPerThousand: number;
}

async function connect(broker: Running, user: string, clientId: string, extra: Partial<IClientOptions> = {}): Promise<MqttClient> {
  return connectAsync(`mqtt://127.0.0.1:${broker.port}`, {
    protocolVersion: 4,
    reconnectPeriod: 0,
    clean: true,
    clientId,
    username: user,
    password: PASSWORDS[user]!,
    ...extra,
  });
}

/** Measures from now until `seconds` later; what happened during the warm-up is not counted. */
async function measured<T>(
  broker: Running,
  start: () => void,
  collect: () => { delivered: number; latencies: Samples },
  finish: () => T,
): Promise<{ extra: T; delivered: number; seconds: number; latencies: Samples; cpu: number }> {
  start();
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
  const before = collect();
  const deliveredBefore = before.delivered;
  before.latencies.length = 0;
  const cpuBefore = await cpuMs(broker.pid);
  const startedAt = performance.now();
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
  const after = collect();
  const seconds = (performance.now() - startedAt) / 1000;
  const cpu = (await cpuMs(broker.pid)) - cpuBefore;
  const extra = finish();
  return { extra, delivered: after.delivered - deliveredBefore, seconds, latencies: after.latencies, cpu };
}

function resultOf(broker: Running, phase: Phase, m: { delivered: number; seconds: number; latencies: Samples; cpu: number }): Result {
  const sorted = m.latencies.sorted();
  return {
    broker: broker.name,
    phase,
    delivered: m.delivered,
    seconds: m.seconds,
    rate: m.delivered / m.seconds,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    cpuPerThousand: m.cpu / (m.delivered / 1000),
  };
}

let phaseCounter = 0;

async function throughput(broker: Running, phase: 'qos0' | 'qos1' | 'qos1-session'): Promise<Result> {
  const qos = phase === 'qos0' ? 0 : 1;
  const session = phase === 'qos1-session';
  const id = `${process.pid}-${phaseCounter++}`;
  const subscriberId = `bench-inference-${id}`;
  const subscriber = await connect(broker, 'inference', subscriberId, { clean: !session });
  const publisher = await connect(broker, 'capture', `bench-capture-${id}`);
  const topic = `${PREFIX}/cameras/bench-${id}/frame`;
  await subscriber.subscribeAsync(topic, { qos });
  const latencies = new Samples();
  let sent = 0;
  let received = 0;
  let running = true;
  const payload = Buffer.alloc(FRAME_BYTES, 0x5a);
  const pump = () => {
    while (running && sent - received < WINDOW) {
      const message = Buffer.from(payload);
      message.writeDoubleLE(performance.now(), 0);
      sent++;
      publisher.publish(topic, message, { qos });
    }
  };
  subscriber.on('message', (_topic, message) => {
    latencies.push(performance.now() - message.readDoubleLE(0));
    received++;
    pump();
  });
  const m = await measured(
    broker,
    pump,
    () => ({ delivered: received, latencies }),
    () => {
      running = false;
    },
  );
  // Let what is in flight arrive before the clients go, so the next phase starts on a quiet broker.
  const drainUntil = Date.now() + 5000;
  while (received < sent && Date.now() < drainUntil) await new Promise((resolve) => setTimeout(resolve, 10));
  await publisher.endAsync(true);
  if (session) {
    // Ends the persistent session (and its queue) so the next phase starts with none.
    await subscriber.endAsync(true);
    const ender = await connect(broker, 'inference', subscriberId, { clean: true });
    await ender.endAsync(true);
  } else {
    await subscriber.endAsync(true);
  }
  return resultOf(broker, phase, m);
}

async function realisticLoad(broker: Running): Promise<Result> {
  const id = `${process.pid}-${phaseCounter++}`;
  const latencies = new Samples();
  let delivered = 0;
  const onMessage = (topic: string, message: Buffer) => {
    // The console-like subscriber also gets the retained availability of the services.
    if (!topic.startsWith(`${PREFIX}/cameras/`)) return;
    latencies.push(performance.now() - message.readDoubleLE(0));
    delivered++;
  };
  const frames = `${PREFIX}/cameras/+/frame`;
  const detections = `${PREFIX}/cameras/+/detections`;
  const alertId = `bench-alert-${id}`;
  const subscribers = [
    { user: 'inference', filters: [frames], options: {} },
    { user: 'alert', filters: [detections], options: { clientId: alertId, clean: false } },
    { user: 'viewer', filters: [`${PREFIX}/#`], options: {} },
    { user: 'sync', filters: [frames, detections], options: {} },
  ];
  const clients: MqttClient[] = [];
  for (const [i, s] of subscribers.entries()) {
    const client = await connect(broker, s.user, `bench-${s.user}-${id}-${i}`, s.options);
    for (const filter of s.filters) await client.subscribeAsync(filter, { qos: 0 });
    client.on('message', onMessage);
    clients.push(client);
  }
  const cameras: MqttClient[] = [];
  for (let c = 0; c < CAMERAS; c++) cameras.push(await connect(broker, 'capture', `bench-capture-${id}-${c}`));
  const inference = await connect(broker, 'inference', `bench-inference-pub-${id}`);
  const framePayload = Buffer.alloc(FRAME_BYTES, 0x4a);
  const detectionsPayload = Buffer.alloc(DETECTIONS_BYTES, 0x7b);
  const timers: NodeJS.Timeout[] = [];
  const start = () => {
    for (let c = 0; c < CAMERAS; c++) {
      const camera = `cam${c}`;
      // Cameras spread over the frame interval, as unsynchronised cameras are.
      const offset = (c * 1000) / FPS / CAMERAS;
      timers.push(
        setTimeout(() => {
          const tick = () => {
            const frame = Buffer.from(framePayload);
            frame.writeDoubleLE(performance.now(), 0);
            cameras[c]!.publish(`${PREFIX}/cameras/${camera}/frame`, frame, { qos: 0 });
            // Inference answers each frame a little later with its detections.
            timers.push(
              setTimeout(() => {
                const found = Buffer.from(detectionsPayload);
                found.writeDoubleLE(performance.now(), 0);
                inference.publish(`${PREFIX}/cameras/${camera}/detections`, found, { qos: 0 });
              }, 60),
            );
          };
          tick();
          timers.push(setInterval(tick, 1000 / FPS));
        }, offset),
      );
    }
  };
  const m = await measured(
    broker,
    start,
    () => ({ delivered, latencies }),
    () => {
      for (const timer of timers) clearTimeout(timer);
    },
  );
  await new Promise((resolve) => setTimeout(resolve, 200));
  await Promise.all([...cameras, inference, ...clients].map((client) => client.endAsync(true)));
  const ender = await connect(broker, 'alert', alertId, { clean: true });
  await ender.endAsync(true);
  return resultOf(broker, 'load', m);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function resultsTable(results: Result[]): string {
  return table(
    ['phase', 'broker', 'delivered', 'msg/s', 'MB/s', 'p50 ms', 'p95 ms', 'CPU ms/1000 msg'],
    results.map((r) => [
      r.phase,
      r.broker,
      String(r.delivered),
      r.rate.toFixed(0),
      r.phase === 'load' ? '-' : ((r.rate * FRAME_BYTES) / 1e6).toFixed(1),
      r.p50.toFixed(2),
      r.p95.toFixed(2),
      r.cpuPerThousand.toFixed(0),
    ]),
  );
}

interface Ratio {
  name: string;
  /** Higher is better for Sightline when true (throughput); lower when false (latency, CPU). */
  higherIsBetter: boolean;
  goal?: string;
  values: number[];
}

function ratiosOf(results: Result[]): Map<string, { value: number; higherIsBetter: boolean; goal?: string }> {
  const out = new Map<string, { value: number; higherIsBetter: boolean; goal?: string }>();
  for (const phase of PHASES) {
    const ours = results.find((r) => r.phase === phase && r.broker === 'sightline');
    const theirs = results.find((r) => r.phase === phase && r.broker === 'mosquitto');
    if (ours === undefined || theirs === undefined) continue;
    if (phase === 'load') {
      out.set('load p50 latency', { value: ours.p50 / theirs.p50, higherIsBetter: false, goal: '<= 1.5' });
      out.set('load p95 latency', { value: ours.p95 / theirs.p95, higherIsBetter: false });
      out.set('load CPU per message', { value: ours.cpuPerThousand / theirs.cpuPerThousand, higherIsBetter: false });
    } else {
      out.set(`${phase} throughput`, { value: ours.rate / theirs.rate, higherIsBetter: true, ...(phase === 'qos1-session' ? {} : { goal: '>= 0.8' }) });
      out.set(`${phase} p50 latency`, { value: ours.p50 / theirs.p50, higherIsBetter: false });
      out.set(`${phase} CPU per message`, { value: ours.cpuPerThousand / theirs.cpuPerThousand, higherIsBetter: false });
    }
  }
  return out;
}

try {
  workDir = await mkdtemp(join(tmpdir(), 'broker-bench-'));
  const sightline = await startSightline(workDir);
  const mosquitto = await startMosquitto(workDir);
  console.log(
    `${RUNS} runs of ${PHASES.join(', ')}: ${SECONDS} s measured per phase and broker after ${WARMUP_MS / 1000} s of warm-up; ` +
      `throughput: ${FRAME_BYTES} B frames, window ${WINDOW}; load: ${CAMERAS} cameras at ${FPS} fps + detections of ${DETECTIONS_BYTES} B, 4 subscribers`,
  );
  const ratios = new Map<string, Ratio>();
  const allResults: Result[] = [];
  for (let run = 0; run < RUNS; run++) {
    const order = run % 2 === 0 ? [sightline, mosquitto] : [mosquitto, sightline];
    const results: Result[] = [];
    for (const phase of PHASES) {
      for (const broker of order) {
        process.stderr.write(`run ${run + 1}: ${phase} on ${broker.name}\n`);
        results.push(phase === 'load' ? await realisticLoad(broker) : await throughput(broker, phase));
      }
    }
    allResults.push(...results);
    console.log(`\nrun ${run + 1}/${RUNS} (${order.map((b) => b.name).join(' first, then ')})\n`);
    console.log(resultsTable(results));
    for (const [name, { value, higherIsBetter, goal }] of ratiosOf(results)) {
      const ratio = ratios.get(name) ?? { name, higherIsBetter, ...(goal !== undefined ? { goal } : {}), values: [] };
      ratio.values.push(value);
      ratios.set(name, ratio);
    }
  }
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  console.log(`\nsightline / mosquitto over ${RUNS} runs (throughput: higher is better; latency and CPU: lower is better)\n`);
  console.log(
    table(
      ['ratio', 'goal', 'median', 'min-max', 'runs'],
      [...ratios.values()].map((r) => [
        r.name,
        r.goal ?? '',
        median(r.values).toFixed(2),
        `${Math.min(...r.values).toFixed(2)}-${Math.max(...r.values).toFixed(2)}`,
        r.values.map((v) => v.toFixed(2)).join(' '),
      ]),
    ),
  );
  const byBroker = (phase: Phase, broker: string, pick: (r: Result) => number) =>
    median(allResults.filter((r) => r.phase === phase && r.broker === broker).map(pick));
  console.log(`\nmedians over ${RUNS} runs\n`);
  console.log(
    table(
      ['phase', 'broker', 'msg/s', 'p50 ms', 'p95 ms', 'CPU ms/1000 msg'],
      PHASES.flatMap((phase) =>
        ['sightline', 'mosquitto'].map((broker) => [
          phase,
          broker,
          byBroker(phase, broker, (r) => r.rate).toFixed(0),
          byBroker(phase, broker, (r) => r.p50).toFixed(2),
          byBroker(phase, broker, (r) => r.p95).toFixed(2),
          byBroker(phase, broker, (r) => r.cpuPerThousand).toFixed(0),
        ]),
      ),
    ),
  );
} finally {
  await cleanup();
}

/**
 * How much memory hostile clients can make the broker hold, measured on a broker in its own
 * process (RSS from /proc). Each scenario gets a fresh broker:
 *
 * - `connect-flood`: 60 unauthenticated TCP sockets each send a CONNECT announcing 250 MB and then
 *   stream zeros into it as fast as the broker reads.
 * - `ws-connect-flood`: the same over WebSocket, in 1 MiB WebSocket messages.
 * - `partial-publish`: a read-only user sends a PUBLISH announcing 200 MiB and streams all of it
 *   but the last byte.
 * - `ws-publish`: the same user over WebSocket streams a PUBLISH announcing 250 MB in 512 KiB
 *   WebSocket messages (each under the WebSocket message limit).
 *
 * For each: bytes the clients got through, connections the broker closed and how fast, and the
 * broker's RSS before, at its peak, and after.
 *
 *   node services/broker/bench/hostile.bench.ts [seconds per scenario, default 8]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { hashPassword } from '@sightline/kit';
import { connectPacket, mqttString, publishHeader, remainingLength } from '../src/raw-mqtt.ts';

const SECONDS = Number(process.argv[2] ?? 8);
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const MIB = 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024);

interface Broker {
  child: ChildProcess;
  mqtt: number;
  ws: number;
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

async function startBroker(dir: string, name: string): Promise<Broker> {
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH,
      SIGHTLINE_LOG_LEVEL: 'info',
      SIGHTLINE_DATA_DIR: join(dir, name),
      SIGHTLINE_BROKER_USERS_FILE: join(dir, 'users.json'),
      SIGHTLINE_BROKER_ANONYMOUS: 'off',
      SIGHTLINE_BROKER_PERSISTENCE: 'memory',
      SIGHTLINE_BROKER_MQTT_PORT: '0',
      SIGHTLINE_BROKER_WS_PORT: '0',
      SIGHTLINE_BROKER_HTTP_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error('broker did not start within 10 s')), 10000);
    child.once('exit', (code) => reject(new Error(`broker exited with ${code}`)));
    lines.on('line', (line) => {
      let entry: { msg?: string; ports?: { mqtt: number; ws: number } };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        return;
      }
      if (entry.msg === 'broker listening' && entry.ports !== undefined) {
        clearTimeout(timer);
        resolve({ child, mqtt: entry.ports.mqtt, ws: entry.ports.ws });
      }
    });
  });
}

async function stopBroker(broker: Broker): Promise<void> {
  if (broker.child.exitCode !== null) return;
  const exited = new Promise((resolve) => broker.child.once('exit', resolve));
  broker.child.kill('SIGTERM');
  await exited;
}

/** The reader's CONNECT, under a fresh client id. */
function readerConnect(): Buffer {
  return connectPacket({ clientId: `hostile-${Math.random().toString(16).slice(2)}`, username: 'reader', password: 'reader-pw' });
}

/** The start of a QoS 0 PUBLISH announcing `total` bytes of remaining length. */
function publishHead(total: number): Buffer {
  return publishHeader(TOPIC, total - mqttString(TOPIC).length);
}

const TOPIC = 'sightline/hostile';

interface Outcome {
  sent: number;
  closedAfterMs: number | null;
}

/** Writes `head`, then zeros up to `limit` bytes in total, as fast as the peer reads, until `deadline` or a close. */
function streamTcp(socket: Socket, head: Buffer, limit: number, deadline: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    let sent = 0;
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ sent, closedAfterMs: closed ? performance.now() - started : null });
      socket.destroy();
    };
    const timer = setTimeout(() => finish(false), Math.max(0, deadline - Date.now()));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    const pump = () => {
      while (!done && sent < limit) {
        const piece = sent === 0 ? head : CHUNK.subarray(0, Math.min(CHUNK.length, limit - sent));
        sent += piece.length;
        if (!socket.write(piece)) return void socket.once('drain', pump);
      }
    };
    pump();
  });
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends a CONNECT and waits for CONNACK 0. */
async function authenticatedSocket(port: number): Promise<Socket> {
  const socket = await openSocket(port);
  socket.write(readerConnect());
  await new Promise<void>((resolve, reject) => {
    let received = Buffer.alloc(0);
    const onData = (data: Buffer) => {
      received = Buffer.concat([received, data]);
      if (received.length < 4) return;
      socket.off('data', onData);
      if (received[0] === 0x20 && received[3] === 0) resolve();
      else reject(new Error(`CONNACK ${received.toString('hex')}`));
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return socket;
}

async function connectFlood(broker: Broker, deadline: number): Promise<Outcome[]> {
  const announced = 250_000_000;
  const sockets = await Promise.all(Array.from({ length: 60 }, () => openSocket(broker.mqtt)));
  const head = Buffer.concat([Buffer.from([0x10]), remainingLength(announced)]);
  return Promise.all(sockets.map((socket) => streamTcp(socket, head, announced + head.length, deadline)));
}

async function partialPublish(broker: Broker, deadline: number): Promise<Outcome[]> {
  const announced = 200 * MIB;
  const socket = await authenticatedSocket(broker.mqtt);
  const head = publishHead(announced);
  return [await streamTcp(socket, head, announced - 1, deadline)];
}

function openWebSocket(broker: Broker): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${broker.ws}`, 'mqtt');
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Sends `head`, then `messageBytes` messages of zeros up to `limit` bytes in total, until `deadline` or a close. */
function streamWebSocket(ws: WebSocket, head: Buffer, messageBytes: number, limit: number, deadline: number): Promise<Outcome> {
  const message = Buffer.alloc(messageBytes);
  return new Promise((resolve) => {
    const started = performance.now();
    let sent = 0;
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ sent, closedAfterMs: closed ? performance.now() - started : null });
      ws.terminate();
    };
    const timer = setTimeout(() => finish(false), Math.max(0, deadline - Date.now()));
    ws.on('close', () => finish(true));
    ws.on('error', () => finish(true));
    const pump = () => {
      if (done) return;
      if (sent === 0) {
        ws.send(head);
        sent += head.length;
      }
      // Keep at most 4 MiB queued in the client so the broker's reading pace sets the rate.
      while (!done && sent < limit && ws.bufferedAmount < 4 * MIB) {
        ws.send(message);
        sent += message.length;
      }
      setImmediate(pump);
    };
    pump();
  });
}

async function wsConnectFlood(broker: Broker, deadline: number): Promise<Outcome[]> {
  const announced = 250_000_000;
  const sockets = await Promise.all(Array.from({ length: 60 }, () => openWebSocket(broker)));
  const head = Buffer.concat([Buffer.from([0x10]), remainingLength(announced)]);
  return Promise.all(sockets.map((ws) => streamWebSocket(ws, head, MIB, announced, deadline)));
}

async function wsPublish(broker: Broker, deadline: number): Promise<Outcome[]> {
  const announced = 250_000_000;
  const ws = await openWebSocket(broker);
  ws.send(readerConnect());
  await new Promise<void>((resolve, reject) => {
    // The broker may send the CONNACK in more than one WebSocket message.
    let received = Buffer.alloc(0);
    ws.on('message', (data: Buffer) => {
      received = Buffer.concat([received, data]);
      if (received.length >= 4) {
        if (received[0] === 0x20 && received[3] === 0) resolve();
        else reject(new Error(`CONNACK ${received.toString('hex')}`));
      }
    });
    ws.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return [await streamWebSocket(ws, publishHead(announced), 512 * 1024, announced, deadline)];
}

const scenarios = [
  { name: 'connect-flood', what: '60 unauthenticated sockets, CONNECT announcing 250 MB each', run: connectFlood },
  { name: 'ws-connect-flood', what: '60 unauthenticated WebSockets, CONNECT announcing 250 MB each, in 1 MiB messages', run: wsConnectFlood },
  { name: 'partial-publish', what: 'read-only user, PUBLISH announcing 200 MiB, all but the last byte', run: partialPublish },
  { name: 'ws-publish', what: 'read-only user over WebSocket, PUBLISH announcing 250 MB in 512 KiB messages', run: wsPublish },
];

const dir = await mkdtemp(join(tmpdir(), 'broker-hostile-'));
try {
  const users = {
    version: 1,
    users: { reader: { hash: await hashPassword('reader-pw', { N: 1024, r: 8, p: 1 }), acl: [{ pattern: 'sightline/#', access: 'read' }] } },
  };
  await writeFile(join(dir, 'users.json'), JSON.stringify(users));
  const rows: string[][] = [];
  for (const scenario of scenarios) {
    const broker = await startBroker(dir, scenario.name);
    try {
      const pid = broker.child.pid!;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const before = await rssMiB(pid);
      let peak = before;
      const sampler = setInterval(() => {
        rssMiB(pid).then(
          (rss) => (peak = Math.max(peak, rss)),
          () => undefined,
        );
      }, 50);
      const outcomes = await scenario.run(broker, Date.now() + SECONDS * 1000);
      await new Promise((resolve) => setTimeout(resolve, 500));
      clearInterval(sampler);
      peak = Math.max(peak, await rssMiB(pid));
      const after = await rssMiB(pid);
      const closed = outcomes
        .filter((o) => o.closedAfterMs !== null)
        .map((o) => o.closedAfterMs!)
        .sort((a, b) => a - b);
      const sent = outcomes.reduce((sum, o) => sum + o.sent, 0);
      rows.push([
        scenario.name,
        `${(sent / MIB).toFixed(1)} MiB`,
        `${closed.length}/${outcomes.length}`,
        closed.length > 0 ? closed[Math.floor(closed.length / 2)]!.toFixed(0) : '-',
        before.toFixed(0),
        peak.toFixed(0),
        after.toFixed(0),
        `+${(peak - before).toFixed(0)}`,
      ]);
    } finally {
      await stopBroker(broker);
    }
  }
  const header = ['scenario', 'written by clients', 'closed by broker', 'close p50 ms', 'RSS before MiB', 'peak MiB', 'after MiB', 'peak growth MiB'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(`\n${SECONDS} s per scenario, each on a fresh broker (memory persistence)\n`);
  for (const s of scenarios) console.log(`  ${s.name}: ${s.what}`);
  console.log(`\n${[line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n')}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}

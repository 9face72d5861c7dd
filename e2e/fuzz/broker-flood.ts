import { connect as connectTcp, type Socket } from 'node:net';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import type { Random } from './random.ts';
import { connectPacket, mqttString, publishHeader, remainingLength } from '../../services/broker/src/raw-mqtt.ts';

/**
 * Raw MQTT at the broker, below any client library: packets that announce far more than they
 * send, before and after authentication, over TCP and WebSocket, from many sockets and many
 * loopback source addresses (127.0.0.2 and up, so per-IP limits do not shut out the services
 * and the harness on 127.0.0.1).
 */

export interface BrokerEndpoints {
  mqttPort: number;
  wsPort: number;
}

export interface Credentials {
  username: string;
  password: string;
}

export interface FloodResult {
  name: string;
  transport: 'tcp' | 'ws';
  sockets: number;
  /** Bytes handed to the sockets (the kernel's buffers included, so more than the broker read). */
  bytesSent: number;
  /** Sockets the broker closed before the phase ended. */
  closedByBroker: number;
  /** Sockets whose prelude (CONNECT, CONNACK) failed, so their flood was not sent. */
  preludeFailed: number;
}

const sourceAddress = (i: number) => `127.0.0.${2 + (i % 250)}`;

/** One connection as the flood sees it: write (resolves false once closed), and whether the broker closed it. */
interface Conn {
  write(chunk: Buffer): Promise<boolean>;
  /** Resolves with the first `n` bytes received (or null when closed first). */
  read(n: number, timeoutMs: number): Promise<Buffer | null>;
  closed(): boolean;
  destroy(): void;
}

async function openTcp(port: number, i: number): Promise<Conn> {
  const socket: Socket = connectTcp({ host: '127.0.0.1', port, localAddress: sourceAddress(i) });
  socket.on('error', () => undefined);
  let isClosed = false;
  socket.once('close', () => (isClosed = true));
  await Promise.race([once(socket, 'connect'), once(socket, 'close')]);
  let received = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    if (received.length < 64) received = Buffer.concat([received, chunk]);
  });
  return {
    async write(chunk) {
      if (isClosed) return false;
      if (socket.write(chunk)) return true;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        const timer = setTimeout(done, 1000);
        socket.on('drain', done);
        socket.on('close', done);
      });
      return !isClosed;
    },
    async read(n, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < n && !isClosed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      return received.length >= n ? received.subarray(0, n) : null;
    },
    closed: () => isClosed,
    destroy: () => socket.destroy(),
  };
}

async function openWs(port: number, i: number): Promise<Conn> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, ['mqtt'], { localAddress: sourceAddress(i), perMessageDeflate: false });
  ws.on('error', () => undefined);
  let isClosed = false;
  ws.once('close', () => (isClosed = true));
  await Promise.race([once(ws, 'open'), once(ws, 'close')]).catch(() => undefined);
  let received = Buffer.alloc(0);
  ws.on('message', (data: Buffer) => {
    if (received.length < 64) received = Buffer.concat([received, Buffer.from(data)]);
  });
  return {
    async write(chunk) {
      if (isClosed || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(chunk);
      const deadline = Date.now() + 1000;
      while (ws.bufferedAmount > 1024 * 1024 && !isClosed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      return !isClosed;
    },
    async read(n, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < n && !isClosed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      return received.length >= n ? received.subarray(0, n) : null;
    },
    closed: () => isClosed,
    destroy: () => ws.terminate(),
  };
}

export interface FloodOptions {
  name: string;
  transport: 'tcp' | 'ws';
  endpoints: BrokerEndpoints;
  sockets: number;
  /** What each socket sends first (and waits for); resolves false when the socket cannot go on. */
  prelude: (conn: Conn, i: number) => Promise<boolean>;
  /** The packet start announcing more than will follow. */
  header: Buffer;
  bytesPerSocket: number;
  chunkBytes: number;
  /** Stop pumping at this time (epoch ms). */
  deadline: number;
  /** How long the sockets stay open after pumping, so a broker that buffers holds it while RSS is sampled. */
  holdMs: number;
  /** First source address index, so different floods use different addresses. */
  firstAddress: number;
}

/** Opens the sockets, sends each its prelude and header, then pumps filler until the budget, the deadline or the broker's close. */
export async function flood(options: FloodOptions, random: Random): Promise<FloodResult> {
  const filler = random.bytes(options.chunkBytes);
  const open = options.transport === 'tcp' ? openTcp : openWs;
  const port = options.transport === 'tcp' ? options.endpoints.mqttPort : options.endpoints.wsPort;
  const conns: Conn[] = [];
  let bytesSent = 0;
  let preludeFailed = 0;
  await Promise.all(
    Array.from({ length: options.sockets }, async (_, i) => {
      const conn = await open(port, options.firstAddress + i);
      conns.push(conn);
      if (!(await options.prelude(conn, i))) {
        preludeFailed++;
        return;
      }
      if (!(await conn.write(options.header))) return;
      bytesSent += options.header.length;
      for (let sent = 0; sent < options.bytesPerSocket && Date.now() < options.deadline; sent += filler.length) {
        if (!(await conn.write(filler))) return;
        bytesSent += filler.length;
      }
    }),
  );
  await new Promise((r) => setTimeout(r, options.holdMs));
  const closedByBroker = conns.filter((c) => c.closed()).length;
  for (const conn of conns) conn.destroy();
  return { name: options.name, transport: options.transport, sockets: options.sockets, bytesSent, closedByBroker, preludeFailed };
}

export const noPrelude = async (): Promise<boolean> => true;

/** CONNECT with credentials and wait for CONNACK 0 (a user who may publish). */
export function authenticatedPrelude(credentials: Credentials | undefined, tag: string) {
  return async (conn: Conn, i: number): Promise<boolean> => {
    if (!(await conn.write(connectPacket({ clientId: `fuzz-${tag}-${i}`, ...credentials })))) return false;
    const connack = await conn.read(4, 10_000);
    return connack !== null && connack[0] === 0x20 && connack[3] === 0;
  };
}

/** Malformed and half-sent packets; each goes to its own socket, and whether the broker closed it is counted. */
export function malformedPackets(random: Random, credentials: Credentials | undefined): Array<{ name: string; bytes: Buffer }> {
  const connect = connectPacket({ clientId: 'fuzz-malformed', ...credentials });
  return [
    { name: 'connect-header-only', bytes: Buffer.from([0x10]) },
    { name: 'connect-length-only', bytes: Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]) },
    { name: 'five-byte-length', bytes: Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]) },
    { name: 'half-connect', bytes: connect.subarray(0, Math.floor(connect.length / 2)) },
    { name: 'mqtt5-connect', bytes: connectPacket({ clientId: 'fuzz-v5', protocolLevel: 5 }) },
    { name: 'protocol-level-255', bytes: connectPacket({ clientId: 'fuzz-255', protocolLevel: 255 }) },
    { name: 'protocol-name-garbage', bytes: connectPacket({ clientId: 'fuzz-name', protocolName: '\u0000\uFFFF' }) },
    { name: 'client-id-64k', bytes: connectPacket({ clientId: 'c'.repeat(65_535) }) },
    { name: 'client-id-invalid-utf8', bytes: connectPacket({ clientId: Buffer.from([0xc3, 0x28, 0xed, 0xa0, 0x80]) }) },
    { name: 'client-id-dollar', bytes: connectPacket({ clientId: '$SYS' }) },
    { name: 'empty-id-persistent', bytes: connectPacket({ clientId: '', clean: false }) },
    {
      name: 'will-64k-retained',
      bytes: connectPacket({ clientId: 'fuzz-will', will: { topic: 'sightline/fuzz/will', payload: random.bytes(65_535), retain: true } }),
    },
    {
      name: 'will-on-dollar-topic',
      bytes: connectPacket({ clientId: 'fuzz-will-sys', will: { topic: '$SYS/fuzz', payload: Buffer.from('x'), retain: true } }),
    },
    { name: 'publish-before-connect', bytes: Buffer.concat([publishHeader('sightline/fuzz', 4), Buffer.from('fuzz')]) },
    { name: 'pingreq-before-connect', bytes: Buffer.alloc(2000, 0).map((_, i) => (i % 2 === 0 ? 0xc0 : 0)) as Buffer },
    { name: 'two-connects', bytes: Buffer.concat([connect, connect]) },
    { name: 'reserved-packet-type', bytes: Buffer.concat([connect, Buffer.from([0xf0, 0x00])]) },
    { name: 'subscribe-10k-filters', bytes: subscribeMany(connect, 10_000) },
    { name: 'random-bytes', bytes: random.bytes(64 * 1024) },
    { name: 'zeros', bytes: Buffer.alloc(64 * 1024) },
  ];
}

function subscribeMany(connect: Buffer, n: number): Buffer {
  const filters: Buffer[] = [];
  for (let i = 0; i < n; i++) filters.push(mqttString(`sightline/fuzz/${i}/#`), Buffer.from([0]));
  const body = Buffer.concat([Buffer.from([0, 1]), ...filters]);
  return Buffer.concat([connect, Buffer.from([0x82]), remainingLength(body.length), body]);
}

/** Sends each malformed packet on its own socket; returns how many the broker closed within `waitMs`. */
export async function sendMalformed(
  endpoints: BrokerEndpoints,
  packets: Array<{ name: string; bytes: Buffer }>,
  transport: 'tcp' | 'ws',
  firstAddress: number,
  waitMs: number,
): Promise<{ sent: number; closedByBroker: number; leftOpen: string[] }> {
  const open = transport === 'tcp' ? openTcp : openWs;
  const port = transport === 'tcp' ? endpoints.mqttPort : endpoints.wsPort;
  const conns = await Promise.all(
    packets.map(async (packet, i) => {
      const conn = await open(port, firstAddress + i);
      if (transport === 'ws') {
        // Over WebSocket in frames of at most 64 KiB, as a browser client would split it.
        for (let at = 0; at < packet.bytes.length; at += 64 * 1024) await conn.write(packet.bytes.subarray(at, at + 64 * 1024));
      } else {
        await conn.write(packet.bytes);
      }
      return { name: packet.name, conn };
    }),
  );
  await new Promise((r) => setTimeout(r, waitMs));
  const leftOpen = conns.filter(({ conn }) => !conn.closed()).map(({ name }) => name);
  for (const { conn } of conns) conn.destroy();
  return { sent: conns.length, closedByBroker: conns.length - leftOpen.length, leftOpen };
}

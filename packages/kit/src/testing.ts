/**
 * Small helpers the services' tests share. Test code only: nothing in a service imports this, and
 * aedes, a development dependency, is only needed where tests run.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { Aedes } from 'aedes';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it holds; fails with `what` after `timeoutMs`. */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(20);
  }
}

export interface TestBroker {
  url: string;
  port: number;
  /** Retained payloads by topic, as the broker saw them published. */
  retained: Map<string, string>;
  /** Stops listening and drops every client: the broker is "down". */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

/** A real aedes broker on an ephemeral loopback port, closed when the test ends. */
export async function startTestBroker(t: TestContext): Promise<TestBroker> {
  const broker = await Aedes.createBroker();
  const retained = new Map<string, string>();
  broker.on('publish', (packet) => {
    if (packet.retain) retained.set(packet.topic, packet.payload.toString());
  });
  const sockets = new Set<Socket>();
  const listen = async (port: number): Promise<Server> => {
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      broker.handle(socket);
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return server;
  };
  let server: Server | null = await listen(0);
  const port = (server.address() as AddressInfo).port;
  const down = async (): Promise<void> => {
    const closing = server;
    server = null;
    for (const socket of sockets) socket.destroy();
    if (closing) await new Promise<void>((resolve) => closing.close(() => resolve()));
  };
  let closed = false;
  const handle: TestBroker = {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    retained,
    down,
    async up() {
      server ??= await listen(port);
    },
    async close() {
      if (closed) return;
      closed = true;
      await down();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
  t.after(() => handle.close());
  return handle;
}

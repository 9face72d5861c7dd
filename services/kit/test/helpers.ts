import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { Aedes } from 'aedes';
import { waitUntil } from '../src/testing.ts';

export interface TestBroker {
  url: string;
  port: number;
  broker: Aedes;
  /** Retained payloads by topic, as the broker saw them published. */
  retained: Map<string, string>;
}

/** A real aedes broker on an ephemeral loopback port, closed when the test ends. */
export async function startTestBroker(t: TestContext, port = 0): Promise<TestBroker> {
  const broker = await Aedes.createBroker();
  const retained = new Map<string, string>();
  broker.on('publish', (packet) => {
    if (packet.retain) retained.set(packet.topic, packet.payload.toString());
  });
  const server = createServer(broker.handle);
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const bound = (server.address() as AddressInfo).port;
  return { url: `mqtt://127.0.0.1:${bound}`, port: bound, broker, retained };
}

/** `waitUntil` with the arguments in the order these tests use. */
export function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  return waitUntil(what, check, timeoutMs);
}

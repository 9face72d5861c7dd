import type { Server, Socket } from 'node:net';
import { BoundedMap } from '@sightline/kit';
import type { Registry } from 'prom-client';

export interface ConnectionCaps {
  maxConnections: number;
  maxConnectionsPerIp: number;
}

export type ConnectionRefusal = 'max_connections' | 'max_connections_per_ip';

/**
 * Counts every accepted TCP connection of every listener (MQTT, TLS, WebSocket), from accept
 * until close, before a byte of MQTT or TLS is read, and closes one at once when it would go
 * over the total or its address's share.
 */
export class ConnectionGuard {
  readonly #caps: ConnectionCaps;
  readonly #onRefused: (reason: ConnectionRefusal, address: string) => void;
  readonly #perAddress: BoundedMap<string, number>;
  #total = 0;

  constructor(caps: ConnectionCaps, onRefused: (reason: ConnectionRefusal, address: string) => void, registry?: Registry) {
    this.#caps = caps;
    this.#onRefused = onRefused;
    // Every entry holds at least one open connection, so the total cap bounds the entries: nothing is ever evicted.
    this.#perAddress = new BoundedMap({ name: 'broker-connections-per-ip', maxEntries: caps.maxConnections, ...(registry ? { registry } : {}) });
  }

  get total(): number {
    return this.#total;
  }

  /** Admits or refuses each connection the server accepts, ahead of the server's own handlers. */
  watch(server: Server): void {
    server.prependListener('connection', (socket: Socket) => this.#admit(socket));
  }

  #admit(socket: Socket): void {
    const address = normalise(socket.remoteAddress ?? 'unknown');
    const held = this.#perAddress.peek(address) ?? 0;
    const refusal: ConnectionRefusal | null =
      this.#total >= this.#caps.maxConnections ? 'max_connections' : held >= this.#caps.maxConnectionsPerIp ? 'max_connections_per_ip' : null;
    if (refusal !== null) {
      this.#onRefused(refusal, address);
      socket.destroy();
      return;
    }
    this.#total += 1;
    this.#perAddress.set(address, held + 1);
    socket.once('close', () => {
      this.#total -= 1;
      const left = (this.#perAddress.peek(address) ?? 1) - 1;
      if (left > 0) this.#perAddress.set(address, left);
      else this.#perAddress.delete(address);
    });
  }
}

/** An IPv4 client of a dual-stack listener counts as the same address as over IPv4. */
function normalise(address: string): string {
  return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
}

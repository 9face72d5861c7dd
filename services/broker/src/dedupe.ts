import type { Client } from 'aedes';

/** Deliveries to one client remembered per originating broker: a copy arriving later than this is delivered again (QoS 1 allows it). */
export const DEDUPE_WINDOW = 1024;

interface Counted {
  brokerId?: string;
  brokerCounter?: number;
}

type Deliver = (packet: Counted, done: () => void) => void;

/** The counters delivered to a client lately, oldest first out. */
class Recent {
  readonly #seen = new Set<number>();
  readonly #order: number[] = [];
  #next = 0;

  has(counter: number): boolean {
    return this.#seen.has(counter);
  }

  add(counter: number): void {
    if (this.#seen.has(counter)) return;
    if (this.#order.length < DEDUPE_WINDOW) this.#order.push(counter);
    else {
      this.#seen.delete(this.#order[this.#next]!);
      this.#order[this.#next] = counter;
      this.#next = (this.#next + 1) % DEDUPE_WINDOW;
    }
    this.#seen.add(counter);
  }
}

/**
 * aedes drops a message for a client as a duplicate (a second matching subscription, or a queued
 * copy replayed while it also arrives live) when its counter is not above the highest one already
 * delivered to that client. That assumes messages reach delivery in the order they were counted,
 * and they do not: a QoS 1 message waits while the store queues it for persistent sessions, and a
 * later message (a QoS 0 one, or one stored faster) overtakes it. The overtaken message was then
 * lost for every client that had the later one, after its publisher had been acknowledged: with
 * persistent subscribers on the disk store, about 1 in 10 of a burst of tts' audio messages, each
 * overtaken by the small `speech` message published right after it.
 *
 * This turns aedes' check into "delivered before" over the last DEDUPE_WINDOW deliveries, through
 * the two things aedes reads: the client's delivery functions (which name the packet being
 * checked) and its `duplicates` record (read and written by the check, synchronously inside them).
 * Install it on the client `aedes.handle` returns, before the connection is read.
 */
export function dedupeInAnyOrder(client: Client): void {
  const target = client as unknown as { deliver0: Deliver; deliverQoS: Deliver; duplicates: Record<string, number> };
  const byBroker = new Map<string, Recent>();
  let checking: Counted | undefined;
  for (const name of ['deliver0', 'deliverQoS'] as const) {
    const deliver = target[name];
    target[name] = (packet, done) => {
      const outer = checking;
      checking = packet;
      try {
        deliver(packet, done);
      } finally {
        checking = outer;
      }
    };
  }
  target.duplicates = new Proxy(Object.create(null) as Record<string, number>, {
    get(_record, id) {
      if (typeof id !== 'string' || checking?.brokerId !== id || checking.brokerCounter === undefined) return undefined;
      const counter = checking.brokerCounter;
      // aedes delivers when the value read is below the counter, then records the counter.
      return byBroker.get(id)?.has(counter) === true ? counter : counter - 1;
    },
    set(_record, id, counter: unknown) {
      if (typeof id !== 'string' || typeof counter !== 'number') return true;
      let recent = byBroker.get(id);
      if (recent === undefined) byBroker.set(id, (recent = new Recent()));
      recent.add(counter);
      return true;
    },
    // aedes forgets a broker that was born again (a restarted peer of a cluster).
    deleteProperty(_record, id) {
      if (typeof id === 'string') byBroker.delete(id);
      return true;
    },
  });
}

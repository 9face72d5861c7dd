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
 * persistent subscribers on the disk store, about 1 in 13 of a burst of tts' audio messages, each
 * overtaken by the small `speech` message published right after it.
 *
 * This makes aedes' check "delivered before", over the last DEDUPE_WINDOW deliveries per
 * originating broker: each delivery function, before aedes checks, sets the client's record to just
 * below the packet's counter, or to the counter itself for a packet already delivered. Install it on
 * the client `aedes.handle` returns, before the connection is read (subscriptions keep the
 * functions they found).
 */
export function dedupeInAnyOrder(client: Client): void {
  const target = client as unknown as { deliver0: Deliver; deliverQoS: Deliver; duplicates: Record<string, number> };
  const byBroker = new Map<string, Recent>();
  const deliver0 = target.deliver0;
  const deliverQoS = target.deliverQoS;
  const judge = (packet: Counted) => {
    const { brokerId: id, brokerCounter: counter } = packet;
    if (id === undefined || counter === undefined) return;
    let recent = byBroker.get(id);
    if (recent === undefined) byBroker.set(id, (recent = new Recent()));
    if (recent.has(counter)) {
      target.duplicates[id] = counter;
    } else {
      target.duplicates[id] = counter - 1;
      recent.add(counter);
    }
  };
  target.deliver0 = (packet, done) => {
    judge(packet);
    deliver0(packet, done);
  };
  // aedes hands a QoS 0 packet on to deliver0, which judges it.
  target.deliverQoS = (packet, done) => {
    if ((packet as { qos?: number }).qos !== 0) judge(packet);
    deliverQoS(packet, done);
  };
}

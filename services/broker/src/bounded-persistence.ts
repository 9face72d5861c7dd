import type { Readable } from 'node:stream';
import type { Logger } from '@sightline/kit';
import type { BrokerMetrics } from './metrics.ts';
import { createThrottledWarn } from './throttled-warn.ts';

/**
 * The persistence aedes 1.x talks to (aedes-persistence's in-memory store or
 * aedes-persistence-level), as far as Sightline relies on it.
 */
export interface StoredPacket {
  cmd?: string;
  topic: string;
  payload: Buffer;
  qos?: number;
  retain?: boolean;
  brokerId?: string;
  brokerCounter?: number;
  messageId?: number;
}

interface ClientRef {
  id: string;
}

export interface AsyncPersistence {
  setup(broker: unknown): Promise<void>;
  storeRetained(packet: StoredPacket): Promise<void>;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
  addSubscriptions(client: ClientRef, subs: unknown[]): Promise<void>;
  removeSubscriptions(client: ClientRef, topics: string[]): Promise<void>;
  subscriptionsByClient(client: ClientRef): Promise<unknown[]>;
  countOffline(): Promise<unknown>;
  subscriptionsByTopic(pattern: string): Promise<{ clientId: string }[]>;
  cleanSubscriptions(client: ClientRef): Promise<void>;
  outgoingEnqueue(sub: { clientId: string }, packet: StoredPacket): Promise<void>;
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: StoredPacket): Promise<unknown>;
  outgoingUpdate(client: ClientRef, packet: StoredPacket): Promise<void>;
  outgoingClearMessageId(client: ClientRef, packet: { messageId?: number }): Promise<StoredPacket | undefined>;
  outgoingStream(client: ClientRef): Readable;
  incomingStorePacket(client: ClientRef, packet: StoredPacket): Promise<void>;
  incomingGetPacket(client: ClientRef, packet: StoredPacket): Promise<StoredPacket>;
  incomingDelPacket(client: ClientRef, packet: StoredPacket): Promise<void>;
  cleanIncoming(client: ClientRef): Promise<void>;
  putWill(client: ClientRef, packet: StoredPacket): Promise<void>;
  getWill(client: ClientRef): Promise<StoredPacket | undefined>;
  delWill(client: ClientRef): Promise<StoredPacket | undefined>;
  streamWill(brokers: unknown): Readable;
  getClientList(topic: string): Readable;
  destroy(): Promise<void>;
}

export interface PersistenceCaps {
  /** Retained messages held at most. */
  maxRetained: number;
  /** Bytes (topic + payload, each message counted as at least RETAINED_MIN_CHARGE) of retained messages held at most. */
  maxRetainedBytes: number;
  /** Messages queued for one persistent session at most (QoS 1/2, sent or not yet acknowledged). */
  maxQueued: number;
  /** Bytes (topic + payload) queued for one persistent session at most. */
  maxQueuedBytes: number;
}

/**
 * Each retained message counts as at least this many bytes, so replacing small state (a
 * service's `online` by `offline`) never grows the total and is never refused at the cap.
 */
export const RETAINED_MIN_CHARGE = 1024;

/** aedes never gives a packet the identifier 0: it marks the one queued entry being dropped. */
const DROP_MESSAGE_ID = 0;

interface Queued {
  key: string;
  topic: string;
  brokerId: string;
  brokerCounter: number;
  messageId: number | undefined;
  bytes: number;
}

interface SessionQueue {
  /** In delivery order: the first is the oldest. */
  items: Map<string, Queued>;
  byMessageId: Map<number, string>;
  bytes: number;
  /** Drops of this session run one after another: each uses DROP_MESSAGE_ID. */
  drops: Promise<void>;
  pendingDrops: number;
}

export interface BoundedPersistenceOptions {
  caps: PersistenceCaps;
  metrics: BrokerMetrics;
  logger: Logger;
  /**
   * Client ids that may have messages queued from before this start (read once by `setup`).
   * Given, every queued message is known, and acknowledgements of clients with nothing queued
   * skip the store; a store that starts empty passes one that yields nothing.
   */
  queuedClientIds?: () => AsyncIterable<string>;
}

function queuedKey(packet: { brokerId?: string; brokerCounter?: number }): string {
  return `${packet.brokerId}:${packet.brokerCounter}`;
}

function bytesOf(packet: StoredPacket): number {
  return Buffer.byteLength(packet.topic) + packet.payload.length;
}

/**
 * Caps what clients can make the broker store: retained messages (count and bytes: a new
 * retained topic is refused at the cap, never an existing one evicted, and the message is still
 * delivered to the subscribers of the moment) and each persistent session's queue (count and
 * bytes: the oldest message is dropped). Refusals and drops are counted and logged. Everything
 * else goes to the wrapped persistence unchanged.
 */
export class BoundedPersistence implements AsyncPersistence {
  readonly #inner: AsyncPersistence;
  readonly #options: BoundedPersistenceOptions;
  readonly #warn: ReturnType<typeof createThrottledWarn>;
  readonly #retained = new Map<string, number>();
  #retainedBytes = 0;
  /** One entry per persistent session with something queued; sessions are capped (SIGHTLINE_BROKER_MAX_SESSIONS). */
  readonly #queues = new Map<string, SessionQueue>();

  constructor(inner: AsyncPersistence, options: BoundedPersistenceOptions) {
    this.#inner = inner;
    this.#options = options;
    this.#warn = createThrottledWarn(options.logger.child({ module: 'persistence' }));
  }

  get retained(): { count: number; bytes: number } {
    return { count: this.#retained.size, bytes: this.#retainedBytes };
  }

  queued(clientId: string): { count: number; bytes: number } {
    const queue = this.#queues.get(clientId);
    return { count: queue?.items.size ?? 0, bytes: queue?.bytes ?? 0 };
  }

  async setup(broker: unknown): Promise<void> {
    await this.#inner.setup(broker);
    for await (const packet of this.#inner.createRetainedStream('#') as AsyncIterable<StoredPacket>)
      this.#holdRetained(packet.topic, Math.max(RETAINED_MIN_CHARGE, bytesOf(packet)));
    if (this.#options.queuedClientIds !== undefined) {
      for await (const clientId of this.#options.queuedClientIds()) {
        for await (const packet of this.#inner.outgoingStream({ id: clientId }) as AsyncIterable<StoredPacket>) this.#track(clientId, packet);
      }
      for (const clientId of [...this.#queues.keys()]) await this.#trim(clientId);
    }
  }

  async storeRetained(packet: StoredPacket): Promise<void> {
    const { topic } = packet;
    const held = this.#retained.get(topic);
    if (packet.payload.length === 0) {
      if (held !== undefined) this.#releaseRetained(topic, held);
      return this.#inner.storeRetained(packet);
    }
    const charge = Math.max(RETAINED_MIN_CHARGE, bytesOf(packet));
    const { maxRetained, maxRetainedBytes } = this.#options.caps;
    const reason =
      held === undefined && this.#retained.size >= maxRetained
        ? 'count'
        : charge > (held ?? 0) && this.#retainedBytes - (held ?? 0) + charge > maxRetainedBytes
          ? 'bytes'
          : null;
    if (reason !== null) {
      this.#options.metrics.retainedRefused.inc({ reason });
      this.#warn(
        `retained-${reason}`,
        { topic, bytes: charge, retained: this.#retained.size, retainedBytes: this.#retainedBytes, maxRetained, maxRetainedBytes },
        'retained message refused at the cap (delivered, not kept)',
      );
      return;
    }
    if (held !== undefined) this.#releaseRetained(topic, held);
    this.#holdRetained(topic, charge);
    try {
      await this.#inner.storeRetained(packet);
    } catch (err) {
      this.#releaseRetained(topic, charge);
      if (held !== undefined) this.#holdRetained(topic, held);
      throw err;
    }
  }

  #holdRetained(topic: string, charge: number): void {
    this.#retained.set(topic, charge);
    this.#retainedBytes += charge;
    this.#options.metrics.retainedMessages.set(this.#retained.size);
    this.#options.metrics.retainedBytes.set(this.#retainedBytes);
  }

  #releaseRetained(topic: string, charge: number): void {
    this.#retained.delete(topic);
    this.#retainedBytes -= charge;
    this.#options.metrics.retainedMessages.set(this.#retained.size);
    this.#options.metrics.retainedBytes.set(this.#retainedBytes);
  }

  async outgoingEnqueue(sub: { clientId: string }, packet: StoredPacket): Promise<void> {
    await this.#inner.outgoingEnqueue(sub, packet);
    this.#track(sub.clientId, packet);
    await this.#trim(sub.clientId);
  }

  async outgoingEnqueueCombi(subs: { clientId: string }[], packet: StoredPacket): Promise<unknown> {
    if (subs.length === 0) return;
    await this.#inner.outgoingEnqueueCombi(subs, packet);
    for (const { clientId } of subs) this.#track(clientId, packet);
    await Promise.all(subs.map(({ clientId }) => this.#trim(clientId)));
  }

  async outgoingUpdate(client: ClientRef, packet: StoredPacket): Promise<void> {
    const key = packet.brokerId === undefined ? null : queuedKey(packet);
    try {
      await this.#inner.outgoingUpdate(client, packet);
    } catch (err) {
      // aedes gives a message its identifier as it sends it. One dropped at the cap meanwhile is
      // no longer stored ("no such packet"), and aedes would disconnect the client for that: it is
      // sent this once more instead, as it would have been a moment earlier.
      if (key !== null && this.#queues.get(client.id)?.items.has(key) !== true) return;
      throw err;
    }
    const queue = this.#queues.get(client.id);
    const item = key === null ? undefined : queue?.items.get(key);
    if (queue === undefined || item === undefined) return;
    if (item.messageId !== undefined) queue.byMessageId.delete(item.messageId);
    item.messageId = typeof packet.messageId === 'number' ? packet.messageId : undefined;
    if (item.messageId !== undefined) queue.byMessageId.set(item.messageId, item.key);
  }

  async outgoingClearMessageId(client: ClientRef, packet: { messageId?: number }): Promise<StoredPacket | undefined> {
    // aedes clears every PUBACK's identifier from the store, also for a clean session, whose
    // messages are never stored: with the store on disk that was a LevelDB read per QoS 1
    // message delivered. Every message queued for a client id is tracked here (loaded by setup,
    // added by the enqueues, kept until its removal from the store completes), so a client id
    // with nothing tracked has nothing stored to clear.
    if (this.#options.queuedClientIds !== undefined && !this.#queues.has(client.id)) return undefined;
    const removed = await this.#inner.outgoingClearMessageId(client, packet);
    const queue = this.#queues.get(client.id);
    if (removed !== undefined && queue !== undefined) {
      const item = queue.items.get(queuedKey(removed));
      if (item !== undefined) this.#forget(client.id, queue, item);
    }
    return removed;
  }

  #track(clientId: string, packet: StoredPacket): void {
    let queue = this.#queues.get(clientId);
    if (queue === undefined) {
      queue = { items: new Map(), byMessageId: new Map(), bytes: 0, drops: Promise.resolve(), pendingDrops: 0 };
      this.#queues.set(clientId, queue);
    }
    const key = queuedKey(packet);
    if (queue.items.has(key)) return;
    const item: Queued = {
      key,
      topic: packet.topic,
      brokerId: packet.brokerId!,
      brokerCounter: packet.brokerCounter!,
      // A packet read back from the level store has null for "no identifier yet".
      messageId: typeof packet.messageId === 'number' ? packet.messageId : undefined,
      bytes: bytesOf(packet),
    };
    queue.items.set(key, item);
    queue.bytes += item.bytes;
    if (item.messageId !== undefined) queue.byMessageId.set(item.messageId, key);
  }

  #forget(clientId: string, queue: SessionQueue, item: Queued): void {
    queue.items.delete(item.key);
    queue.bytes -= item.bytes;
    if (item.messageId !== undefined && queue.byMessageId.get(item.messageId) === item.key) queue.byMessageId.delete(item.messageId);
    if (queue.items.size === 0 && queue.pendingDrops === 0) this.#queues.delete(clientId);
  }

  /** Drops the oldest messages of a session over its caps, and resolves once they are gone from the store. */
  async #trim(clientId: string): Promise<void> {
    const queue = this.#queues.get(clientId);
    if (queue === undefined) return;
    const { maxQueued, maxQueuedBytes } = this.#options.caps;
    while (queue.items.size > maxQueued || queue.bytes > maxQueuedBytes) {
      const reason = queue.items.size > maxQueued ? 'count' : 'bytes';
      const oldest: Queued = queue.items.values().next().value!;
      queue.pendingDrops += 1;
      this.#forget(clientId, queue, oldest);
      this.#options.metrics.queueDrops.inc({ reason });
      this.#warn(
        `queue-${reason}`,
        { clientId, topic: oldest.topic, bytes: oldest.bytes, queued: queue.items.size, queuedBytes: queue.bytes, maxQueued, maxQueuedBytes },
        'session queue full: dropped its oldest message',
      );
      queue.drops = queue.drops
        .then(() => this.#remove(clientId, oldest))
        .finally(() => {
          queue.pendingDrops -= 1;
          if (queue.items.size === 0 && queue.pendingDrops === 0 && this.#queues.get(clientId) === queue) this.#queues.delete(clientId);
        });
    }
    await queue.drops;
  }

  /** Removes one queued message from the store through the persistence's own API (give it an identifier, then clear it). */
  async #remove(clientId: string, item: Queued): Promise<void> {
    const client = { id: clientId };
    try {
      if (item.messageId !== undefined && item.messageId !== DROP_MESSAGE_ID) {
        await this.#inner.outgoingClearMessageId(client, { messageId: item.messageId });
        return;
      }
      const marker: StoredPacket = {
        cmd: 'publish',
        topic: item.topic,
        payload: Buffer.alloc(0),
        qos: 1,
        retain: false,
        brokerId: item.brokerId,
        brokerCounter: item.brokerCounter,
        messageId: DROP_MESSAGE_ID,
      };
      await this.#inner.outgoingUpdate(client, marker);
      await this.#inner.outgoingClearMessageId(client, { messageId: DROP_MESSAGE_ID });
    } catch (err) {
      // Already delivered and acknowledged meanwhile: nothing left to drop.
      this.#options.logger.debug({ err: { message: (err as Error).message }, clientId }, 'queued message to drop was already gone');
    }
  }

  createRetainedStream(pattern: string): Readable {
    return this.#inner.createRetainedStream(pattern);
  }
  createRetainedStreamCombi(patterns: string[]): Readable {
    return this.#inner.createRetainedStreamCombi(patterns);
  }
  addSubscriptions(client: ClientRef, subs: unknown[]): Promise<void> {
    return this.#inner.addSubscriptions(client, subs);
  }
  removeSubscriptions(client: ClientRef, topics: string[]): Promise<void> {
    return this.#inner.removeSubscriptions(client, topics);
  }
  subscriptionsByClient(client: ClientRef): Promise<unknown[]> {
    return this.#inner.subscriptionsByClient(client);
  }
  countOffline(): Promise<unknown> {
    return this.#inner.countOffline();
  }
  subscriptionsByTopic(pattern: string): Promise<{ clientId: string }[]> {
    return this.#inner.subscriptionsByTopic(pattern);
  }
  cleanSubscriptions(client: ClientRef): Promise<void> {
    return this.#inner.cleanSubscriptions(client);
  }
  outgoingStream(client: ClientRef): Readable {
    return this.#inner.outgoingStream(client);
  }
  incomingStorePacket(client: ClientRef, packet: StoredPacket): Promise<void> {
    return this.#inner.incomingStorePacket(client, packet);
  }
  incomingGetPacket(client: ClientRef, packet: StoredPacket): Promise<StoredPacket> {
    return this.#inner.incomingGetPacket(client, packet);
  }
  incomingDelPacket(client: ClientRef, packet: StoredPacket): Promise<void> {
    return this.#inner.incomingDelPacket(client, packet);
  }
  cleanIncoming(client: ClientRef): Promise<void> {
    return this.#inner.cleanIncoming(client);
  }
  putWill(client: ClientRef, packet: StoredPacket): Promise<void> {
    return this.#inner.putWill(client, packet);
  }
  getWill(client: ClientRef): Promise<StoredPacket | undefined> {
    return this.#inner.getWill(client);
  }
  delWill(client: ClientRef): Promise<StoredPacket | undefined> {
    return this.#inner.delWill(client);
  }
  streamWill(brokers: unknown): Readable {
    return this.#inner.streamWill(brokers);
  }
  getClientList(topic: string): Readable {
    return this.#inner.getClientList(topic);
  }
  destroy(): Promise<void> {
    return this.#inner.destroy();
  }
}

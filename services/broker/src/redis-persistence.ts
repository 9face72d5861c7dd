import { Readable } from 'node:stream';
import AsyncRedisPersistence from 'aedes-persistence-redis/asyncPersistence.js';
import type { Redis } from 'ioredis';
import { BoundedMap, type Logger } from '@sightline/kit';
import { RETAINED_MIN_CHARGE, type AsyncPersistence, type PersistenceCaps, type StoredPacket } from './bounded-persistence.ts';
import type { BrokerMetrics } from './metrics.ts';
import { defineScript, type Script } from './redis.ts';
import { createThrottledWarn } from './throttled-warn.ts';

/** aedes-persistence-redis 12 as it is: AsyncPersistence, but async generators where aedes 1.x pipes streams. */
type GeneratorPersistence = {
  [K in keyof AsyncPersistence]: AsyncPersistence[K] extends (...args: infer A) => Readable
    ? (...args: A) => AsyncIterable<unknown> | Iterable<unknown>
    : AsyncPersistence[K];
};

interface ClientRef {
  id: string;
}

/** Retained charges (topic -> bytes charged) and their total: the cap is the cluster's, not one broker's. */
const RETAINED_CHARGES_KEY = 'sightline:retained-charges';
const RETAINED_BYTES_KEY = 'sightline:retained-bytes';
/** Per session (encoded id as aedes-persistence-redis encodes it): hash of queued packet (broker:counter) -> bytes. */
const QUEUED_ITEMS_PREFIX = 'sightline:queued:';
/** Session (encoded id) -> bytes queued. */
const QUEUED_BYTES_KEY = 'sightline:queued-bytes';

/** Sets a topic's charge (0: none), keeping the total; with ARGV[3..4] (caps) refuses instead of exceeding them. Returns {refusal or '', previous charge, count, bytes}. */
const CHARGE_RETAINED = `
local held = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local charge = tonumber(ARGV[2])
local total = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[3] then
  if held == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return {'count', held, redis.call('HLEN', KEYS[1]), total} end
  if charge > held and total - held + charge > tonumber(ARGV[4]) then return {'bytes', held, redis.call('HLEN', KEYS[1]), total} end
end
if charge == 0 then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], charge) end
total = redis.call('INCRBY', KEYS[2], charge - held)
return {'', held, redis.call('HLEN', KEYS[1]), total}
`;

/**
 * Charges a packet just queued (ARGV[1] broker:counter, ARGV[2] bytes) to each session (ARGV[5..],
 * encoded ids), then drops each session's oldest entries over the caps (ARGV[3] count, ARGV[4]
 * bytes) the way aedes-persistence-redis would clear them: off the session's list, and the shared
 * packet deleted with its last reference. Returns {encoded id, reason, broker:counter} per drop.
 */
const ENQUEUE = `
local ref, bytes, maxCount, maxBytes = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local dropped = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  local list, items = 'outgoing:' .. id, '${QUEUED_ITEMS_PREFIX}' .. id
  if redis.call('HSETNX', items, ref, bytes) == 1 then redis.call('HINCRBY', KEYS[1], id, bytes) end
  while true do
    local count = redis.call('LLEN', list)
    local total = tonumber(redis.call('HGET', KEYS[1], id) or '0')
    local reason
    if count > maxCount then reason = 'count' elseif count > 0 and total > maxBytes then reason = 'bytes' else break end
    local oldest = redis.call('LPOP', list)
    local broker, counter = string.match(oldest, '([^:]+):([^:]+)$')
    local oldRef = broker .. ':' .. counter
    redis.call('HINCRBY', KEYS[1], id, -tonumber(redis.call('HGET', items, oldRef) or '0'))
    redis.call('HDEL', items, oldRef)
    -- A QoS 2 entry is the session's own copy of the packet.
    if string.sub(oldest, 1, 9) == 'outgoing:' then redis.call('DEL', oldest) end
    local packet = 'packet:' .. oldRef
    if redis.call('DECR', packet .. ':offlineCount') <= 0 then redis.call('DEL', packet, packet .. ':offlineCount') end
    table.insert(dropped, id)
    table.insert(dropped, reason)
    table.insert(dropped, oldRef)
  end
end
return dropped
`;

/** Uncharges one delivered packet; 1 if it was still charged, 0 if a drop at the cap took it first. Forgets the session once its list is gone. */
const FORGET_QUEUED = `
local items = '${QUEUED_ITEMS_PREFIX}' .. ARGV[1]
local held = redis.call('HGET', items, ARGV[2] or '')
if held then
  redis.call('HDEL', items, ARGV[2])
  redis.call('HINCRBY', KEYS[1], ARGV[1], -tonumber(held))
end
if redis.call('EXISTS', 'outgoing:' .. ARGV[1]) == 0 then
  redis.call('DEL', items)
  redis.call('HDEL', KEYS[1], ARGV[1])
end
if held then return 1 end
return 0
`;

export interface RedisPersistenceOptions {
  caps: PersistenceCaps;
  metrics: BrokerMetrics;
  logger: Logger;
}

function refOf(packet: { brokerId?: string; brokerCounter?: number | string }): string {
  return `${packet.brokerId}:${packet.brokerCounter}`;
}

function bytesOf(packet: StoredPacket): number {
  return Buffer.byteLength(packet.topic) + packet.payload.length;
}

/**
 * aedes-persistence-redis for a cluster of brokers, adapted to aedes 1.x (its generators become
 * object streams) and with the caps of BoundedPersistence kept in Redis beside the data: one
 * broker's tally in memory would miss what the others store and deliver. Retained messages:
 * count and bytes, a new topic refused at the cap (still delivered). Each persistent session's
 * queue: count and bytes, the oldest dropped. Counts and drops go to the same metrics.
 */
export class RedisPersistence implements AsyncPersistence {
  readonly #inner: GeneratorPersistence;
  readonly #redis: Redis;
  readonly #options: RedisPersistenceOptions;
  readonly #warn: ReturnType<typeof createThrottledWarn>;
  readonly #chargeRetained: Script;
  readonly #enqueue: Script;
  readonly #forgetQueued: Script;
  /** The packet behind each message id this broker sent and awaits a PUBACK for (session id, message id). */
  readonly #inFlight: BoundedMap<string, string>;

  constructor(redis: Redis, options: RedisPersistenceOptions) {
    this.#inner = new AsyncRedisPersistence({ conn: redis, maxSessionDelivery: options.caps.maxQueued }) as unknown as GeneratorPersistence;
    this.#redis = redis;
    this.#options = options;
    this.#warn = createThrottledWarn(options.logger.child({ module: 'persistence' }));
    this.#chargeRetained = defineScript(redis, 'sightlineChargeRetained', 2, CHARGE_RETAINED);
    this.#enqueue = defineScript(redis, 'sightlineEnqueue', 1, ENQUEUE);
    this.#forgetQueued = defineScript(redis, 'sightlineForgetQueued', 1, FORGET_QUEUED);
    // As many as aedes-persistence-redis keeps in its own message id cache.
    this.#inFlight = new BoundedMap({ name: 'broker-in-flight', maxEntries: 100_000, registry: options.metrics.registry });
  }

  async setup(broker: unknown): Promise<void> {
    await this.#inner.setup(broker);
    const [count, bytes] = await Promise.all([this.#redis.hlen(RETAINED_CHARGES_KEY), this.#redis.get(RETAINED_BYTES_KEY)]);
    this.#retainedGauges(count, Number(bytes ?? 0));
  }

  #retainedGauges(count: number, bytes: number): void {
    this.#options.metrics.retainedMessages.set(count);
    this.#options.metrics.retainedBytes.set(bytes);
  }

  async storeRetained(packet: StoredPacket): Promise<void> {
    const { topic } = packet;
    const { maxRetained, maxRetainedBytes } = this.#options.caps;
    const charge = packet.payload.length === 0 ? 0 : Math.max(RETAINED_MIN_CHARGE, bytesOf(packet));
    const caps = charge === 0 ? [] : [maxRetained, maxRetainedBytes];
    const [refusal, held, count, bytes] = (await this.#chargeRetained(RETAINED_CHARGES_KEY, RETAINED_BYTES_KEY, topic, charge, ...caps)) as [
      string,
      number,
      number,
      number,
    ];
    this.#retainedGauges(count, bytes);
    if (refusal !== '') {
      this.#options.metrics.retainedRefused.inc({ reason: refusal });
      this.#warn(
        `retained-${refusal}`,
        { topic, bytes: charge, retained: count, retainedBytes: bytes, maxRetained, maxRetainedBytes },
        'retained message refused at the cap (delivered, not kept)',
      );
      return;
    }
    try {
      await this.#inner.storeRetained(packet);
    } catch (err) {
      await this.#chargeRetained(RETAINED_CHARGES_KEY, RETAINED_BYTES_KEY, topic, held);
      throw err;
    }
  }

  async outgoingEnqueue(sub: { clientId: string }, packet: StoredPacket): Promise<void> {
    await this.outgoingEnqueueCombi([sub], packet);
  }

  async outgoingEnqueueCombi(subs: { clientId: string }[], packet: StoredPacket): Promise<unknown> {
    if (subs.length === 0) return;
    await this.#inner.outgoingEnqueueCombi(subs, packet);
    const { maxQueued, maxQueuedBytes } = this.#options.caps;
    const ids = [...new Set(subs.map((sub) => encodeURIComponent(sub.clientId)))];
    const dropped = (await this.#enqueue(QUEUED_BYTES_KEY, refOf(packet), bytesOf(packet), maxQueued, maxQueuedBytes, ...ids)) as string[];
    for (let i = 0; i < dropped.length; i += 3) {
      const [id, reason, ref] = [decodeURIComponent(dropped[i]!), dropped[i + 1]!, dropped[i + 2]!];
      this.#options.metrics.queueDrops.inc({ reason });
      this.#warn(`queue-${reason}`, { clientId: id, packet: ref, maxQueued, maxQueuedBytes }, 'session queue full: dropped its oldest message');
    }
    return;
  }

  async outgoingUpdate(client: ClientRef, packet: StoredPacket): Promise<void> {
    await this.#inner.outgoingUpdate(client, packet);
    if (packet.brokerId !== undefined && typeof packet.messageId === 'number') this.#inFlight.set(`${client.id}\n${packet.messageId}`, refOf(packet));
  }

  async outgoingClearMessageId(client: ClientRef, packet: { messageId?: number }): Promise<StoredPacket | undefined> {
    const key = `${client.id}\n${packet.messageId}`;
    const ref = this.#inFlight.get(key);
    this.#inFlight.delete(key);
    const id = encodeURIComponent(client.id);
    // Dropped at the cap while it was on its way: clearing it again would take a second reference off a packet other sessions may still hold.
    if (ref !== undefined && (await this.#forgetQueued(QUEUED_BYTES_KEY, id, ref)) === 0) return undefined;
    const removed = (await this.#inner.outgoingClearMessageId(client, packet)) as StoredPacket | undefined;
    if (ref === undefined && removed !== undefined) await this.#forgetQueued(QUEUED_BYTES_KEY, id, refOf(removed));
    return removed;
  }

  async removeSubscriptions(client: ClientRef, topics: string[]): Promise<void> {
    await this.#inner.removeSubscriptions(client, topics);
    // With its last subscription the session's queue is deleted: so is its charge.
    await this.#forgetQueued(QUEUED_BYTES_KEY, encodeURIComponent(client.id));
  }

  async cleanSubscriptions(client: ClientRef): Promise<void> {
    await this.#inner.cleanSubscriptions(client);
    await this.#forgetQueued(QUEUED_BYTES_KEY, encodeURIComponent(client.id));
  }

  createRetainedStream(pattern: string): Readable {
    return this.#retained(this.#inner.createRetainedStream(pattern), [pattern]);
  }
  createRetainedStreamCombi(patterns: string[]): Readable {
    return this.#retained(this.#inner.createRetainedStreamCombi(patterns), patterns);
  }
  /**
   * aedes pipes a subscription's retained messages with no error handler: a read failing (Redis
   * away mid-subscribe) would be an uncaught exception, the broker down. It ends the stream
   * instead; the subscription stands, without those retained messages.
   */
  #retained(source: AsyncIterable<unknown> | Iterable<unknown>, patterns: string[]): Readable {
    const warn = this.#warn;
    return Readable.from(
      (async function* () {
        try {
          yield* source;
        } catch (err) {
          warn('retained-read', { patterns, err: { message: (err as Error).message } }, 'retained messages could not be read for a subscription');
        }
      })(),
    );
  }
  outgoingStream(client: ClientRef): Readable {
    return Readable.from(this.#inner.outgoingStream(client));
  }
  streamWill(brokers: unknown): Readable {
    return Readable.from(this.#inner.streamWill(brokers));
  }
  getClientList(topic: string): Readable {
    return Readable.from(this.#inner.getClientList(topic));
  }
  addSubscriptions(client: ClientRef, subs: unknown[]): Promise<void> {
    return this.#inner.addSubscriptions(client, subs);
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
  /** Unsubscribes from the other brokers' subscription news and disconnects its Redis connection. */
  destroy(): Promise<void> {
    return this.#inner.destroy();
  }
}

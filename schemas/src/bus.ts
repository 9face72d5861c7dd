import type { IClientPublishOptions, MqttClient } from 'mqtt';
import { Counter, type Registry } from 'prom-client';
import type { Channel } from './channel.ts';
import { PayloadError } from './errors.ts';
import type { Party } from './parties.ts';
import type { Topics } from './topics.ts';

/** The part of a pino logger the bus needs. */
export interface BusLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** How a message came: `retain` is set when the broker sent a stored retained message (on subscribing), not a live one. */
export interface MessageMeta {
  retain: boolean;
}

export type Handler<T, P extends string> = (payload: T, params: Record<P, string>, topic: string, meta: MessageMeta) => void | Promise<void>;

/** Told of a message that failed validation (after it was counted and logged), to answer its sender. */
export type InvalidHandler<P extends string> = (error: PayloadError, params: Record<P, string>, topic: string) => void;

export interface SubscribeOptions<P extends string> {
  onInvalid?: InvalidHandler<P>;
}

export interface Bus {
  readonly topics: Topics;
  /**
   * Encodes (validating) and publishes; QoS and retain come from the channel. Resolves with the
   * payload size once sent (QoS 0) or acknowledged (QoS 1). Rejects, and never queues, while
   * disconnected or when the payload or topic is invalid.
   */
  publish<T, P extends string>(channel: Channel<T, P>, params: Record<P, string>, payload: T, options?: Pick<IClientPublishOptions, 'retain'>): Promise<number>;
  /**
   * Subscribes and resolves once the broker granted it. Payloads that fail validation are
   * logged, counted and dropped; a throwing handler is logged and counted. Neither reaches the caller.
   */
  subscribe<T, P extends string>(
    channel: Channel<T, P>,
    params: Partial<Record<P, string>>,
    handler: Handler<T, P>,
    options?: SubscribeOptions<P>,
  ): Promise<void>;
  /** True while connected with every subscription granted since the last (re)connect. */
  ready(): boolean;
}

export interface BusOptions {
  client: MqttClient;
  topics: Topics;
  logger: BusLogger;
  registry?: Registry;
  /**
   * The service this bus belongs to. Publishing a channel that does not list it among its
   * publishers, or subscribing to one that does not list it among its subscribers, is refused
   * here with the reason, as the broker would refuse it silently with the rights derived from the
   * same lists. Without it (tools, tests, integrators) the bus checks nothing.
   */
  party?: Party;
}

interface Subscription {
  channel: Channel<unknown, string>;
  filter: string;
  /** The topic levels the subscriber fixed; a message on the same channel with others is not for it. */
  fixed: Array<[string, string]>;
  handler: Handler<unknown, string>;
  onInvalid: InvalidHandler<string> | undefined;
  granted: boolean;
  waiters: Array<{ resolve: () => void; reject: (err: Error) => void }>;
}

const counters = new WeakMap<Registry, ReturnType<typeof makeCounters>>();

function makeCounters(registry: Registry | undefined) {
  const registers = registry ? [registry] : [];
  return {
    received: new Counter({ name: 'sightline_bus_messages_received_total', help: 'Messages received and decoded', labelNames: ['channel'], registers }),
    published: new Counter({ name: 'sightline_bus_messages_published_total', help: 'Messages published', labelNames: ['channel'], registers }),
    dropped: new Counter({
      name: 'sightline_bus_messages_dropped_total',
      help: 'Received messages dropped because their payload was invalid',
      labelNames: ['channel', 'reason'],
      registers,
    }),
    handlerErrors: new Counter({ name: 'sightline_bus_handler_errors_total', help: 'Messages whose handler threw', labelNames: ['channel'], registers }),
  };
}

export function createBus({ client, topics, logger, registry, party }: BusOptions): Bus {
  let metrics = registry ? counters.get(registry) : undefined;
  if (!metrics) {
    metrics = makeCounters(registry);
    if (registry) counters.set(registry, metrics);
  }
  const { received, published, dropped, handlerErrors } = metrics;
  const subscriptions: Subscription[] = [];

  function grant(subscription: Subscription): void {
    client.subscribe(subscription.filter, { qos: subscription.channel.qos }, (err, granted) => {
      const refused = granted?.some((g) => g.qos === 128);
      if (err || refused) {
        const error = new Error(`broker refused subscription to ${subscription.filter}${err ? `: ${err.message}` : ''}`);
        logger.error({ err: error, filter: subscription.filter }, 'subscription failed');
        for (const waiter of subscription.waiters.splice(0)) waiter.reject(error);
        return;
      }
      subscription.granted = true;
      for (const waiter of subscription.waiters.splice(0)) waiter.resolve();
    });
  }

  client.on('connect', () => {
    for (const subscription of subscriptions) {
      subscription.granted = false;
      grant(subscription);
    }
  });

  client.on('message', (topic, payload, packet) => {
    for (const subscription of subscriptions) {
      const params = topics.match(subscription.channel, topic) as Record<string, string> | null;
      if (params === null || subscription.fixed.some(([name, value]) => params[name] !== value)) continue;
      const { channel } = subscription;
      let value: unknown;
      try {
        value = channel.codec.decode(payload);
      } catch (err) {
        const error = err instanceof PayloadError ? err : new PayloadError('invalid', (err as Error).message);
        dropped.inc({ channel: channel.name, reason: error.fault });
        logger.warn({ topic, bytes: payload.length, reason: error.fault, detail: error.message }, 'dropped invalid message');
        try {
          subscription.onInvalid?.(error, params, topic);
        } catch (hookErr) {
          handlerErrors.inc({ channel: channel.name });
          logger.error({ err: hookErr, topic }, 'invalid-message handler failed');
        }
        continue;
      }
      received.inc({ channel: channel.name });
      try {
        const result = subscription.handler(value, params, topic, { retain: packet.retain });
        if (result instanceof Promise) {
          result.catch((err: unknown) => {
            handlerErrors.inc({ channel: channel.name });
            logger.error({ err, topic }, 'message handler failed');
          });
        }
      } catch (err) {
        handlerErrors.inc({ channel: channel.name });
        logger.error({ err, topic }, 'message handler failed');
      }
    }
  });

  return {
    topics,
    publish(channel, params, payload, options = {}) {
      return new Promise<number>((resolve, reject) => {
        if (party !== undefined && !channel.publishers.includes(party)) {
          return reject(
            new Error(`${party} does not publish ${channel.name} (its publishers are ${channel.publishers.join(', ')}; see schemas/src/channels.ts)`),
          );
        }
        const topic = topics.topic(channel, params);
        const bytes = channel.codec.encode(payload);
        if (!client.connected) return reject(new Error(`not connected: ${topic} not published`));
        // mqtt.js waits for 'drain' on a full socket and never calls back if the connection dies
        // meanwhile; the close settles the promise instead.
        const onClose = () => reject(new Error(`connection closed before ${topic} was published`));
        client.once('close', onClose);
        client.publish(topic, bytes, { qos: channel.qos, retain: options.retain ?? channel.retain }, (err) => {
          client.removeListener('close', onClose);
          if (err) return reject(err);
          published.inc({ channel: channel.name });
          resolve(bytes.length);
        });
      });
    },
    subscribe(channel, params, handler, options = {}) {
      if (party !== undefined && !(channel.subscribers as readonly string[]).includes(party)) {
        return Promise.reject(
          new Error(
            `${party} does not subscribe to ${channel.name} (its subscribers are ${channel.subscribers.join(', ') || 'none'}; see schemas/src/channels.ts)`,
          ),
        );
      }
      const subscription: Subscription = {
        channel: channel as Channel<unknown, string>,
        filter: topics.filter(channel, params),
        fixed: Object.entries((params ?? {}) as Record<string, string | undefined>).filter((entry): entry is [string, string] => entry[1] !== undefined),
        handler: handler as Handler<unknown, string>,
        onInvalid: options.onInvalid as InvalidHandler<string> | undefined,
        granted: false,
        waiters: [],
      };
      subscriptions.push(subscription);
      return new Promise<void>((resolve, reject) => {
        subscription.waiters.push({ resolve, reject });
        if (client.connected) grant(subscription);
      });
    },
    ready() {
      return client.connected && subscriptions.every((s) => s.granted);
    },
  };
}

import { Counter, Gauge } from 'prom-client';
import type { Logger } from 'pino';
import { createRuntime, type Runtime } from '@sightline/kit';
import { channels, channelsSubscribedBy, createTopics, PayloadError, type Channel, type UplinkState } from '@sightline/schemas';
import type { UplinkConfig } from './config.ts';
import { Forwarder, type Link } from './forwarder.ts';
import { DiskQueue } from './queue.ts';

export interface UplinkDeps {
  now?: () => number;
}

export interface UplinkApp {
  readonly runtime: Runtime;
  readonly queue: DiskQueue;
  /** What the retained `services/uplink/state` and `GET /status` say. */
  state(): UplinkState;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A bad message is logged at most this often per channel and reason (it is counted every time). */
const LOG_EVERY_MS = 10_000;

export function createUplinkApp(config: UplinkConfig, logger: Logger, deps: UplinkDeps = {}): UplinkApp {
  const now = deps.now ?? Date.now;
  const log = logger.child({ module: 'uplink' });
  const forwarded = new Set<string>(config.channels.map((channel) => channel.name));
  // What the local broker refused or has not yet granted, by filter: the uplink is not ready until it reads all it forwards.
  const subscriptions = new Map<string, 'pending' | 'granted' | 'refused'>();

  const runtime = createRuntime({
    service: 'uplink',
    logger,
    mqtt: config.mqtt,
    http: config.http,
    mqttSession: { clientId: config.localClientId },
    notReadyReason: () => {
      const refused = [...subscriptions].filter(([, state]) => state === 'refused').map(([filter]) => filter);
      if (refused.length > 0) return `the local broker refused the uplink read access to ${refused.join(', ')}`;
      if ([...subscriptions.values()].some((state) => state !== 'granted')) return 'subscriptions to the local broker not yet granted';
      if (forwarder.link.state === 'refused') return forwarder.link.reason ?? 'upstream refused the connection';
      return null;
    },
  });
  const upstreamTopics = createTopics(config.upstream.topicPrefix);
  const counts = { forwarded: 0, dropped: { overflow: 0, tooLarge: 0, corrupt: 0 } };

  const registers = [runtime.registry];
  const metrics = {
    queued: new Counter({
      name: 'sightline_uplink_messages_queued_total',
      help: 'Messages taken from the local broker into the queue, by channel',
      labelNames: ['channel'],
      registers,
    }),
    forwarded: new Counter({ name: 'sightline_uplink_messages_forwarded_total', help: 'Messages the upstream has (acknowledged at QoS 1)', registers }),
    dropped: new Counter({
      name: 'sightline_uplink_messages_dropped_total',
      help: 'Messages lost: the oldest dropped when the queue was over its limit (overflow), larger than the whole queue (too-large), or not writable to disk (disk)',
      labelNames: ['reason'],
      registers,
    }),
    corrupt: new Counter({
      name: 'sightline_uplink_queue_corrupt_total',
      help: 'Unreadable stretches of the queue files, skipped (a torn last write after a power cut, a damaged disk)',
      registers,
    }),
    corruptBytes: new Counter({ name: 'sightline_uplink_queue_corrupt_bytes_total', help: 'Bytes of the queue files skipped as unreadable', registers }),
    failures: new Counter({
      name: 'sightline_uplink_upstream_failures_total',
      help: 'Connections to the upstream that failed or were lost: refused (credentials, certificate) or unreachable',
      labelNames: ['kind'],
      registers,
    }),
    connected: new Gauge({
      name: 'sightline_uplink_upstream_connected',
      help: '1 while connected to the upstream broker',
      registers,
      collect() {
        this.set(forwarder.link.state === 'connected' ? 1 : 0);
      },
    }),
    queueMessages: new Gauge({
      name: 'sightline_uplink_queue_messages',
      help: 'Messages waiting on disk to go upstream',
      registers,
      collect() {
        this.set(queue.messages);
      },
    }),
    queueBytes: new Gauge({
      name: 'sightline_uplink_queue_bytes',
      help: 'Bytes of the messages waiting on disk',
      registers,
      collect() {
        this.set(queue.bytes);
      },
    }),
    oldestAge: new Gauge({
      name: 'sightline_uplink_queue_oldest_age_seconds',
      help: 'How long the oldest waiting message has waited (0 when none waits)',
      registers,
      collect() {
        const oldest = queue.oldestAt;
        this.set(oldest === null ? 0 : Math.max(0, (now() - oldest) / 1000));
      },
    }),
  };
  for (const reason of ['overflow', 'too-large', 'disk']) metrics.dropped.inc({ reason }, 0);
  for (const kind of ['refused', 'unreachable']) metrics.failures.inc({ kind }, 0);
  // The house counter of bad messages, registered by the runtime's bus.
  const invalid = runtime.registry.getSingleMetric('sightline_bus_messages_dropped_total') as Counter<'channel' | 'reason'>;

  const queue = new DiskQueue({
    dir: config.queue.dir,
    maxMessages: config.queue.maxMessages,
    maxBytes: config.queue.maxBytes,
    logger: log,
    now,
    onDrop: (reason, messages, bytes) => {
      if (reason === 'overflow') counts.dropped.overflow += messages;
      else counts.dropped.tooLarge += messages;
      metrics.dropped.inc({ reason }, messages);
      throttled(`drop:${reason}`, () =>
        log.warn(
          { reason, messages, bytes, limits: { messages: config.queue.maxMessages, bytes: config.queue.maxBytes } },
          reason === 'overflow' ? 'queue full: oldest messages dropped' : 'message larger than the whole queue: dropped',
        ),
      );
    },
    onCorrupt: (_segment, _offset, bytes) => {
      counts.dropped.corrupt += 1;
      metrics.corrupt.inc();
      metrics.corruptBytes.inc(bytes);
    },
  });

  const forwarder = new Forwarder({
    settings: config.upstream,
    queue,
    logger: log,
    retry: config.retry,
    now,
    onForwarded: () => {
      counts.forwarded += 1;
      metrics.forwarded.inc();
    },
    onLinkChange: (link: Link) => {
      if (link.state === 'refused' || link.state === 'unreachable') metrics.failures.inc({ kind: link.state });
      publishState();
    },
  });

  const lastLogged = new Map<string, number>();
  function throttled(key: string, write: () => void): void {
    const at = now();
    if (at - (lastLogged.get(key) ?? -Infinity) < LOG_EVERY_MS) return;
    if (lastLogged.size > 256) lastLogged.clear();
    lastLogged.set(key, at);
    write();
  }

  function state(): UplinkState {
    const link = forwarder.link;
    const oldestAt = queue.oldestAt;
    return {
      upstream: {
        url: config.upstream.shownUrl,
        state: link.state,
        ...(link.reason !== undefined ? { reason: link.reason.slice(0, 500) } : {}),
        since: link.since,
      },
      queue: { messages: queue.messages, bytes: queue.bytes, ...(oldestAt !== null ? { oldestAt } : {}) },
      forwarded: counts.forwarded,
      dropped: { ...counts.dropped },
      at: now(),
    };
  }

  let lastPublished = '';
  function publishState(): void {
    if (!runtime.client.connected) return;
    const current = state();
    const { at: _at, ...compared } = current;
    const key = JSON.stringify(compared);
    if (key === lastPublished) return;
    lastPublished = key;
    runtime.bus.publish(channels.uplinkState, {}, current).catch((err: unknown) => {
      lastPublished = '';
      log.debug({ err: { message: (err as Error).message } }, 'uplink state not published');
    });
  }

  /** Takes one message from the local broker into the queue, if it is on a forwarded channel and valid. */
  function onLocalMessage(topic: string, payload: Buffer): void {
    for (const channel of config.channels) {
      const params = runtime.topics.match(channel, topic);
      if (params === null) continue;
      // The upstream connection's own will and `online` say whether the uplink is there.
      if (channel === (channels.availability as Channel<unknown, string>) && params['service'] === 'uplink') return;
      // An empty retained payload clears the topic: the upstream copy is cleared too.
      if (!(payload.length === 0 && channel.retain)) {
        try {
          channel.codec.decode(payload);
        } catch (err) {
          const fault = err instanceof PayloadError ? err.fault : 'invalid';
          invalid.inc({ channel: channel.name, reason: fault });
          throttled(`invalid:${channel.name}:${fault}`, () =>
            log.warn({ topic, bytes: payload.length, reason: fault, detail: (err as Error).message.slice(0, 300) }, 'invalid message not forwarded'),
          );
          return;
        }
      }
      try {
        queue.append({ topic: upstreamTopics.topic(channel, params), payload, retain: channel.retain, at: now() });
      } catch (err) {
        metrics.dropped.inc({ reason: 'disk' });
        throttled('disk', () => log.error({ err, topic }, 'cannot write to the queue: message lost'));
        return;
      }
      metrics.queued.inc({ channel: channel.name });
      forwarder.kick();
      return;
    }
  }

  function subscribeAll(): void {
    for (const channel of config.channels) {
      const filter = runtime.topics.filter(channel);
      subscriptions.set(filter, 'pending');
      runtime.client.subscribe(filter, { qos: channel.qos }, (err, granted) => {
        if (err || granted?.some((g) => g.qos === 128)) {
          subscriptions.set(filter, 'refused');
          const hint = (channelsSubscribedBy('uplink') as Channel<unknown, string>[]).includes(channel)
            ? 'check the uplink user rights in the broker users file'
            : `${channel.name} is not among the uplink's channels in schemas/src/channels.ts, so the uplink broker user needs read access to ${filter} given by hand`;
          log.error(
            { filter, err: err ? { message: err.message } : undefined },
            `local broker refused the subscription: nothing on ${channel.name} is forwarded (${hint})`,
          );
          return;
        }
        subscriptions.set(filter, 'granted');
      });
    }
  }

  let statusTimer: NodeJS.Timeout | undefined;
  let started = false;
  runtime.http.get('/status', async () => state());

  return {
    runtime,
    queue,
    state,
    async start() {
      queue.open();
      runtime.client.on('connect', () => {
        subscribeAll();
        lastPublished = '';
        publishState();
      });
      runtime.client.on('message', onLocalMessage);
      started = true;
      await runtime.start();
      forwarder.start();
      const notForwarded = config.channels.filter((channel) => !(channelsSubscribedBy('uplink') as Channel<unknown, string>[]).includes(channel));
      log.info(
        {
          upstream: config.upstream.shownUrl,
          prefix: config.upstream.topicPrefix,
          channels: [...forwarded],
          qos: config.upstream.qos,
          queue: { dir: config.queue.dir, maxMessages: config.queue.maxMessages, maxBytes: config.queue.maxBytes },
        },
        'forwarding',
      );
      if (notForwarded.length > 0) {
        log.warn(
          { channels: notForwarded.map((channel) => channel.name) },
          "channels beyond the uplink's own (schemas/src/channels.ts): its broker user must be given read access to them by hand",
        );
      }
      statusTimer = setInterval(publishState, config.statusMs);
      statusTimer.unref();
    },
    async stop() {
      clearInterval(statusTimer);
      await forwarder.stop();
      if (started) {
        publishState();
        await runtime.stop();
      }
      queue.close();
    },
  };
}

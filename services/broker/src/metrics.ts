import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

/**
 * What is counted for every message: plain numbers on the hot path, added to their counters
 * when the registry is read. A prom-client inc() per message and per delivery (four of them)
 * hashed its labels each time.
 */
export interface Traffic {
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
}

export interface BrokerMetrics {
  registry: Registry;
  traffic: Traffic;
  connections: Gauge;
  connectionsTotal: Counter;
  messagesIn: Counter;
  messagesOut: Counter;
  bytesIn: Counter;
  bytesOut: Counter;
  authFailures: Counter<'reason'>;
  deniedPublishes: Counter;
  deniedSubscriptions: Counter;
  oversizeDrops: Counter;
  rateLimited: Counter;
  connectionsClosed: Counter<'reason'>;
  slowConsumerDrops: Counter;
  retainedRefused: Counter<'reason'>;
  retainedMessages: Gauge;
  retainedBytes: Gauge;
  queueDrops: Counter<'reason'>;
  sessions: Gauge;
}

export function createBrokerMetrics(): BrokerMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'broker' });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const traffic: Traffic = { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 };
  const fromTraffic = (name: string, help: string, field: keyof Traffic) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        const n = traffic[field];
        traffic[field] = 0;
        if (n > 0) this.inc(n);
      },
    });
  return {
    registry,
    traffic,
    connections: new Gauge({ name: 'sightline_broker_connections', help: 'MQTT clients connected now', registers }),
    connectionsTotal: new Counter({ name: 'sightline_broker_connections_total', help: 'MQTT clients accepted (CONNACK 0) since start', registers }),
    messagesIn: fromTraffic('sightline_broker_messages_in_total', 'PUBLISH packets accepted from clients', 'messagesIn'),
    messagesOut: fromTraffic('sightline_broker_messages_out_total', 'PUBLISH packets forwarded to clients', 'messagesOut'),
    bytesIn: fromTraffic('sightline_broker_bytes_in_total', 'Payload bytes accepted from clients', 'bytesIn'),
    bytesOut: fromTraffic('sightline_broker_bytes_out_total', 'Payload bytes forwarded to clients', 'bytesOut'),
    authFailures: new Counter({
      name: 'sightline_broker_auth_failures_total',
      help: 'Refused CONNECTs by reason (bad_credentials, anonymous, client_id, sessions, will)',
      labelNames: ['reason'],
      registers,
    }),
    deniedPublishes: new Counter({ name: 'sightline_broker_denied_publishes_total', help: 'PUBLISH packets dropped by the ACL', registers }),
    deniedSubscriptions: new Counter({
      name: 'sightline_broker_denied_subscriptions_total',
      help: 'Subscriptions refused by the ACL (SUBACK 0x80)',
      registers,
    }),
    oversizeDrops: new Counter({ name: 'sightline_broker_oversize_drops_total', help: 'PUBLISH packets dropped for exceeding the payload limit', registers }),
    slowConsumerDrops: new Counter({
      name: 'sightline_broker_slow_consumer_drops_total',
      help: 'QoS 0 messages not sent to a client whose socket already held its buffer limit (SIGHTLINE_BROKER_MAX_CLIENT_BUFFER_BYTES)',
      registers,
    }),
    rateLimited: new Counter({
      name: 'sightline_broker_rate_limited_connections_total',
      help: 'Connections closed by the per-IP connect rate limit',
      registers,
    }),
    connectionsClosed: new Counter({
      name: 'sightline_broker_connections_closed_total',
      help: 'Connections the broker closed by reason: a packet over its limit or malformed (first_not_connect, connect_too_large, publish_too_large, subscribe_too_large, malformed_length, unexpected_type), a cap at accept (max_connections, max_connections_per_ip), or rights revoked by a users file reload (user_removed, password_changed)',
      labelNames: ['reason'],
      registers,
    }),
    retainedRefused: new Counter({
      name: 'sightline_broker_retained_refused_total',
      help: 'Retained messages not kept because the retained store was at its cap (count, bytes); they were still delivered',
      labelNames: ['reason'],
      registers,
    }),
    retainedMessages: new Gauge({ name: 'sightline_broker_retained_messages', help: 'Retained messages held', registers }),
    retainedBytes: new Gauge({
      name: 'sightline_broker_retained_bytes',
      help: 'Bytes charged for retained messages (topic + payload, at least 1 KiB each)',
      registers,
    }),
    queueDrops: new Counter({
      name: 'sightline_broker_queue_drops_total',
      help: 'Oldest messages dropped from a persistent session queue at its cap (count, bytes)',
      labelNames: ['reason'],
      registers,
    }),
    sessions: new Gauge({ name: 'sightline_broker_sessions', help: 'Persistent sessions (client ids bound to their owner)', registers }),
  };
}

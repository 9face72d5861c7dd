import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

export interface BrokerMetrics {
  registry: Registry;
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
}

export function createBrokerMetrics(): BrokerMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'broker' });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    connections: new Gauge({ name: 'sightline_broker_connections', help: 'MQTT clients connected now', registers }),
    connectionsTotal: new Counter({ name: 'sightline_broker_connections_total', help: 'MQTT clients accepted (CONNACK 0) since start', registers }),
    messagesIn: new Counter({ name: 'sightline_broker_messages_in_total', help: 'PUBLISH packets accepted from clients', registers }),
    messagesOut: new Counter({ name: 'sightline_broker_messages_out_total', help: 'PUBLISH packets forwarded to clients', registers }),
    bytesIn: new Counter({ name: 'sightline_broker_bytes_in_total', help: 'Payload bytes accepted from clients', registers }),
    bytesOut: new Counter({ name: 'sightline_broker_bytes_out_total', help: 'Payload bytes forwarded to clients', registers }),
    authFailures: new Counter({
      name: 'sightline_broker_auth_failures_total',
      help: 'Refused CONNECTs by reason (bad_credentials, anonymous, client_id, will)',
      labelNames: ['reason'],
      registers,
    }),
    deniedPublishes: new Counter({ name: 'sightline_broker_denied_publishes_total', help: 'PUBLISH packets dropped by the ACL', registers }),
    deniedSubscriptions: new Counter({ name: 'sightline_broker_denied_subscriptions_total', help: 'Subscriptions refused by the ACL (SUBACK 0x80)', registers }),
    oversizeDrops: new Counter({ name: 'sightline_broker_oversize_drops_total', help: 'PUBLISH packets dropped for exceeding the payload limit', registers }),
    rateLimited: new Counter({ name: 'sightline_broker_rate_limited_connections_total', help: 'Connections closed by the per-IP connect rate limit', registers }),
  };
}

import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { channels, createTopics, type Topics } from '@sightline/schemas';
import type { Logger } from 'pino';

export interface MqttSettings {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  ca?: string | undefined;
  topicPrefix: string;
}

/**
 * An MQTT client that announces the service: retained `online` on every connect, and a retained
 * `offline` last will for when it vanishes. It starts disconnected (call `client.connect()`), and
 * reconnects by itself every second. QoS 0 messages published while offline are dropped. Subscriptions are the bus's job (it re-subscribes on each
 * connect and tracks readiness), so the client's own resubscribe is off.
 */
export interface MqttSession {
  /** A fixed client id: the broker recognises the service across restarts by it. */
  clientId: string;
}

/**
 * With `session`, the service keeps a persistent session (clean=false under a fixed client id):
 * the broker keeps its subscriptions and queues its QoS 1 messages while it is down, and delivers
 * them when it is back. Without it, a clean session under a fresh id each time.
 */
export function createServiceMqttClient(
  service: string,
  settings: MqttSettings,
  logger: Logger,
  session?: MqttSession,
): { client: MqttClient; topics: Topics } {
  const topics = createTopics(settings.topicPrefix);
  const availability = topics.topic(channels.availability, { service });
  const options: IClientOptions = {
    clientId: session?.clientId ?? `${service}-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
    protocolVersion: 4,
    clean: session === undefined,
    keepalive: 15,
    reconnectPeriod: 1000,
    connectTimeout: 5000,
    resubscribe: false,
    // Frames are QoS 0 and perishable: while offline they are dropped, never queued without bound.
    queueQoSZero: false,
    manualConnect: true,
    // mqtt-packet otherwise makes a 2-byte Buffer for each of the 65536 packet ids on the first
    // packet, kept for the process's life: 7 MB of heap in every service, to save allocating two
    // bytes per QoS 1 packet.
    writeCache: false,
    will: { topic: availability, payload: channels.availability.codec.encode('offline'), qos: 1, retain: true },
  };
  if (settings.username !== undefined) options.username = settings.username;
  if (settings.password !== undefined) options.password = settings.password;
  if (settings.ca !== undefined) options.ca = settings.ca;
  const client = connect(settings.url, options);
  const log = logger.child({ module: 'mqtt' });
  let wasConnected = false;
  client.on('connect', (connack) => {
    log.info(
      { url: redactUrl(settings.url), ...(session ? { clientId: session.clientId, sessionPresent: connack.sessionPresent } : {}) },
      wasConnected ? 'reconnected to broker' : 'connected to broker',
    );
    wasConnected = true;
    client.publish(availability, channels.availability.codec.encode('online'), { qos: 1, retain: true });
  });
  client.on('offline', () => log.warn({ url: redactUrl(settings.url) }, 'broker unreachable, retrying'));
  client.on('error', (err) => log.warn({ err: { message: err.message, code: (err as NodeJS.ErrnoException).code } }, 'mqtt error'));
  return { client, topics };
}

/** Publishes `offline` and disconnects, waiting at most `timeoutMs`. */
export async function closeServiceMqttClient(service: string, client: MqttClient, topics: Topics, timeoutMs = 2000): Promise<void> {
  // mqtt.js cannot end a client that never began connecting (a service stopped before its start).
  if ((client as unknown as { stream?: unknown }).stream === undefined) return;
  // Stopped while still connecting, a client could otherwise arm its reconnect timer on the way
  // out and keep the process alive.
  client.options.reconnectPeriod = 0;
  const availability = topics.topic(channels.availability, { service });
  const timer = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
  const goodbye = new Promise<void>((resolve) => {
    if (!client.connected) return resolve();
    client.publish(availability, channels.availability.codec.encode('offline'), { qos: 1, retain: true }, () => resolve());
  });
  await Promise.race([goodbye, timer]);
  await Promise.race([client.endAsync(false), timer]);
  if (!client.disconnected) client.end(true);
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable url)';
  }
}

import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { channels, createTopics } from '@sightline/schemas';
import type { UpstreamSettings } from './config.ts';
import type { DiskQueue } from './queue.ts';

export type LinkState = 'connecting' | 'connected' | 'unreachable' | 'refused';

export interface Link {
  state: LinkState;
  reason?: string;
  since: number;
}

export interface ForwarderOptions {
  settings: UpstreamSettings;
  queue: DiskQueue;
  logger: Logger;
  retry: { minMs: number; maxMs: number };
  now: () => number;
  /** A message the upstream has (acknowledged at QoS 1, written at QoS 0). */
  onForwarded: () => void;
  onLinkChange: (link: Link) => void;
}

/**
 * Messages sent without waiting for their acknowledgement. Measured replaying 10,000 queued scans
 * (388 B) to Mosquitto over TLS on loopback (bench/replay.bench.ts, 2 shared cores): 1 in flight
 * 2.7k msg/s, 8: 3.7k, 32: 5.6k, 128: 6.9k. Bytes in flight are held in memory until
 * acknowledged, so they are capped too (a single message larger than that still goes, alone).
 */
const WINDOW_MESSAGES = 32;
const WINDOW_BYTES = 4 * 1024 * 1024;
/** How long a clean stop waits for what is in flight to be acknowledged (the rest is sent again after the restart). */
const STOP_WAIT_MS = 500;

/** TLS verification failures: a configuration problem (CA, host name, client certificate), not an outage. */
const TLS_CODES = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|ERR_TLS_|ERR_SSL_|HOSTNAME_MISMATCH$|EPROTO$)/;

/** What a failed connection attempt says about the upstream: refused (fix the configuration) or unreachable (wait). */
export function classify(err: Error & { code?: unknown }): { state: 'refused' | 'unreachable'; reason: string } {
  const { code } = err;
  if (typeof code === 'number') {
    // CONNACK return codes (MQTT 3.1.1, 3.2.2.3).
    if (code === 4 || code === 5)
      return { state: 'refused', reason: `upstream refused the login (${err.message}): check SIGHTLINE_UPLINK_USERNAME and SIGHTLINE_UPLINK_PASSWORD` };
    if (code === 2) return { state: 'refused', reason: `upstream refused the client id (${err.message}): set SIGHTLINE_UPLINK_CLIENT_ID` };
    if (code === 1) return { state: 'refused', reason: `upstream refused MQTT 3.1.1 (${err.message})` };
    return { state: 'unreachable', reason: err.message };
  }
  if ((typeof code === 'string' && TLS_CODES.test(code)) || err.message === 'TLS not authorized') {
    return {
      state: 'refused',
      reason: `upstream certificate not trusted (${typeof code === 'string' ? code : err.message}): check SIGHTLINE_UPLINK_CA and that the URL names the host its certificate names`,
    };
  }
  return { state: 'unreachable', reason: typeof code === 'string' ? `${code}: ${err.message}` : err.message };
}

/**
 * Delivers the queue upstream, oldest first, over one connection at a time. Each connection is a
 * fresh clean-session client: what was in flight when one went is sent again from the queue on
 * the next, in order, so nothing depends on the MQTT library's own resend store. Reconnects with
 * backoff (`retry.minMs` doubling to `retry.maxMs`, with jitter).
 */
export class Forwarder {
  private readonly options: ForwarderOptions;
  private readonly availabilityTopic: string;
  private client: MqttClient | null = null;
  /** Bumped for every connection: callbacks of an older one are ignored. */
  private generation = 0;
  private connected = false;
  private inflight = 0;
  private inflightBytes = 0;
  private attempts = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = true;
  private lastError: { state: 'refused' | 'unreachable'; reason: string } | null = null;
  private current: Link;

  constructor(options: ForwarderOptions) {
    this.options = options;
    this.availabilityTopic = createTopics(options.settings.topicPrefix).topic(channels.availability, { service: 'uplink' });
    this.current = { state: 'connecting', since: options.now() };
  }

  get link(): Link {
    return this.current;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** New messages wait in the queue: send them if the link allows. */
  kick(): void {
    this.pump();
  }

  private setLink(state: LinkState, reason?: string): void {
    if (this.current.state === state && this.current.reason === reason) return;
    this.current = { state, ...(reason !== undefined ? { reason } : {}), since: this.options.now() };
    const log = this.options.logger;
    const where = { url: this.options.settings.shownUrl, waiting: this.options.queue.messages };
    if (state === 'connected') log.info(where, 'connected upstream: delivering the queue');
    else if (state === 'refused')
      log.error({ ...where, reason }, 'upstream refused the connection: messages wait in the queue until the configuration is fixed');
    else if (state === 'unreachable') log.warn({ ...where, reason }, 'upstream unreachable: messages wait in the queue, retrying');
    this.options.onLinkChange(this.current);
  }

  private connect(): void {
    const { settings } = this.options;
    const generation = ++this.generation;
    const options: IClientOptions = {
      protocolVersion: 4,
      clientId: settings.clientId,
      clean: true,
      keepalive: 30,
      connectTimeout: 10_000,
      reconnectPeriod: 0,
      queueQoSZero: false,
      // No mqtt-packet number cache (65536 Buffers, 7 MB), as for every service's own client (kit).
      writeCache: false,
      will: { topic: this.availabilityTopic, payload: channels.availability.codec.encode('offline'), qos: 1, retain: true },
      ...(settings.username !== undefined ? { username: settings.username } : {}),
      ...(settings.password !== undefined ? { password: settings.password } : {}),
      ...(settings.tls
        ? {
            rejectUnauthorized: true,
            ...(settings.ca !== undefined ? { ca: settings.ca } : {}),
            ...(settings.cert !== undefined ? { cert: settings.cert, key: settings.key } : {}),
          }
        : {}),
    };
    const client = connect(settings.url, options);
    this.client = client;
    client.on('connect', () => {
      if (generation !== this.generation) return;
      this.connected = true;
      this.attempts = 0;
      this.lastError = null;
      client.publish(this.availabilityTopic, channels.availability.codec.encode('online'), { qos: 1, retain: true });
      this.setLink('connected');
      this.pump();
    });
    client.on('error', (err) => {
      if (generation === this.generation) this.lastError = classify(err);
    });
    client.on('close', () => {
      if (generation !== this.generation) return;
      this.dropConnection();
      if (this.stopped) return;
      const failure = this.lastError ?? { state: 'unreachable' as const, reason: 'connection closed' };
      this.setLink(failure.state, failure.reason);
      this.lastError = null;
      const delay = Math.min(this.options.retry.maxMs, this.options.retry.minMs * 2 ** Math.min(this.attempts, 20)) * (0.8 + Math.random() * 0.4);
      this.attempts += 1;
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        if (!this.stopped) this.connect();
      }, delay);
      this.retryTimer.unref();
    });
  }

  /** Forgets the current connection; what it had in flight will be sent again. */
  private dropConnection(): void {
    const client = this.client;
    this.client = null;
    this.generation += 1;
    this.connected = false;
    this.inflight = 0;
    this.inflightBytes = 0;
    this.options.queue.rewind();
    client?.removeAllListeners('connect');
    client?.end(true);
  }

  private pump(): void {
    const client = this.client;
    if (!this.connected || client === null) return;
    const { queue, settings } = this.options;
    const generation = this.generation;
    while (this.inflight < WINDOW_MESSAGES && (this.inflight === 0 || this.inflightBytes < WINDOW_BYTES)) {
      const message = queue.next();
      if (message === null) return;
      const size = message.payload.length;
      this.inflight += 1;
      this.inflightBytes += size;
      client.publish(message.topic, message.payload, { qos: settings.qos, retain: message.retain }, (err) => {
        if (generation !== this.generation) return;
        this.inflight -= 1;
        this.inflightBytes -= size;
        if (err) {
          // The connection is failing; its close sends everything again on the next one.
          this.options.logger.warn({ err: { message: err.message } }, 'publish upstream failed: reconnecting');
          client.end(true);
          return;
        }
        if (queue.ack(message.id)) this.options.onForwarded();
        this.pump();
      });
    }
  }

  /** Says `offline` upstream and disconnects; what is not acknowledged stays queued for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    if (client === null) return;
    if (this.connected) {
      const deadline = Date.now() + STOP_WAIT_MS;
      while (this.inflight > 0 && this.connected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (this.connected) {
      const offline = channels.availability.codec.encode('offline');
      await Promise.race([
        new Promise<void>((resolve) => client.publish(this.availabilityTopic, offline, { qos: 1, retain: true }, () => resolve())),
        new Promise((resolve) => setTimeout(resolve, STOP_WAIT_MS).unref()),
      ]);
    }
    this.generation += 1;
    this.connected = false;
    await Promise.race([client.endAsync(false), new Promise((resolve) => setTimeout(resolve, STOP_WAIT_MS).unref())]);
    if (!client.disconnected) client.end(true);
    this.client = null;
    this.options.queue.rewind();
  }
}

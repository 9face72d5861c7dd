import type { Socket } from 'node:net';
import type { AedesOptions, AedesPublishPacket, AuthenticateError, Client, ConnectPacket, PublishPacket } from 'aedes';
import type { Logger } from '@sightline/kit';
import { canRead, canSubscribe, canWrite, compileAcl, type AclRule, type CompiledAcl } from './acl.ts';
import type { Anonymous } from './config.ts';
import type { BrokerMetrics } from './metrics.ts';
import { verifyAgainstDummy, verifyPassword } from './passwords.ts';
import type { RateLimiter } from './rate-limit.ts';
import { prefixRules, type UsersFile } from './users-file.ts';

/** CONNACK return codes of MQTT 3.1.1. */
const IDENTIFIER_REJECTED = 2;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

export interface SecurityOptions {
  users: () => UsersFile | null;
  anonymous: Anonymous;
  topicPrefix: string;
  maxPayloadBytes: number;
  rateLimiter: RateLimiter;
  metrics: BrokerMetrics;
  logger: Logger;
}

interface Principal {
  username: string | null;
  acl: CompiledAcl;
  readCache: Map<string, boolean>;
}

export type SecurityHooks = Required<Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'>>;

export interface Security {
  hooks: SecurityHooks;
  /** Whether a publish that passed `authorizePublish` must be acknowledged but not delivered. */
  takeDropped(packet: object): boolean;
  usernameOf(client: Client): string | null | undefined;
}

export function remoteAddressOf(client: Client): string {
  const fromRequest = client.req?.socket?.remoteAddress;
  if (fromRequest !== undefined) return fromRequest;
  return (client.conn as Partial<Socket>).remoteAddress ?? 'unknown';
}

export function isLoopback(address: string): boolean {
  const plain = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return plain === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(plain);
}

function authError(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

const READ_CACHE_LIMIT = 1024;

export function createSecurity(options: SecurityOptions): Security {
  const { metrics, maxPayloadBytes } = options;
  const log = options.logger.child({ module: 'auth' });
  const connects = new WeakMap<Client, ConnectPacket>();
  const principals = new WeakMap<Client, Principal>();
  const dropped = new WeakSet<object>();

  function anonymousRules(): AclRule[] {
    return options.users()?.anonymous?.acl ?? prefixRules(options.topicPrefix);
  }

  function refuse(client: Client, reason: string, returnCode: number, details: Record<string, unknown>): AuthenticateError {
    metrics.authFailures.inc({ reason });
    log.warn({ clientId: client.id, address: remoteAddressOf(client), reason, ...details }, 'connection refused');
    return authError(reason, returnCode);
  }

  const hooks: SecurityHooks = {
    preConnect(client, packet, callback) {
      const address = remoteAddressOf(client);
      if (!options.rateLimiter.take(address)) {
        metrics.rateLimited.inc();
        log.warn({ address }, 'connection rate limit exceeded, closing');
        // Without an error aedes would leave the socket open until its connect timeout.
        callback(new Error('connection rate limit exceeded'), false);
        return;
      }
      connects.set(client, packet);
      callback(null, true);
    },

    authenticate(client, username, password, callback) {
      const packet = connects.get(client);
      connects.delete(client);
      const address = remoteAddressOf(client);
      void (async () => {
        // [MQTT-3.1.3-8] aedes would invent an id and keep the session; the spec says refuse.
        if (packet !== undefined && packet.clientId === '' && packet.clean === false) {
          return callback(refuse(client, 'client_id', IDENTIFIER_REJECTED, { why: 'empty client id with clean session off' }), null);
        }
        let principalName: string | null;
        let rules: AclRule[];
        if (username === undefined) {
          const allowed = options.anonymous === 'on' || (options.anonymous === 'loopback' && isLoopback(address));
          if (!allowed) return callback(refuse(client, 'anonymous', NOT_AUTHORIZED, { anonymous: options.anonymous }), null);
          principalName = null;
          rules = anonymousRules();
        } else {
          const entry = Object.hasOwn(options.users()?.users ?? {}, username) ? options.users()?.users[username] : undefined;
          const ok = password !== undefined && entry !== undefined ? await verifyPassword(password, entry.hash) : await verifyAgainstDummy(password ?? '');
          if (!ok || entry === undefined) {
            return callback(refuse(client, 'bad_credentials', BAD_USERNAME_OR_PASSWORD, { username }), null);
          }
          principalName = username;
          rules = entry.acl;
        }
        const acl = compileAcl(rules, principalName, client.id);
        const will = packet?.will;
        if (will !== undefined && will !== null) {
          if (will.payload.length > maxPayloadBytes) {
            return callback(refuse(client, 'will', NOT_AUTHORIZED, { username, why: `will payload of ${will.payload.length} bytes exceeds ${maxPayloadBytes}` }), null);
          }
          if (!canWrite(acl, will.topic)) {
            return callback(refuse(client, 'will', NOT_AUTHORIZED, { username, why: `will topic ${will.topic} is not writable` }), null);
          }
        }
        principals.set(client, { username: principalName, acl, readCache: new Map() });
        callback(null, true);
      })().catch((err: unknown) => {
        log.error({ err, clientId: client.id }, 'authentication failed with an error');
        callback(authError('server error', NOT_AUTHORIZED), null);
      });
    },

    authorizePublish(client, packet, callback) {
      // client is null when aedes republishes the will of a client that vanished with a previous broker.
      if (client === null) return callback(packet.topic.startsWith('$') ? new Error('$ topics are reserved') : null);
      const principal = principals.get(client);
      const size = packet.payload.length;
      if (size > maxPayloadBytes) {
        metrics.oversizeDrops.inc();
        log.warn({ clientId: client.id, topic: packet.topic, bytes: size, limit: maxPayloadBytes }, 'oversize publish dropped');
        return drop(packet, callback);
      }
      if (principal === undefined || !canWrite(principal.acl, packet.topic)) {
        metrics.deniedPublishes.inc();
        log.warn({ clientId: client.id, username: principal?.username, topic: packet.topic }, 'publish denied');
        return drop(packet, callback);
      }
      metrics.messagesIn.inc();
      metrics.bytesIn.inc(size);
      callback(null);
    },

    authorizeSubscribe(client, subscription, callback) {
      const principal = principals.get(client);
      if (principal === undefined || !canSubscribe(principal.acl, subscription.topic)) {
        metrics.deniedSubscriptions.inc();
        log.warn({ clientId: client.id, username: principal?.username, topic: subscription.topic }, 'subscription denied');
        return callback(null, null);
      }
      callback(null, subscription);
    },

    authorizeForward(client, packet: AedesPublishPacket) {
      const principal = principals.get(client);
      if (principal === undefined) return null;
      let readable = principal.readCache.get(packet.topic);
      if (readable === undefined) {
        readable = canRead(principal.acl, packet.topic);
        if (principal.readCache.size >= READ_CACHE_LIMIT) principal.readCache.clear();
        principal.readCache.set(packet.topic, readable);
      }
      if (!readable) return null;
      metrics.messagesOut.inc();
      metrics.bytesOut.inc(packet.payload.length);
      return packet;
    },
  };

  function drop(packet: PublishPacket, callback: (error?: Error | null) => void): void {
    // Like Mosquitto: the publisher still gets its PUBACK/PUBREC, nobody gets the message.
    packet.retain = false;
    dropped.add(packet);
    callback(null);
  }

  return {
    hooks,
    takeDropped(packet) {
      return dropped.delete(packet);
    },
    usernameOf(client) {
      return principals.get(client)?.username;
    },
  };
}

import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { AedesOptions, AedesPublishPacket, AuthenticateError, Client, ConnectPacket, PublishPacket } from 'aedes';
import type { Logger } from '@sightline/kit';
import { viewerAccessRules } from '@sightline/schemas';
import { canRead, canSubscribe, canWrite, compileAcl, type AclRule, type CompiledAcl } from './acl.ts';
import type { ClientIdOwners } from './client-ids.ts';
import type { Anonymous } from './config.ts';
import type { BrokerMetrics } from './metrics.ts';
import { PacketGate } from './packet-gate.ts';
import { verifyAgainstDummy, verifyPassword } from '@sightline/kit';
import type { RateLimiter } from './rate-limit.ts';
import type { UsersFile } from './users-file.ts';

/** CONNACK return codes of MQTT 3.1.1. */
const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

export interface SecurityOptions {
  users: () => UsersFile | null;
  anonymous: Anonymous;
  topicPrefix: string;
  maxPayloadBytes: number;
  rateLimiter: RateLimiter;
  /** Owners of persistent sessions' client ids. */
  clientIds: ClientIdOwners;
  /** Persistent sessions (bound client ids) held at most. */
  maxSessions: number;
  /** The connected client holding a client id, if any. */
  connectedClient: (clientId: string) => Client | undefined;
  /**
   * Bytes written to a client but not yet taken by its socket, past which it is a slow consumer:
   * a QoS 0 message for it is dropped, and a QoS 1 message closes its connection (a persistent
   * session keeps what follows in its bounded queue; unacknowledged messages are sent again).
   */
  maxClientBufferBytes: number;
  metrics: BrokerMetrics;
  logger: Logger;
}

interface Principal {
  username: string | null;
  /** The password hash the client authenticated against (null: anonymous). */
  hash: string | null;
  acl: CompiledAcl;
  readCache: Map<string, boolean>;
  /** Whether the client may publish to a topic, by topic: a camera publishes to the same few topics all day, and canWrite splits the topic each time. */
  writeCache: Map<string, boolean>;
}

export type SecurityHooks = Required<Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'>>;

export interface Security {
  hooks: SecurityHooks;
  /** Whether a publish that passed `authorizePublish` must be acknowledged but not delivered. */
  takeDropped(packet: object): boolean;
  usernameOf(client: Client): string | null | undefined;
  /**
   * Applies the users file now in force to every open connection: a client whose user is gone,
   * or whose password changed, is disconnected; every other client gets its new rights at once.
   */
  applyUsers(): void;
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

const TOPIC_CACHE_LIMIT = 1024;
const NO_RIGHTS: CompiledAcl = { read: [], write: [] };

export function createSecurity(options: SecurityOptions): Security {
  const { metrics, maxPayloadBytes, clientIds } = options;
  const { traffic } = metrics;
  const log = options.logger.child({ module: 'auth' });
  const connects = new WeakMap<Client, ConnectPacket>();
  const principals = new WeakMap<Client, Principal>();
  /** Authenticated clients whose connection is open, so a users file reload reaches each of them. */
  const open = new Set<Client>();
  const dropped = new WeakSet<object>();

  function userEntry(username: string) {
    const users = options.users()?.users ?? {};
    return Object.hasOwn(users, username) ? users[username] : undefined;
  }

  /** Without an `anonymous` section, anonymous clients (where allowed) may read the prefix and write nothing. */
  function anonymousRules(): AclRule[] {
    return options.users()?.anonymous?.acl ?? viewerAccessRules(options.topicPrefix);
  }

  function refuse(client: Client, reason: string, returnCode: number, details: Record<string, unknown>): AuthenticateError {
    metrics.authFailures.inc({ reason });
    log.warn({ clientId: client.id, address: remoteAddressOf(client), reason, ...details }, 'connection refused');
    return authError(reason, returnCode);
  }

  /**
   * A client id belongs to whoever holds it: the user of its persistent session (bound until
   * that user connects with clean=true) or of the connection using it now. Anyone else gets
   * CONNACK 2 before aedes touches the session or the connection. Returns the refusal, or null
   * once a persistent session is bound (or released) for this user.
   */
  async function claimClientId(client: Client, principal: string | null, clean: boolean): Promise<AuthenticateError | null> {
    const connected = options.connectedClient(client.id);
    const holder = connected === undefined ? undefined : principals.get(connected);
    const claim = holder !== undefined && holder.username !== principal ? null : await clientIds.claim(client.id, principal, clean, options.maxSessions);
    if (claim === null || claim.outcome === 'taken') {
      return refuse(client, 'client_id', IDENTIFIER_REJECTED, { username: principal, why: 'the client id belongs to another user' });
    }
    metrics.sessions.set(claim.sessions);
    if (claim.outcome === 'full') {
      return refuse(client, 'sessions', SERVER_UNAVAILABLE, {
        username: principal,
        why: `${claim.sessions} persistent sessions, the most allowed (SIGHTLINE_BROKER_MAX_SESSIONS)`,
      });
    }
    return null;
  }

  /** From here on a users file reload reaches the client, even while its CONNECT is still being answered. */
  function track(client: Client, principal: Principal): void {
    principals.set(client, principal);
    if (client.conn.destroyed) return;
    open.add(client);
    client.conn.once('close', () => open.delete(client));
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
      (async () => {
        // [MQTT-3.1.3-8] aedes would invent an id and keep the session; the spec says refuse.
        if (packet !== undefined && packet.clientId === '' && packet.clean === false) {
          return callback(refuse(client, 'client_id', IDENTIFIER_REJECTED, { why: 'empty client id with clean session off' }), null);
        }
        let principal: Principal;
        if (username === undefined) {
          const allowed = options.anonymous === 'on' || (options.anonymous === 'loopback' && isLoopback(address));
          if (!allowed) return callback(refuse(client, 'anonymous', NOT_AUTHORIZED, { anonymous: options.anonymous }), null);
          principal = { username: null, hash: null, acl: compileAcl(anonymousRules(), null, client.id), readCache: new Map(), writeCache: new Map() };
        } else {
          const entry = userEntry(username);
          const ok = password !== undefined && entry !== undefined ? await verifyPassword(password, entry.hash) : await verifyAgainstDummy(password ?? '');
          // The users file may have been reloaded while the password was checked: only the file in force counts.
          const current = userEntry(username);
          if (!ok || entry === undefined || current?.hash !== entry.hash) {
            return callback(refuse(client, 'bad_credentials', BAD_USERNAME_OR_PASSWORD, { username }), null);
          }
          principal = { username, hash: current.hash, acl: compileAcl(current.acl, username, client.id), readCache: new Map(), writeCache: new Map() };
        }
        const will = packet?.will;
        if (will !== undefined && will !== null) {
          if (will.payload.length > maxPayloadBytes) {
            return callback(
              refuse(client, 'will', NOT_AUTHORIZED, { username, why: `will payload of ${will.payload.length} bytes exceeds ${maxPayloadBytes}` }),
              null,
            );
          }
          if (!canWrite(principal.acl, will.topic)) {
            return callback(refuse(client, 'will', NOT_AUTHORIZED, { username, why: `will topic ${will.topic} is not writable` }), null);
          }
        }
        track(client, principal);
        const refusal = await claimClientId(client, principal.username, packet?.clean ?? true);
        if (refusal !== null) {
          open.delete(client);
          return callback(refusal, null);
        }
        // A reload while the client id was being bound may have closed the connection already.
        if (!open.has(client)) return callback(authError('rights revoked while connecting', BAD_USERNAME_OR_PASSWORD), null);
        if (client.conn instanceof PacketGate) client.conn.authenticated();
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
      if (principal === undefined || !writable(principal, packet.topic)) {
        metrics.deniedPublishes.inc();
        log.warn({ clientId: client.id, username: principal?.username, topic: packet.topic }, 'publish denied');
        return drop(packet, callback);
      }
      traffic.messagesIn += 1;
      traffic.bytesIn += size;
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
        if (principal.readCache.size >= TOPIC_CACHE_LIMIT) principal.readCache.clear();
        principal.readCache.set(packet.topic, readable);
      }
      if (!readable) return null;
      const conn = client.conn;
      const buffered = conn instanceof PacketGate ? conn.unsentBytes : ((conn as Partial<Writable>).writableLength ?? 0);
      if (buffered + packet.payload.length > options.maxClientBufferBytes) {
        slowConsumer(client, packet, buffered);
        return null;
      }
      traffic.messagesOut += 1;
      traffic.bytesOut += packet.payload.length;
      return packet;
    },
  };

  function writable(principal: Principal, topic: string): boolean {
    let allowed = principal.writeCache.get(topic);
    if (allowed === undefined) {
      allowed = canWrite(principal.acl, topic);
      if (principal.writeCache.size >= TOPIC_CACHE_LIMIT) principal.writeCache.clear();
      principal.writeCache.set(topic, allowed);
    }
    return allowed;
  }

  /** Throttled: a stuck subscriber would otherwise log a line per message. */
  let slowLoggedAt = Number.NEGATIVE_INFINITY;
  function slowConsumer(client: Client, packet: AedesPublishPacket, buffered: number): void {
    if (Date.now() - slowLoggedAt >= 10_000) {
      slowLoggedAt = Date.now();
      log.warn(
        { clientId: client.id, topic: packet.topic, buffered, limit: options.maxClientBufferBytes, qos: packet.qos },
        'slow consumer: its socket is not taking messages',
      );
    }
    if (packet.qos === 0) {
      metrics.slowConsumerDrops.inc();
      return;
    }
    metrics.connectionsClosed.inc({ reason: 'slow_consumer' });
    // Not from inside aedes's delivery loop.
    setImmediate(() => client.close());
  }

  function drop(packet: PublishPacket, callback: (error?: Error | null) => void): void {
    // Like Mosquitto: the publisher still gets its PUBACK/PUBREC, nobody gets the message.
    packet.retain = false;
    dropped.add(packet);
    callback(null);
  }

  function revoke(client: Client, principal: Principal, reason: 'user_removed' | 'password_changed'): void {
    metrics.connectionsClosed.inc({ reason });
    log.warn({ clientId: client.id, username: principal.username, address: remoteAddressOf(client), reason }, 'users file reloaded: connection closed');
    open.delete(client);
    client.conn.destroy();
  }

  return {
    hooks,
    takeDropped(packet) {
      return dropped.delete(packet);
    },
    usernameOf(client) {
      return principals.get(client)?.username;
    },
    applyUsers() {
      for (const client of [...open]) {
        const principal = principals.get(client);
        if (principal === undefined) continue;
        principal.readCache.clear();
        principal.writeCache.clear();
        if (principal.username === null) {
          principal.acl = compileAcl(anonymousRules(), null, client.id);
          continue;
        }
        const entry = userEntry(principal.username);
        // A closing client's will is checked against these rights: none once the user is gone.
        principal.acl = entry === undefined ? NO_RIGHTS : compileAcl(entry.acl, principal.username, client.id);
        if (entry === undefined) revoke(client, principal, 'user_removed');
        else if (entry.hash !== principal.hash) revoke(client, principal, 'password_changed');
      }
    },
  };
}

import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import { createSecureContext, createServer as createTlsServer, type SecureContextOptions } from 'node:tls';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '@sightline/kit';
import type { ConnectionGuard } from './connection-guard.ts';

export type ListenerKind = 'mqtt' | 'ws' | 'mqtts' | 'wss';

export interface Listener {
  kind: ListenerKind;
  port(): number;
  close(): Promise<void>;
}

export interface Accepted {
  /** The HTTP upgrade request of a WebSocket. */
  request?: IncomingMessage;
  /** Called once the client has authenticated. */
  onAuthenticated?: () => void;
}

export type Handle = (stream: Duplex, accepted: Accepted) => void;

/** Message limits of a WebSocket listener: small until the client has authenticated. */
export interface WebSocketLimits {
  beforeAuthentication: number;
  afterAuthentication: number;
}

export interface TlsFiles {
  cert: string;
  key: string;
}

/** Reads and checks the certificate and key, so a bad file fails the start with a clear message. */
export async function loadTls(files: TlsFiles): Promise<SecureContextOptions> {
  const read = async (what: string, path: string) => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new Error(`cannot read TLS ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const options = { cert: await read('certificate', files.cert), key: await read('key', files.key) };
  try {
    createSecureContext(options);
  } catch (err) {
    throw new Error(`invalid TLS certificate or key (${files.cert}, ${files.key}): ${(err as Error).message}`);
  }
  return options;
}

function listen(server: NetServer, host: string, port: number, kind: ListenerKind): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new Error(`${kind} listener cannot bind ${host}:${port}: ${err.code ?? err.message}`));
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function boundPort(server: NetServer): number {
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

function closeServer(server: NetServer, sockets: Set<Socket>): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    for (const socket of sockets) socket.destroy();
  });
}

function trackSockets(server: NetServer): Set<Socket> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  server.on('connection', track);
  return sockets;
}

export async function startStreamListener(
  kind: 'mqtt' | 'mqtts',
  host: string,
  port: number,
  handle: Handle,
  guard: ConnectionGuard,
  log: Logger,
  tls?: SecureContextOptions,
): Promise<Listener> {
  const onStream = (socket: Socket) => {
    if (socket.destroyed) return;
    socket.setNoDelay(true);
    handle(socket, {});
  };
  const server = tls === undefined ? createNetServer(onStream) : createTlsServer(tls, onStream);
  guard.watch(server);
  if (tls !== undefined)
    server.on('tlsClientError', (err, socket) => log.debug({ err: { message: err.message }, address: socket.remoteAddress }, 'TLS handshake failed'));
  const sockets = trackSockets(server);
  await listen(server, host, port, kind);
  server.on('error', (err) => log.error({ err, kind }, 'listener error'));
  return { kind, port: () => boundPort(server), close: () => closeServer(server, sockets) };
}

export async function startWebSocketListener(
  kind: 'ws' | 'wss',
  host: string,
  port: number,
  handle: Handle,
  guard: ConnectionGuard,
  limits: WebSocketLimits,
  log: Logger,
  tls?: SecureContextOptions,
): Promise<Listener> {
  const onRequest = (_request: IncomingMessage, response: import('node:http').ServerResponse) => {
    response.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' }).end('MQTT over WebSocket: upgrade required\n');
  };
  const server: HttpServer = tls === undefined ? createHttpServer(onRequest) : createHttpsServer(tls, onRequest);
  const wss = new WebSocketServer({
    server,
    perMessageDeflate: false,
    maxPayload: limits.beforeAuthentication,
    handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
  });
  wss.on('connection', (socket, request) => {
    request.socket.setNoDelay(true);
    const stream = createWebSocketStream(socket);
    stream.on('error', (err) => log.debug({ err: { message: err.message } }, 'websocket stream error'));
    handle(stream, { request, onAuthenticated: () => setMessageLimit(socket, limits.afterAuthentication) });
  });
  wss.on('error', (err) => log.error({ err, kind }, 'websocket server error'));
  guard.watch(server);
  const sockets = trackSockets(server);
  await listen(server, host, port, kind);
  return {
    kind,
    port: () => boundPort(server),
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await closeServer(server, sockets);
    },
  };
}

/**
 * ws buffers each whole WebSocket message before the stream sees a byte, up to the server's
 * `maxPayload`, which it copies into each socket when it opens. Before authentication a message
 * need carry no more than a CONNECT; after it, a whole PUBLISH. ws has no public way to change
 * one socket's limit, hence its receiver's field (a test fails if ws renames it).
 */
function setMessageLimit(socket: WebSocket, bytes: number): void {
  const receiver = (socket as unknown as { _receiver?: { _maxPayload?: unknown } })._receiver;
  if (receiver === undefined || typeof receiver._maxPayload !== 'number') throw new Error('cannot raise the WebSocket message limit: ws internals changed');
  receiver._maxPayload = bytes;
}

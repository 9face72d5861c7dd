import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import WebSocket from 'ws';
import {
  closedWithin,
  collect,
  connectClient,
  connectPacket,
  execFileAsync,
  metric,
  mqttUrl,
  openBroker,
  rawConnect,
  rawSocket,
  remainingLength,
  sleep,
  startBroker,
  tempDir,
  trickle,
  writeUsers,
} from './helpers.ts';

const ANNOUNCED = 250_000_000;
/** How fast "at once" must be on a loaded 2-core machine; the old broker kept these open until its 10 s connect timeout. */
const AT_ONCE_MS = 1500;
const TRICKLE = Buffer.alloc(1024);

function header(type: number, length: number, flags = 0): Buffer {
  return Buffer.concat([Buffer.from([(type << 4) | flags]), remainingLength(length)]);
}

async function readerBroker(t: TestContext, overrides: Parameters<typeof startBroker>[1] = {}) {
  const dir = await tempDir(t);
  const usersFile = join(dir, 'users.json');
  await writeUsers(usersFile, { reader: { password: 'reader-pw', acl: [{ pattern: 'sightline/#', access: 'read' }] } });
  return startBroker(t, { usersFile, anonymous: 'off', ...overrides });
}

function openWebSocket(t: TestContext, url: string, ca?: Buffer): Promise<WebSocket> {
  const ws = new WebSocket(url, 'mqtt', ca === undefined ? {} : { ca });
  t.after(() => ws.terminate());
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** A WebSocket adapter for `trickle` and `closedWithin`. */
function asStream(ws: WebSocket) {
  return {
    write: (chunk: Buffer) => ws.send(chunk),
    get destroyed() {
      return ws.readyState === WebSocket.CLOSED || ws.readyState === WebSocket.CLOSING;
    },
    once: (_event: 'close', listener: () => void) => ws.once('close', listener),
  };
}

async function wsConnack(ws: WebSocket, packet: Buffer): Promise<number> {
  ws.send(packet);
  let received = Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const onMessage = (data: Buffer) => {
      received = Buffer.concat([received, data]);
      if (received.length < 4) return;
      ws.off('message', onMessage);
      resolve(received[3]!);
    };
    ws.on('message', onMessage);
    ws.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

test('a CONNECT announcing 250 MB is closed at once on TCP, TLS, WebSocket and secure WebSocket, before authentication', async (t) => {
  const dir = await tempDir(t);
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  await execFileAsync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  const ca = await readFile(cert);
  const app = await readerBroker(t, { tls: { cert, key } });
  const ports = app.ports();
  const announce = header(1, ANNOUNCED);

  const streams = [await rawSocket(t, ports.mqtt), await rawSocket(t, ports.mqtts!, { ca })];
  for (const socket of streams) {
    socket.write(announce);
    trickle(socket, TRICKLE);
  }
  const sockets = [await openWebSocket(t, `ws://127.0.0.1:${ports.ws}`), await openWebSocket(t, `wss://127.0.0.1:${ports.wss}`, ca)].map(asStream);
  for (const ws of sockets) {
    ws.write(announce);
    trickle(ws, TRICKLE);
  }
  const closed = await Promise.all([...streams, ...sockets].map((s) => closedWithin(s, AT_ONCE_MS)));
  assert.deepEqual(closed, [true, true, true, true], 'tcp, tls, ws, wss');
  assert.equal(await metric(app, 'sightline_broker_connections_closed_total', 'reason="connect_too_large"'), 4);
});

test('a CONNECT within the limit still connects; one byte over is closed', async (t) => {
  const app = await readerBroker(t, { maxConnectBytes: 300 });
  // Remaining length: protocol name and flags (10), client id (2 + n), username (2 + 6), password (2 + 9).
  const fits = connectPacket({ clientId: 'x'.repeat(300 - 31), clean: true, keepalive: 30, username: 'reader', password: 'reader-pw' });
  assert.equal(fits.length, 1 + 2 + 300);
  assert.equal((await rawConnect(t, app.ports().mqtt, fits)).returnCode, 0);
  const over = connectPacket({ clientId: 'x'.repeat(300 - 31 + 1), clean: true, keepalive: 30, username: 'reader', password: 'reader-pw' });
  assert.equal((await rawConnect(t, app.ports().mqtt, over)).returnCode, null);
  assert.equal(await metric(app, 'sightline_broker_connections_closed_total', 'reason="connect_too_large"'), 1);
});

test('the first packet must be a CONNECT, lengths must be well formed, and only client packet types are accepted', async (t) => {
  const app = await readerBroker(t);
  const port = app.ports().mqtt;
  const publishFirst = await rawSocket(t, port);
  publishFirst.write(header(3, 100));
  const malformed = await rawSocket(t, port);
  malformed.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01]));
  const login = () => connectPacket({ clientId: '', clean: true, keepalive: 30, username: 'reader', password: 'reader-pw' });
  const connack = await rawConnect(t, port, login());
  assert.equal(connack.returnCode, 0);
  connack.socket.write(Buffer.from([0x20, 0x02, 0x00, 0x00]));
  const longPuback = await rawConnect(t, port, login());
  longPuback.socket.write(Buffer.from([0x40, 0x03, 0x00, 0x01, 0x00]));
  const secondConnect = await rawConnect(t, port, login());
  secondConnect.socket.write(login());
  const closed = await Promise.all([publishFirst, malformed, connack.socket, longPuback.socket, secondConnect.socket].map((s) => closedWithin(s, AT_ONCE_MS)));
  assert.deepEqual(closed, [true, true, true, true, true]);
  assert.equal(await metric(app, 'sightline_broker_connections_closed_total', 'reason="first_not_connect"'), 1);
  assert.equal(await metric(app, 'sightline_broker_connections_closed_total', 'reason="malformed_length"'), 2);
  assert.equal(await metric(app, 'sightline_broker_connections_closed_total', 'reason="unexpected_type"'), 2);
});

test('after authentication a PUBLISH may announce the payload limit plus topic room, a SUBSCRIBE 64 KiB; more is closed at once', async (t) => {
  const maxPayloadBytes = 1024;
  const app = await readerBroker(t, { maxPayloadBytes });
  const port = app.ports().mqtt;
  const login = () => connectPacket({ clientId: '', clean: true, keepalive: 30, username: 'reader', password: 'reader-pw' });
  const limit = maxPayloadBytes + 2 + 65535 + 2;
  const atLimit = (await rawConnect(t, port, login())).socket;
  atLimit.write(header(3, limit));
  trickle(atLimit, TRICKLE, 50);
  const overLimit = (await rawConnect(t, port, login())).socket;
  overLimit.write(header(3, limit + 1));
  trickle(overLimit, TRICKLE);
  const bigSubscribe = (await rawConnect(t, port, login())).socket;
  bigSubscribe.write(header(8, 64 * 1024 + 1, 2));
  trickle(bigSubscribe, TRICKLE);
  assert.deepEqual(await Promise.all([overLimit, bigSubscribe].map((s) => closedWithin(s, AT_ONCE_MS))), [true, true]);
  assert.equal(atLimit.destroyed, false, 'a PUBLISH within the limit was cut off');
  assert.equal(await metric(app, 'sightline_broker_connections_closed_total', 'reason="publish_too_large"'), 1);
  assert.equal(await metric(app, 'sightline_broker_connections_closed_total', 'reason="subscribe_too_large"'), 1);
});

test('over WebSocket the limit applies to each MQTT packet, not each WebSocket message', async (t) => {
  const app = await readerBroker(t);
  const url = `ws://127.0.0.1:${app.ports().ws}`;
  // A PUBLISH announcing 250 MB, sent in WebSocket messages of 1 KiB each.
  const publisher = await openWebSocket(t, url);
  assert.equal(await wsConnack(publisher, connectPacket({ clientId: '', clean: true, keepalive: 30, username: 'reader', password: 'reader-pw' })), 0);
  const stream = asStream(publisher);
  stream.write(Buffer.concat([header(3, ANNOUNCED), Buffer.from([0, 1, 0x61])]));
  trickle(stream, TRICKLE);
  assert.equal(await closedWithin(stream, AT_ONCE_MS), true);
  assert.equal(await metric(app, 'sightline_broker_connections_closed_total', 'reason="publish_too_large"'), 1);
  // Before authentication a WebSocket message may carry a CONNECT and no more.
  const early = await openWebSocket(t, url);
  early.send(Buffer.alloc(64 * 1024));
  assert.equal(await closedWithin(asStream(early), AT_ONCE_MS), true);
});

test('after authentication a WebSocket client publishes a payload of several MiB', async (t) => {
  const app = await openBroker(t);
  const subscriber = await connectClient(t, mqttUrl(app));
  const inbox = collect(subscriber);
  await subscriber.subscribeAsync('sightline/big', { qos: 1 });
  const overWs = await connectClient(t, `ws://127.0.0.1:${app.ports().ws}`);
  await overWs.publishAsync('sightline/big', Buffer.alloc(3 * 1024 * 1024, 7), { qos: 1 });
  assert.equal((await inbox.next()).payload.length, 3 * 1024 * 1024);
});

test('connections are capped per address and in total, counted at accept before any byte', async (t) => {
  const perIp = await readerBroker(t, { maxConnectionsPerIp: 3 });
  const held = [await rawSocket(t, perIp.ports().mqtt), await rawSocket(t, perIp.ports().ws), await rawSocket(t, perIp.ports().mqtt)];
  const fourth = await rawSocket(t, perIp.ports().mqtt);
  assert.equal(await closedWithin(fourth, AT_ONCE_MS), true);
  assert.deepEqual(
    held.map((s) => s.destroyed),
    [false, false, false],
  );
  assert.equal(await metric(perIp, 'sightline_broker_connections_closed_total', 'reason="max_connections_per_ip"'), 1);
  // A closed connection frees its place.
  held[0]!.destroy();
  await sleep(100);
  const again = await rawSocket(t, perIp.ports().mqtt);
  assert.equal(await closedWithin(again, 300), false);

  const total = await readerBroker(t, { maxConnections: 2 });
  await rawSocket(t, total.ports().mqtt);
  await rawSocket(t, total.ports().ws);
  const third = await rawSocket(t, total.ports().mqtt);
  assert.equal(await closedWithin(third, AT_ONCE_MS), true);
  assert.equal(await metric(total, 'sightline_broker_connections_closed_total', 'reason="max_connections"'), 1);
});

/** A raw subscriber that reads its SUBACK and then stops reading, as a frozen client does. */
async function frozenSubscriber(t: TestContext, app: Awaited<ReturnType<typeof openBroker>>, filter: string, qos: 0 | 1) {
  const { socket, returnCode } = await rawConnect(t, app.ports().mqtt, connectPacket({ clientId: `frozen-${qos}`, clean: true, keepalive: 0 }));
  assert.equal(returnCode, 0);
  const topic = Buffer.from(filter);
  const body = Buffer.concat([Buffer.from([0, 1, topic.length >> 8, topic.length & 0xff]), topic, Buffer.from([qos])]);
  const subacked = new Promise<void>((resolve) => socket.on('data', (chunk: Buffer) => chunk.includes(0x90) && resolve()));
  socket.write(Buffer.concat([Buffer.from([0x82]), remainingLength(body.length), body]));
  await subacked;
  socket.pause();
  return socket;
}

test('a subscriber that stops reading holds at most its buffer limit: QoS 0 messages for it are dropped, a QoS 1 message closes it', async (t) => {
  const app = await openBroker(t, { maxClientBufferBytes: 8 * 1024 * 1024 });
  await frozenSubscriber(t, app, 'sightline/cameras/+/frame', 0);
  const publisher = await connectClient(t, mqttUrl(app));
  const frame = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < 120; i++) await publisher.publishAsync('sightline/cameras/a/frame', frame, { qos: 0 });
  await publisher.publishAsync('sightline/cameras/a/sync-point', 'x', { qos: 1 });
  await sleep(300);
  // The old broker wrote all 120 MiB into the frozen socket's buffer.
  const forwarded = await metric(app, 'sightline_broker_bytes_out_total');
  assert.ok(forwarded < 40 * 1024 * 1024, `${(forwarded / 1024 / 1024).toFixed(0)} MiB forwarded to a subscriber that reads nothing`);
  assert.ok((await metric(app, 'sightline_broker_slow_consumer_drops_total')) >= 80);

  await frozenSubscriber(t, app, 'sightline/lanes/+/scan', 1);
  const before = await metric(app, 'sightline_broker_connections');
  for (let i = 0; i < 40; i++) await publisher.publishAsync('sightline/lanes/l1/scan', frame, { qos: 1 });
  await sleep(300);
  // (A paused socket never sees its own close, so the broker's count tells.)
  assert.equal(await metric(app, 'sightline_broker_connections_closed_total', 'reason="slow_consumer"'), 1);
  assert.equal(await metric(app, 'sightline_broker_connections'), before - 1, 'a QoS 1 subscriber that takes nothing is disconnected');
});

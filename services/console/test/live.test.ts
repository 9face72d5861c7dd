import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { sleep, startTestBroker, waitUntil } from '@sightline/kit/testing';
import { channels, type Detections } from '@sightline/schemas';
import { MAX_VIEWER_BUFFER, type FrameHeader } from '../src/live.ts';
import { busClient, login, OPERATOR, startConsole } from './helpers.ts';

const JPEG = channels.frame.example.jpeg;

function detectionsOf(seq: number, capturedAt: number, label: string): Detections {
  return {
    ...channels.detections.example,
    seq,
    capturedAt,
    objects: [{ label, score: 0.9, box: { x: 0.1 * (seq % 5), y: 0.2, width: 0.3, height: 0.4 } }],
  };
}

function parseFrame(data: Buffer): { header: FrameHeader; jpeg: Buffer } {
  const length = data.readUInt32BE(0);
  return { header: JSON.parse(data.subarray(4, 4 + length).toString('utf8')), jpeg: data.subarray(4 + length) };
}

/** A browser's live socket, as the page opens it: with its session cookie, from its own origin. */
async function openLive(port: number, cookie: string, origin = `http://127.0.0.1:${port}`) {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/live`, { headers: { cookie, origin } });
  const frames: Array<{ header: FrameHeader; jpeg: Buffer }> = [];
  const messages: Array<{ type: string; [key: string]: unknown }> = [];
  socket.on('message', (data, isBinary) => {
    if (isBinary) frames.push(parseFrame(data as Buffer));
    else messages.push(JSON.parse(String(data)));
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('unexpected-response', (_req, res) => reject(new Error(`refused: ${res.statusCode}`)));
    socket.once('error', reject);
  });
  return { socket, frames, messages };
}

test('live: each frame goes out with the detections of that same frame, in order, whichever topic arrives first', async (t) => {
  const broker = await startTestBroker(t);
  const { app } = await startConsole(t, broker.url);
  await waitUntil('the console is on the bus', () => app.runtime.bus.ready());
  const { cookie } = await login(app, OPERATOR);
  const { bus } = await busClient(t, broker.url);
  const viewer = await openLive(app.runtime.httpPort(), cookie);
  t.after(() => viewer.socket.close());
  await waitUntil('hello', () => viewer.messages.some((m) => m.type === 'hello'));
  viewer.socket.send(JSON.stringify({ type: 'watch', cameras: ['demo'] }));
  await sleep(100);

  const base = Date.now();
  for (let seq = 1; seq <= 6; seq++) {
    const capturedAt = base + seq * 200;
    const frame = { meta: { camera: 'demo', seq, capturedAt, width: 640, height: 480 }, jpeg: JPEG };
    const detections = detectionsOf(seq, capturedAt, `thing-${seq}`);
    // Odd frames: the detections come first (another topic, no order between them).
    if (seq % 2 === 1) {
      await bus.publish(channels.detections, { camera: 'demo' }, detections);
      await sleep(20);
      await bus.publish(channels.frame, { camera: 'demo' }, frame);
    } else {
      await bus.publish(channels.frame, { camera: 'demo' }, frame);
      await sleep(20);
      await bus.publish(channels.detections, { camera: 'demo' }, detections);
    }
    await sleep(30);
  }
  await waitUntil('six frames', () => viewer.frames.length >= 6, 5000);
  assert.deepEqual(
    viewer.frames.map((f) => f.header.seq),
    [1, 2, 3, 4, 5, 6],
  );
  for (const { header, jpeg } of viewer.frames) {
    assert.deepEqual(header.objects, detectionsOf(header.seq, header.capturedAt, `thing-${header.seq}`).objects, `frame ${header.seq} carries its own boxes`);
    assert.equal(header.camera, 'demo');
    assert.ok(jpeg.length > 100 && jpeg[0] === 0xff && jpeg[1] === 0xd8, 'the JPEG follows its header');
  }
  // A late pair for a frame older than one already shown is not sent (never back in time).
  await bus.publish(channels.detections, { camera: 'demo' }, detectionsOf(2, base + 400, 'late'));
  await sleep(200);
  assert.equal(viewer.frames.length, 6);
});

test('live: with no detections lately a camera is shown bare (marked so); a socket that has not drained gets no frame (latest wins)', async (t) => {
  const broker = await startTestBroker(t);
  const { app } = await startConsole(t, broker.url);
  await waitUntil('the console is on the bus', () => app.runtime.bus.ready());
  const { bus } = await busClient(t, broker.url);
  const sent: Buffer[] = [];
  let buffered = 0;
  app.hub.addViewer({ cameras: null, bufferedAmount: () => buffered, send: (data) => typeof data !== 'string' && sent.push(data) });
  const frame = (seq: number) => ({ meta: { camera: 'door', seq, capturedAt: Date.now(), width: 640, height: 480 }, jpeg: JPEG });
  await bus.publish(channels.frame, { camera: 'door' }, frame(1));
  await waitUntil('a bare frame', () => sent.length === 1);
  assert.equal(parseFrame(sent[0]!).header.objects, null, 'no detections: objects null, not []');
  buffered = MAX_VIEWER_BUFFER + 1;
  await bus.publish(channels.frame, { camera: 'door' }, frame(2));
  await sleep(200);
  assert.equal(sent.length, 1, 'not sent while the socket is full');
  buffered = 0;
  await bus.publish(channels.frame, { camera: 'door' }, frame(3));
  await waitUntil('the newest frame', () => sent.length === 2);
  assert.equal(parseFrame(sent[1]!).header.seq, 3);
  const metrics = await app.runtime.http.inject({ url: '/metrics' });
  assert.match(metrics.body, /sightline_console_frames_skipped_total\{camera="door",service="console"\} 1/);
});

test('live socket: no session, another origin or anything but a watch message, and it is refused or closed', async (t) => {
  const broker = await startTestBroker(t);
  const { app } = await startConsole(t, broker.url);
  const port = app.runtime.httpPort();
  await assert.rejects(openLive(port, ''), /refused: 401/);
  const { cookie } = await login(app, OPERATOR);
  await assert.rejects(openLive(port, cookie, 'http://evil.example'), /refused: 403/);
  for (const bad of ['not json', JSON.stringify({ type: 'watch', cameras: ['../x'] }), JSON.stringify({ type: 'publish', topic: 'x' }), 'x'.repeat(5000)]) {
    const viewer = await openLive(port, cookie);
    const closed = new Promise<number>((resolve) => viewer.socket.once('close', (code) => resolve(code)));
    viewer.socket.send(bad);
    const code = await closed;
    assert.ok(code === 1008 || code === 1009, `closed with ${code} for ${bad.slice(0, 40)}`);
  }
});

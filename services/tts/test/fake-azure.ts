import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TestContext } from 'node:test';

/**
 * A local stand-in for the Azure TTS websocket endpoint, speaking just enough of its protocol
 * (text frames with headers, binary audio frames with a 2-byte header length) for the real SDK to
 * complete a synthesis. Records what the SDK sent (SSML, key); `stall` makes it never answer.
 */
export interface FakeAzure {
  url: string;
  requests: Array<{ ssml: string; key: string | undefined; path: string }>;
  stall: boolean;
  /** Answer this many ms late. */
  delayMs: number;
  /** The raw PCM every answer carries (600 ms of a 440 Hz tone, 24 kHz mono). */
  audio: Buffer;
}

function frame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const header = length < 126 ? Buffer.from([0x80 | opcode, length]) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (length >= 126 && length < 65536) {
    header[0] = 0x80 | opcode;
    header[1] = 126;
    header.writeUInt16BE(length, 2);
  } else if (length >= 65536) {
    header[0] = 0x80 | opcode;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  return Buffer.concat([header, payload]);
}

/** Splits client frames (always masked) off the front of `buffer`. */
function readFrames(buffer: Buffer): { frames: Array<{ opcode: number; payload: Buffer }>; rest: Buffer } {
  const frames: Array<{ opcode: number; payload: Buffer }> = [];
  let offset = 0;
  for (;;) {
    if (buffer.length - offset < 2) break;
    const opcode = buffer[offset]! & 0x0f;
    let length = buffer[offset + 1]! & 0x7f;
    let at = offset + 2;
    if (length === 126) {
      if (buffer.length < at + 2) break;
      length = buffer.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      if (buffer.length < at + 8) break;
      length = Number(buffer.readBigUInt64BE(at));
      at += 8;
    }
    if (buffer.length < at + 4 + length) break;
    const mask = buffer.subarray(at, at + 4);
    const payload = Buffer.from(buffer.subarray(at + 4, at + 4 + length));
    for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
    frames.push({ opcode, payload });
    offset = at + 4 + length;
  }
  return { frames, rest: buffer.subarray(offset) };
}

function tone(ms: number, sampleRate = 24000): Buffer {
  const samples = Math.round((ms / 1000) * sampleRate);
  const pcm = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) pcm.writeInt16LE(Math.round(9000 * Math.sin((2 * Math.PI * 440 * i) / sampleRate)), i * 2);
  return pcm;
}

export async function startFakeAzure(t: TestContext): Promise<FakeAzure> {
  const sockets = new Set<Socket>();
  const fake: FakeAzure = { url: '', requests: [], stall: false, delayMs: 0, audio: tone(600) };
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    // The SDK in Node sends the key as a header or, for fromEndpoint, in the query string.
    const key =
      (req.headers['ocp-apim-subscription-key'] as string | undefined) ??
      new URL(req.url ?? '/', 'ws://x').searchParams.get('Ocp-Apim-Subscription-Key') ??
      undefined;
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      const { frames, rest } = readFrames(Buffer.concat([pending, chunk]));
      pending = rest;
      for (const { opcode, payload } of frames) {
        if (opcode === 8) {
          socket.end(frame(8, Buffer.alloc(0)));
          continue;
        }
        if (opcode === 9) {
          socket.write(frame(10, payload));
          continue;
        }
        if (opcode !== 1) continue;
        const text = payload.toString('utf8');
        const [head = '', body = ''] = text.split('\r\n\r\n');
        const headers = Object.fromEntries(
          head.split('\r\n').map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
        );
        if (headers.path !== 'ssml') continue;
        fake.requests.push({ ssml: body, key, path: req.url ?? '' });
        if (fake.stall) continue;
        const id = headers['x-requestid'];
        const answer = () => {
          const textMessage = (path: string, json: object) =>
            frame(1, Buffer.from(`X-RequestId:${id}\r\nContent-Type:application/json\r\nPath:${path}\r\n\r\n${JSON.stringify(json)}`));
          socket.write(textMessage('turn.start', { context: { serviceTag: 'fake' } }));
          socket.write(textMessage('response', { context: { serviceTag: 'fake' }, audio: { type: 'inline', streamId: 'fake-stream' } }));
          const audioHeaders = Buffer.from(`X-RequestId:${id}\r\nX-StreamId:fake-stream\r\nPath:audio\r\n`);
          const length = Buffer.alloc(2);
          length.writeUInt16BE(audioHeaders.length);
          socket.write(frame(2, Buffer.concat([length, audioHeaders, fake.audio])));
          socket.write(textMessage('turn.end', {}));
        };
        if (fake.delayMs > 0) setTimeout(answer, fake.delayMs);
        else answer();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/cognitiveservices/websocket/v1`;
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return fake;
}

/**
 * The benchmark's other side, in its own process (as in production, where the broker is its own
 * process and cameras publish from elsewhere): an aedes broker, the frame publisher and the
 * detections subscriber. Driven by the bench over IPC; latency is measured here, from publishing a
 * frame to receiving its detections.
 */
import net from 'node:net';
import { Aedes } from 'aedes';
import { connect } from 'mqtt';
import { channels, createTopics, encodeFrame } from '@sightline/schemas';

export type PeerCommand =
  | { cmd: 'connect'; jpeg: string }
  | { cmd: 'sequential'; from: number; count: number }
  | { cmd: 'saturate'; firstSeq: number; fps: number; seconds: number }
  | { cmd: 'report'; firstSeq: number }
  | { cmd: 'close' };

export type PeerReply =
  | { reply: 'listening'; url: string }
  | { reply: 'connected' }
  | { reply: 'sequential'; latencies: number[]; wallMs: number }
  | { reply: 'saturated'; offered: number }
  | { reply: 'report'; latencies: number[]; servedWindowMs: number }
  | { reply: 'closed' };

const send = (msg: PeerReply) => process.send!(msg);

const broker = await Aedes.createBroker();
const server = net.createServer((socket) => broker.handle(socket));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
const topics = createTopics('sightline');
const frameTopic = topics.topic(channels.frame, { camera: 'bench' });
const client = connect(url, { protocolVersion: 4 });
await new Promise<void>((resolve) => client.once('connect', () => resolve()));
const sentAt = new Map<number, number>();
const arrived = new Map<number, number>();
let onArrive: (() => void) | null = null;
client.on('message', (_topic, payload) => {
  const d = channels.detections.codec.decode(payload);
  arrived.set(d.seq, performance.now());
  onArrive?.();
});
await client.subscribeAsync(topics.filter(channels.detections), { qos: 0 });
let jpeg = Buffer.alloc(0);

const publish = (seq: number) => {
  const bytes = encodeFrame(jpeg, { camera: 'bench', seq, capturedAt: Date.now() });
  sentAt.set(seq, performance.now());
  client.publish(frameTopic, bytes, { qos: 0 });
};
const sendAndWait = (seq: number) =>
  new Promise<number>((resolve) => {
    onArrive = () => {
      if (arrived.has(seq)) resolve(arrived.get(seq)! - sentAt.get(seq)!);
    };
    publish(seq);
  });

async function onCommand(msg: PeerCommand): Promise<void> {
  switch (msg.cmd) {
    case 'connect':
      jpeg = Buffer.from(msg.jpeg, 'base64');
      send({ reply: 'connected' });
      break;
    case 'sequential': {
      const latencies: number[] = [];
      const t0 = performance.now();
      for (let seq = msg.from; seq < msg.from + msg.count; seq++) latencies.push(await sendAndWait(seq));
      onArrive = null;
      send({ reply: 'sequential', latencies, wallMs: performance.now() - t0 });
      break;
    }
    case 'saturate': {
      const t0 = performance.now();
      const end = t0 + msg.seconds * 1000;
      let seq = msg.firstSeq;
      let offered = 0;
      while (performance.now() < end) {
        publish(seq++);
        offered++;
        const due = t0 + (offered * 1000) / msg.fps;
        await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
      }
      send({ reply: 'saturated', offered });
      break;
    }
    case 'report': {
      const served = [...arrived.keys()].filter((seq) => seq >= msg.firstSeq);
      const latencies = served.map((seq) => arrived.get(seq)! - sentAt.get(seq)!);
      const servedWindowMs = Math.max(...served.map((seq) => arrived.get(seq)!)) - sentAt.get(msg.firstSeq)!;
      send({ reply: 'report', latencies, servedWindowMs });
      break;
    }
    case 'close':
      await client.endAsync(true);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      send({ reply: 'closed' });
      process.disconnect();
      break;
  }
}

process.on('message', (msg: PeerCommand) => {
  onCommand(msg).catch((err: unknown) => {
    process.stderr.write(`mqtt peer: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
});
send({ reply: 'listening', url });

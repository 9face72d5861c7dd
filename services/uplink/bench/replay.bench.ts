/**
 * The uplink's rates on this machine, against Debian's Mosquitto over TLS on loopback:
 * - intake: scans published on the local broker (QoS 1) into the on-disk queue while the upstream is away;
 * - replay: the queue delivered once the upstream is back (QoS 1, acknowledged), to a cloud reader;
 * - live: scans forwarded while connected, local publish to upstream arrival.
 * `node services/uplink/bench/replay.bench.ts [messages]` (default 20000).
 */
import type { TestContext } from 'node:test';
import { connectAsync } from 'mqtt';
import { channels, createTopics } from '@sightline/schemas';
import { cloudReader, PREFIX, startTestBroker, startUplink, startUpstream, tempDir, uplinkEnv, waitUntil } from '../test/helpers.ts';

const count = Number(process.argv[2] ?? 20_000);
const cleanups: Array<() => unknown> = [];
// The test helpers clean up through a test context; here, at the end.
const t = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as TestContext;
const local = createTopics('sightline');

try {
  const broker = await startTestBroker(t);
  const upstream = await startUpstream(t);
  const reader = await cloudReader(t, upstream, `${PREFIX}/lanes/#`);
  await upstream.stop();
  const app = await startUplink(t, uplinkEnv(upstream, broker.url, tempDir(t), { SIGHTLINE_UPLINK_QUEUE_MAX_MESSAGES: String(count * 2) }));
  const services = await connectAsync(broker.url, { protocolVersion: 4 });
  cleanups.push(() => services.endAsync(true));
  const topic = local.topic(channels.scan, { lane: 'lane-1' });
  const payloads = Array.from({ length: count * 2 }, (_, n) => channels.scan.codec.encode({ ...channels.scan.example, id: `scan-${n}`, seq: n }));

  let began = performance.now();
  await Promise.all(payloads.slice(0, count).map((payload) => services.publishAsync(topic, payload, { qos: 1 })));
  await waitUntil('all queued', () => app.queue.messages === count, 120_000);
  const intake = count / ((performance.now() - began) / 1000);
  const bytes = app.queue.bytes;

  await upstream.start();
  began = performance.now();
  await waitUntil('the queue delivered', () => reader.messages.length >= count, 300_000).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}: read ${reader.messages.length}, uplink state ${JSON.stringify(app.state())}`);
  });
  const replay = count / ((performance.now() - began) / 1000);

  began = performance.now();
  await Promise.all(payloads.slice(count).map((payload) => services.publishAsync(topic, payload, { qos: 1 })));
  await waitUntil('live delivered', () => reader.messages.length >= 2 * count, 300_000);
  const live = count / ((performance.now() - began) / 1000);
  const inOrder = reader.messages.every((m, i) => JSON.parse(m.payload.toString()).seq === i);

  process.stdout.write(
    `${count} scans of ${payloads[0]!.length} B (${(bytes / count).toFixed(0)} B a record on disk), QoS 1 both ends, TLS upstream:\n` +
      `  intake to the disk queue, upstream away: ${intake.toFixed(0)} msg/s\n` +
      `  replay of the queue once back:          ${replay.toFixed(0)} msg/s\n` +
      `  live forwarding, local to upstream:      ${live.toFixed(0)} msg/s\n` +
      `  all in order, none twice: ${inOrder && reader.messages.length === 2 * count}\n`,
  );
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}

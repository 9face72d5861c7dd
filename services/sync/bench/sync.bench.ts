/**
 * Selected images per second into a real Azurite, through MQTT, the ring, the durable outbox and
 * the uploader, with the outbox's fsync on and off; and the time from a frame's capture to its
 * blob existing (p50/p95), saturated and paced. Run: `pnpm --filter @sightline/sync bench`.
 */
import type { TestContext } from 'node:test';
import { createSyncApp } from '../src/app.ts';
import { detectionsFor, publisher, startAzurite, startTestBroker, tempDir, testConfig, testLogger, waitUntil } from '../test/helpers.ts';

const IMAGE_BYTES = Number(process.env.BENCH_IMAGE_BYTES ?? 60 * 1024);
const SATURATED = Number(process.env.BENCH_IMAGES ?? 300);
const PACED = Number(process.env.BENCH_PACED_IMAGES ?? 60);
const PACED_PER_SECOND = 20;

const cleanups: Array<() => unknown> = [];
const t = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as TestContext;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Result {
  mode: string;
  images: number;
  perSecond: number;
  p50: number;
  p95: number;
}

async function run(broker: { url: string }, connectionString: string, fsync: boolean, count: number, perSecond: number | null): Promise<Result> {
  const dir = tempDir(t, 'sync-bench');
  const container = `bench-${fsync ? 'fsync' : 'nofsync'}-${perSecond === null ? 'max' : 'paced'}`;
  const latencies: number[] = [];
  const app = createSyncApp(
    testConfig(broker.url, dir, connectionString, {
      SIGHTLINE_SYNC_FSYNC: String(fsync),
      SIGHTLINE_SYNC_CONTAINER: container,
      SIGHTLINE_SYNC_MAX_UPLOADS_PER_HOUR: '1000000',
      SIGHTLINE_SYNC_RING_FRAMES: '1000',
      SIGHTLINE_SYNC_RING_BYTES: String(512 * 1024 * 1024),
      SIGHTLINE_SYNC_RINGS_MAX_BYTES: String(512 * 1024 * 1024),
    }),
    testLogger(),
    { onUploaded: (header, _outcome, at) => latencies.push(at - header.capturedAt) },
  );
  await app.start();
  await waitUntil('ready', async () => (await app.runtime.http.inject({ url: '/readyz' })).statusCode === 200, 10_000);
  const pub = await publisher(t, broker.url);
  const camera = `bench${fsync ? 1 : 0}`;
  const started = performance.now();
  const inflight: Array<Promise<unknown>> = [];
  for (let seq = 0; seq < count; seq++) {
    if (perSecond !== null) {
      const due = started + (seq * 1000) / perSecond;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    const capturedAt = Date.now();
    // Saturated: publish without waiting for each acknowledgement, so the sync service is the bottleneck.
    const sent = Promise.all([pub.frame(camera, seq, capturedAt, IMAGE_BYTES), pub.detections(detectionsFor(camera, seq, capturedAt, [['item', 0.5]]))]);
    inflight.push(sent);
    if (perSecond !== null || inflight.length >= 50) await Promise.all(inflight.splice(0));
  }
  await Promise.all(inflight);
  await waitUntil('all uploaded', () => app.stats().uploaded === count, 120_000);
  const seconds = (performance.now() - started) / 1000;
  await app.stop();
  await pub.client.endAsync(true);
  return {
    mode: `fsync ${fsync ? 'on ' : 'off'} ${perSecond === null ? 'saturated' : `paced ${perSecond}/s`}`,
    images: count,
    perSecond: count / seconds,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
  };
}

try {
  const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
  const results: Result[] = [];
  for (const fsync of [true, false]) {
    results.push(await run(broker, azurite.connectionString, fsync, SATURATED, null));
    results.push(await run(broker, azurite.connectionString, fsync, PACED, PACED_PER_SECOND));
  }
  console.log(`sync bench: ${IMAGE_BYTES} byte JPEGs, every one selected (uncertain), MQTT -> outbox -> Azurite, upload concurrency 4`);
  console.log('mode                        images  images/s  capture->blob p50  p95');
  for (const r of results) {
    console.log(`${r.mode.padEnd(28)}${String(r.images).padStart(6)}  ${r.perSecond.toFixed(1).padStart(8)}  ${`${r.p50} ms`.padStart(17)}  ${r.p95} ms`);
  }
  const on = results.find((r) => r.mode.startsWith('fsync on  saturated'))!;
  const off = results.find((r) => r.mode.startsWith('fsync off saturated'))!;
  console.log(`fsync on / fsync off throughput ratio (saturated): ${(on.perSecond / off.perSecond).toFixed(2)}`);
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}

/**
 * The inference benchmark: in one run, with the same model (the default CenterNet) and the same
 * intra-op thread count,
 *
 *   (a) the ceiling: bare `session.run` in a loop on a tensor prepared once;
 *   (b) the service path: JPEG frames published on an in-process broker, offered at 1.5x the
 *       ceiling, through the real service (decode, resize, tensor, run, decode outputs, publish) to
 *       the detections messages arriving at a subscriber: throughput, and latency from publish to
 *       detections (latest wins, so the surplus is dropped);
 *   (b1) the same path with one frame at a time: the latency of a frame that never waits.
 *
 * It reports fps, p50/p95 latency, the ratio b/a, CPU use and RSS, and the default model's run
 * latency at 1 and 2 threads.
 *
 *   pnpm bench:inference [-- --frames 60 --threads 2]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Aedes } from 'aedes';
import { connect } from 'mqtt';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { createLogger } from '@sightline/kit';
import { channels, createTopics, encodeFrame } from '@sightline/schemas';
import { createInferenceApp } from '../src/app.ts';
import { DEFAULT_THREADS, type InferenceConfig } from '../src/config.ts';
import { prepareInput } from '../src/pipeline/image.ts';
import { BUILTIN_MODEL_ID, loadModel } from '../src/pipeline/model-session.ts';
import { emojiScene } from '../test/helpers.ts';

const { values: args } = parseArgs({
  options: { frames: { type: 'string', default: '60' }, threads: { type: 'string', default: String(DEFAULT_THREADS) }, seconds: { type: 'string', default: '5' } },
});
const FRAMES = Number(args.frames);
const THREADS = Number(args.threads);
const SATURATE_S = Number(args.seconds);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const f1 = (v: number) => v.toFixed(1);

/** CPU (user + system, as % of one core) and peak RSS while `fn` runs. */
async function measured<T>(fn: () => Promise<T>): Promise<{ result: T; wallMs: number; cpuPercent: number; rssMb: number }> {
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    const result = await fn();
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, wallMs, cpuPercent: ((cpu.user + cpu.system) / 1000 / wallMs) * 100, rssMb: peak / 1e6 };
  } finally {
    clearInterval(sampler);
  }
}

const dataDir = await mkdtemp(join(tmpdir(), 'sightline-inference-bench-'));
const logger = createLogger('inference', 'silent');
try {
  const scene = await emojiScene('1f34a');
  const jpeg = await sharp(scene.rgb, { raw: { width: scene.width, height: scene.height, channels: 3 } }).jpeg({ quality: 80 }).toBuffer();
  console.log(`frame: ${scene.width}x${scene.height} JPEG, ${jpeg.length} bytes; model ${BUILTIN_MODEL_ID}; ${FRAMES} frames per phase; cores: ${(await import('node:os')).availableParallelism()}`);

  // (a) at 1 and 2 threads: the default model's latency, and the ceiling at THREADS.
  const ceilings = new Map<number, { p50: number; p95: number; fps: number; cpu: number; rss: number }>();
  for (const threads of [...new Set([1, 2, THREADS])]) {
    const model = await loadModel(BUILTIN_MODEL_ID, { threads, modelsDir: join(dataDir, 'models'), dataDir });
    const input = await prepareInput(jpeg, model.descriptor.input);
    const feeds = { [model.descriptor.input.name]: new ort.Tensor('float32', input.tensor, input.dims) };
    for (let i = 0; i < 3; i++) await model.session.run(feeds);
    const times: number[] = [];
    const m = await measured(async () => {
      for (let i = 0; i < FRAMES; i++) {
        const t0 = performance.now();
        await model.session.run(feeds);
        times.push(performance.now() - t0);
      }
    });
    ceilings.set(threads, { p50: pct(times, 50), p95: pct(times, 95), fps: (FRAMES * 1000) / m.wallMs, cpu: m.cpuPercent, rss: m.rssMb });
    await model.release();
  }

  // (b) and (c): the service, over a real (in-process) broker.
  const broker = await Aedes.createBroker();
  const server = net.createServer((socket) => broker.handle(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const config: InferenceConfig = {
    logLevel: 'silent',
    mqtt: { url, topicPrefix: 'sightline', username: undefined, password: undefined, ca: undefined },
    http: { host: '127.0.0.1', port: 0 },
    dataDir,
    modelsDir: join(dataDir, 'models'),
    model: BUILTIN_MODEL_ID,
    threads: THREADS,
    scoreThreshold: undefined,
    cameras: null,
  };
  const app = createInferenceApp(config, logger);
  await app.start();
  const topics = createTopics('sightline');
  const client = connect(url, { protocolVersion: 4 });
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  const arrived = new Map<number, number>();
  let onArrive: (() => void) | null = null;
  client.on('message', (_topic, payload) => {
    const d = channels.detections.codec.decode(payload);
    arrived.set(d.seq, performance.now());
    onArrive?.();
  });
  await client.subscribeAsync(topics.filter(channels.detections), { qos: 0 });
  while (!app.runtime.bus.ready()) await new Promise((r) => setTimeout(r, 20));
  const frameTopic = topics.topic(channels.frame, { camera: 'bench' });
  const frame = (seq: number) => encodeFrame(jpeg, { camera: 'bench', seq, capturedAt: Date.now() });

  const sentAt = new Map<number, number>();
  const send = (seq: number) => {
    sentAt.set(seq, performance.now());
    client.publish(frameTopic, frame(seq), { qos: 0 });
  };
  const sendAndWait = (seq: number) =>
    new Promise<number>((resolve) => {
      onArrive = () => {
        if (arrived.has(seq)) resolve(arrived.get(seq)! - sentAt.get(seq)!);
      };
      send(seq);
    });
  for (let seq = 0; seq < 3; seq++) await sendAndWait(seq); // warm

  // (b1) one frame at a time: the latency of a frame that never waits.
  const latencies: number[] = [];
  const single = await measured(async () => {
    for (let seq = 3; seq < FRAMES + 3; seq++) latencies.push(await sendAndWait(seq));
  });
  onArrive = null;

  // (b) offered at 1.5x the ceiling for SATURATE_S seconds: the service's throughput (latest wins).
  const offeredFps = 1.5 * ceilings.get(THREADS)!.fps;
  const firstSeq = 10_000;
  let offered = 0;
  const saturated = await measured(async () => {
    const t0 = performance.now();
    const end = t0 + SATURATE_S * 1000;
    let seq = firstSeq;
    while (performance.now() < end) {
      send(seq++);
      offered++;
      const due = t0 + (offered * 1000) / offeredFps;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    }
    await app.scheduler.idle();
    await new Promise((r) => setTimeout(r, 50));
  });
  const servedSeqs = [...arrived.keys()].filter((seq) => seq >= firstSeq);
  const served = servedSeqs.length;
  const saturatedLatencies = servedSeqs.map((seq) => arrived.get(seq)! - sentAt.get(seq)!);
  const servedWindowMs = Math.max(...servedSeqs.map((seq) => arrived.get(seq)!)) - sentAt.get(firstSeq)!;
  const stage = await app.runtime.registry.getSingleMetric('sightline_inference_stage_seconds')?.get();
  const mean = (name: string) => {
    const sum = stage?.values.find((v) => (v as { metricName?: string }).metricName?.endsWith('_sum') && v.labels['stage'] === name)?.value ?? 0;
    const count = stage?.values.find((v) => (v as { metricName?: string }).metricName?.endsWith('_count') && v.labels['stage'] === name)?.value ?? 1;
    return (sum / count) * 1000;
  };
  await client.endAsync(true);
  await app.stop();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await new Promise<void>((resolve) => broker.close(() => resolve()));

  const a = ceilings.get(THREADS)!;
  const bFps = (served * 1000) / servedWindowMs;
  const singleFps = (FRAMES * 1000) / single.wallMs;
  console.log('');
  console.log('| threads | session.run p50 | p95 | fps | CPU |');
  console.log('|---|---|---|---|---|');
  for (const [threads, c] of [...ceilings].sort((x, y) => x[0] - y[0])) console.log(`| ${threads} | ${f1(c.p50)} ms | ${f1(c.p95)} ms | ${f1(c.fps)} | ${f1(c.cpu)} % |`);
  console.log('');
  console.log(`| path (${THREADS} threads) | fps | p50 | p95 | CPU (% of one core) | peak RSS |`);
  console.log('|---|---|---|---|---|---|');
  console.log(`| (a) bare session.run, prepared tensor | ${f1(a.fps)} | ${f1(a.p50)} ms | ${f1(a.p95)} ms | ${f1(a.cpu)} % | ${f1(a.rss)} MB |`);
  console.log(`| (b) service, JPEG -> detections message, offered ${f1(offeredFps)} fps | ${f1(bFps)} | ${f1(pct(saturatedLatencies, 50))} ms | ${f1(pct(saturatedLatencies, 95))} ms | ${f1(saturated.cpuPercent)} % | ${f1(saturated.rssMb)} MB |`);
  console.log(`| (b1) service, one frame at a time | ${f1(singleFps)} | ${f1(pct(latencies, 50))} ms | ${f1(pct(latencies, 95))} ms | ${f1(single.cpuPercent)} % | ${f1(single.rssMb)} MB |`);
  console.log('');
  console.log(`ratio b/a (fps): ${(bFps / a.fps).toFixed(3)} (goal >= 0.85); one frame at a time: ${(singleFps / a.fps).toFixed(3)}`);
  console.log(`(b): ${offered} offered, ${served} served, ${offered - served} dropped (latest wins); latency is from publishing the frame to receiving its detections`);
  console.log(`service stages, mean: decode ${f1(mean('decode'))} ms, preprocess ${f1(mean('preprocess'))} ms, inference ${f1(mean('inference'))} ms, postprocess ${f1(mean('postprocess'))} ms`);
  console.log('CPU and RSS are of this whole process: the broker and the MQTT clients run in it too.');
} finally {
  await rm(dataDir, { recursive: true, force: true });
}

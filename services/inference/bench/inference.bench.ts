/**
 * The inference benchmark: in one run, with the same model (the default CenterNet) and the same
 * intra-op thread count,
 *
 *   (a) the ceiling: bare `session.run` in a loop on a tensor prepared once;
 *   (b) the service path: JPEG frames published on a broker (in a child process, with the
 *       publisher and subscriber, so CPU and RSS are the service's own), offered at 1.5x the
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
import { fork } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from '../src/onnxruntime.ts';
import sharp from 'sharp';
import { createLogger } from '@sightline/kit';
import { createInferenceApp } from '../src/app.ts';
import { DEFAULT_RECOGNITION_THRESHOLD, DEFAULT_THREADS, type InferenceConfig } from '../src/config.ts';
import { prepareInput } from '../src/pipeline/image.ts';
import { BUILTIN_MODEL_ID, builtinDescriptor, loadModel, sessionOptions } from '../src/model/loader.ts';
import { ensureDefaultModel } from '../src/model/default-model.ts';
import { emojiScene } from '../test/helpers.ts';
import type { PeerCommand, PeerReply } from './mqtt-peer.ts';

const { values: args } = parseArgs({
  // `pnpm bench:inference -- --threads 1` passes the `--` through.
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    frames: { type: 'string', default: '60' },
    threads: { type: 'string', default: String(DEFAULT_THREADS) },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '5' },
  },
});
const FRAMES = Number(args.frames);
const THREADS = Number(args.threads);
const SATURATE_S = Number(args.seconds);
const ROUNDS = Number(args.rounds);

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
  const jpeg = await sharp(scene.rgb, { raw: { width: scene.width, height: scene.height, channels: 3 } })
    .jpeg({ quality: 80 })
    .toBuffer();
  console.log(
    `frame: ${scene.width}x${scene.height} JPEG, ${jpeg.length} bytes; model ${BUILTIN_MODEL_ID}; ${FRAMES} frames per phase; cores: ${(await import('node:os')).availableParallelism()}`,
  );

  // (a) at 1 and 2 threads: the default model's latency, and the ceiling at THREADS, with idle
  // intra-op threads sleeping (as the service runs it) and spinning (the model alone at its
  // fastest). The ceiling is the faster of the two.
  const ceilings = new Map<string, { threads: number; spinning: boolean; p50: number; p95: number; fps: number; cpu: number; rss: number }>();
  {
    // The model the service serves (converted once into dataDir), opened bare on this thread.
    const model = await loadModel(BUILTIN_MODEL_ID, { threads: THREADS, modelsDir: join(dataDir, 'models'), dataDir });
    const input = await prepareInput(jpeg, model.descriptor.input);
    const feeds = { [model.descriptor.input.name]: new ort.Tensor('float32', input.tensor, input.dims) };
    await model.release();
    const { onnxPath } = await ensureDefaultModel(dataDir);
    for (const threads of [...new Set([1, 2, THREADS])]) {
      for (const spinning of [false, true]) {
        const session = await ort.InferenceSession.create(onnxPath, sessionOptions(threads, spinning));
        for (let i = 0; i < 3; i++) await session.run(feeds);
        const times: number[] = [];
        const m = await measured(async () => {
          for (let i = 0; i < FRAMES; i++) {
            const t0 = performance.now();
            await session.run(feeds);
            times.push(performance.now() - t0);
          }
        });
        ceilings.set(`${threads}/${spinning}`, {
          threads,
          spinning,
          p50: pct(times, 50),
          p95: pct(times, 95),
          fps: (FRAMES * 1000) / m.wallMs,
          cpu: m.cpuPercent,
          rss: m.rssMb,
        });
        await session.release();
      }
    }
  }
  const ceilingOf = (threads: number) => [ceilings.get(`${threads}/false`)!, ceilings.get(`${threads}/true`)!].sort((x, y) => y.fps - x.fps)[0]!;

  // (b) and (b1): the service in this process; the broker, the frame publisher and the detections
  // subscriber in a child process (as in production), so CPU and RSS here are the service's own.
  const peer = fork(fileURLToPath(new URL('./mqtt-peer.ts', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const replies: PeerReply[] = [];
  const waiters: Array<() => void> = [];
  peer.on('message', (msg: PeerReply) => {
    replies.push(msg);
    for (const w of waiters.splice(0)) w();
  });
  const reply = async <K extends PeerReply['reply']>(kind: K): Promise<Extract<PeerReply, { reply: K }>> => {
    for (;;) {
      const i = replies.findIndex((r) => r.reply === kind);
      if (i >= 0) return replies.splice(i, 1)[0] as Extract<PeerReply, { reply: K }>;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  const ask = <K extends PeerReply['reply']>(command: PeerCommand, kind: K) => {
    peer.send(command);
    return reply(kind);
  };
  const { url } = await reply('listening');
  await ask({ cmd: 'connect', jpeg: jpeg.toString('base64') }, 'connected');
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
    maxCameras: 64,
    cameraIdleMs: 60_000,
    waitingMaxBytes: 64 * 1024 * 1024,
    maxPredictions: 4,
    predictionUrlHosts: [],
    recentFrames: { perCamera: 150, maxBytes: 64 * 1024 * 1024 },
    syncUrl: null,
    replica: null,
    recognition: {
      productsDir: join(dataDir, 'products'),
      threshold: DEFAULT_RECOGNITION_THRESHOLD,
      maxObjects: 3,
      ignore: ['person'],
      limits: { maxProducts: 1000, maxPhotosPerProduct: 200, maxPhotos: 20_000 },
    },
  };
  const app = createInferenceApp(config, logger);
  await app.start();
  while (!app.runtime.bus.ready()) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100)); // the frame subscription is on its way to the broker
  await ask({ cmd: 'sequential', from: 0, count: 3 }, 'sequential'); // warm

  // (b1) one frame at a time: the latency of a frame that never waits.
  const single = await measured(() => ask({ cmd: 'sequential', from: 3, count: FRAMES }, 'sequential'));
  const latencies = single.result.latencies;

  // (b) offered at 1.5x the ceiling for SATURATE_S seconds: the service's throughput (latest
  // wins). On a shared machine the cores' speed drifts within seconds, so each round measures the
  // ceiling again right before the service, and the ratio is that round's; the rounds give the
  // spread.
  const a = ceilingOf(THREADS);
  const ceilingSession = await ort.InferenceSession.create((await ensureDefaultModel(dataDir)).onnxPath, sessionOptions(THREADS, a.spinning));
  const inputSpec = builtinDescriptor('bench').input;
  const ceilingInput = await prepareInput(jpeg, inputSpec);
  const ceilingFeeds = { [inputSpec.name]: new ort.Tensor('float32', ceilingInput.tensor, ceilingInput.dims) };
  for (let i = 0; i < 3; i++) await ceilingSession.run(ceilingFeeds);
  const offeredFps = 1.5 * a.fps;
  const rounds: Array<{ ceilingFps: number; serviceFps: number; offered: number; served: number; cpu: number; rss: number; latencies: number[] }> = [];
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = performance.now();
    for (let i = 0; i < FRAMES; i++) await ceilingSession.run(ceilingFeeds);
    const ceilingFps = (FRAMES * 1000) / (performance.now() - t0);
    const firstSeq = 10_000 * (round + 1);
    const saturated = await measured(async () => {
      const { offered } = await ask({ cmd: 'saturate', firstSeq, fps: offeredFps, seconds: SATURATE_S }, 'saturated');
      await app.scheduler.idle();
      await new Promise((r) => setTimeout(r, 50));
      return offered;
    });
    const report = await ask({ cmd: 'report', firstSeq }, 'report');
    rounds.push({
      ceilingFps,
      serviceFps: (report.latencies.length * 1000) / report.servedWindowMs,
      offered: saturated.result,
      served: report.latencies.length,
      cpu: saturated.cpuPercent,
      rss: saturated.rssMb,
      latencies: report.latencies,
    });
  }
  await ceilingSession.release();
  const stage = await app.runtime.registry.getSingleMetric('sightline_inference_stage_seconds')?.get();
  const mean = (name: string) => {
    const sum = stage?.values.find((v) => (v as { metricName?: string }).metricName?.endsWith('_sum') && v.labels['stage'] === name)?.value ?? 0;
    const count = stage?.values.find((v) => (v as { metricName?: string }).metricName?.endsWith('_count') && v.labels['stage'] === name)?.value ?? 1;
    return (sum / count) * 1000;
  };
  await app.stop();
  await ask({ cmd: 'close' }, 'closed');

  const singleFps = (FRAMES * 1000) / single.result.wallMs;
  const ratios = rounds.map((r) => r.serviceFps / r.ceilingFps);
  const saturatedLatencies = rounds.flatMap((r) => r.latencies);
  console.log('');
  console.log('| threads | idle threads | session.run p50 | p95 | fps | CPU |');
  console.log('|---|---|---|---|---|---|');
  for (const c of [...ceilings.values()].sort((x, y) => x.threads - y.threads || Number(x.spinning) - Number(y.spinning)))
    console.log(`| ${c.threads} | ${c.spinning ? 'spin' : 'sleep'} | ${f1(c.p50)} ms | ${f1(c.p95)} ms | ${f1(c.fps)} | ${f1(c.cpu)} % |`);
  console.log('');
  console.log(
    `Rounds (${THREADS} threads; the ceiling is bare session.run with idle threads ${a.spinning ? 'spinning' : 'sleeping'}, the faster above; the service offered ${f1(offeredFps)} fps for ${SATURATE_S} s):`,
  );
  console.log('');
  console.log('| round | (a) ceiling fps | (b) service fps | b/a | offered | served | service CPU | service RSS |');
  console.log('|---|---|---|---|---|---|---|---|');
  rounds.forEach((r, i) =>
    console.log(
      `| ${i + 1} | ${f1(r.ceilingFps)} | ${f1(r.serviceFps)} | ${(r.serviceFps / r.ceilingFps).toFixed(2)} | ${r.offered} | ${r.served} | ${f1(r.cpu)} % | ${f1(r.rss)} MB |`,
    ),
  );
  console.log('');
  console.log(
    `ratio b/a (fps): median ${pct(ratios, 50).toFixed(2)}, spread ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)} over ${ROUNDS} rounds (goal >= 0.9)`,
  );
  console.log(
    `(b) latency from publishing a frame to receiving its detections, saturated: p50 ${f1(pct(saturatedLatencies, 50))} ms, p95 ${f1(pct(saturatedLatencies, 95))} ms (a frame waits for the run before it)`,
  );
  console.log(
    `(b1) one frame at a time: ${f1(singleFps)} fps, p50 ${f1(pct(latencies, 50))} ms, p95 ${f1(pct(latencies, 95))} ms (bare session.run p50 ${f1(a.p50)} ms); CPU ${f1(single.cpuPercent)} %`,
  );
  console.log(
    `service stages, mean: decode ${f1(mean('decode'))} ms, preprocess ${f1(mean('preprocess'))} ms, inference ${f1(mean('inference'))} ms, postprocess ${f1(mean('postprocess'))} ms`,
  );
  console.log('CPU and RSS are of the service process alone: the broker and the MQTT publisher/subscriber run in a child process.');
} finally {
  await rm(dataDir, { recursive: true, force: true });
}

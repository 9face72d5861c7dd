/**
 * Inference replicas benchmark: four cameras offered faster than one service can serve them,
 * through an aedes broker, to
 *
 *   (a) one inference service, not a replica (the baseline), at 2 intra-op threads;
 *   (b) one replica at 2 threads (the cost of taking part in a group);
 *   (c) two replicas at 1 thread each (each its own process, as on two machines, but sharing
 *       this machine's cores).
 *
 * Each service is the real one (`services/inference/src/main.ts`) in a child process. Reported per
 * phase: detections per second in all and per camera (fairness), latency from publishing a frame
 * to its detections (p50/p95), and frames served twice (must be 0). On a 2-core machine (c) cannot
 * beat (a): the figure that matters there is that splitting costs little; on two machines each
 * replica has its own cores.
 *
 *   pnpm bench:inference-replicas [-- --seconds 20 --fps 10]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Aedes } from 'aedes';
import { connect } from 'mqtt';
import sharp from 'sharp';
import { channels, createTopics, encodeFrame, type Detections, type InferenceReplica } from '@sightline/schemas';
import { emojiScene } from '../test/helpers.ts';

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    seconds: { type: 'string', default: '20' },
    fps: { type: 'string', default: '10' },
  },
});
const SECONDS = Number(args.seconds);
const FPS = Number(args.fps);
const CAMERAS = ['cam-1', 'cam-2', 'cam-3', 'cam-4'];
const topics = createTopics('sightline');
const mainTs = join(import.meta.dirname, '..', 'src', 'main.ts');

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

const broker = await Aedes.createBroker();
const server = net.createServer((socket) => broker.handle(socket));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
const dataDir = await mkdtemp(join(tmpdir(), 'sightline-replicas-bench-'));

const client = connect(url, { protocolVersion: 4, clientId: 'bench' });
await new Promise<void>((resolve) => client.once('connect', () => resolve()));
const sentAt = new Map<string, number>();
let received: Array<{ camera: string; seq: number; latencyMs: number }> = [];
const replicaStates = new Map<string, InferenceReplica>();
let modelReady = false;
client.on('message', (topic, payload) => {
  if (topics.match(channels.detections, topic)) {
    const d: Detections = channels.detections.codec.decode(payload);
    const sent = sentAt.get(`${d.camera}#${d.seq}`);
    if (sent !== undefined) received.push({ camera: d.camera, seq: d.seq, latencyMs: performance.now() - sent });
  } else if (topics.match(channels.inferenceReplica, topic)) {
    const state = channels.inferenceReplica.codec.decode(payload);
    replicaStates.set(state.replica, state);
  } else if (topics.match(channels.modelState, topic)) {
    modelReady = channels.modelState.codec.decode(payload).model !== null;
  }
});
await client.subscribeAsync([topics.filter(channels.detections), topics.filter(channels.inferenceReplica), topics.topic(channels.modelState, {})], { qos: 0 });

const scene = await emojiScene('1f34a', 480);
const jpeg = await sharp(scene.rgb, { raw: { width: scene.width, height: scene.height, channels: 3 } })
  .resize(640, 480, { fit: 'fill' })
  .jpeg({ quality: 80 })
  .toBuffer();

function startService(replica: string | null, threads: number): ChildProcess {
  const child = spawn(process.execPath, [mainTs], {
    env: {
      ...process.env,
      SIGHTLINE_MQTT_URL: url,
      SIGHTLINE_DATA_DIR: dataDir,
      SIGHTLINE_LOG_LEVEL: 'warn',
      SIGHTLINE_INFERENCE_HTTP_PORT: '0',
      SIGHTLINE_INFERENCE_THREADS: String(threads),
      ...(replica !== null ? { SIGHTLINE_INFERENCE_REPLICA: replica } : {}),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let seq = 0;
function offer(): NodeJS.Timeout {
  return setInterval(() => {
    seq += 1;
    for (const camera of CAMERAS) {
      sentAt.set(`${camera}#${seq}`, performance.now());
      client.publish(topics.topic(channels.frame, { camera }), encodeFrame(jpeg, { camera, seq, capturedAt: Date.now(), width: 640, height: 480 }), { qos: 0 });
    }
  }, 1000 / FPS);
}

interface Phase {
  name: string;
  fps: number;
  perCamera: number[];
  p50: number;
  p95: number;
  twice: number;
}

async function phase(name: string, services: Array<{ replica: string | null; threads: number }>): Promise<Phase> {
  modelReady = false;
  replicaStates.clear();
  const children = services.map((s) => startService(s.replica, s.threads));
  try {
    const replicas = services.filter((s) => s.replica !== null).map((s) => s.replica!);
    const feeding = offer();
    try {
      if (replicas.length === 0) await until('the model', () => modelReady, 120_000);
      else
        await until(
          'every camera served',
          () =>
            CAMERAS.every((c) => replicas.some((r) => replicaStates.get(r)?.serving.includes(c))) &&
            replicas.every((r) => replicaStates.get(r)?.state === 'online'),
          120_000,
        );
      await new Promise((resolve) => setTimeout(resolve, 3000)); // warm-up
      received = [];
      const started = performance.now();
      await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
      const window = received;
      const elapsedS = (performance.now() - started) / 1000;
      const keys = new Set(window.map((r) => `${r.camera}#${r.seq}`));
      return {
        name,
        fps: window.length / elapsedS,
        perCamera: CAMERAS.map((c) => window.filter((r) => r.camera === c).length / elapsedS),
        p50: pct(
          window.map((r) => r.latencyMs),
          50,
        ),
        p95: pct(
          window.map((r) => r.latencyMs),
          95,
        ),
        twice: window.length - keys.size,
      };
    } finally {
      clearInterval(feeding);
    }
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)))));
  }
}

try {
  console.log(`4 cameras offered ${FPS} fps each (640x480 JPEG, ${jpeg.length} bytes), ${SECONDS} s measured per phase; cores: ${availableParallelism()}`);
  const results = [
    await phase('one service (baseline), 2 threads', [{ replica: null, threads: 2 }]),
    await phase('one replica, 2 threads', [{ replica: 'r1', threads: 2 }]),
    await phase('two replicas, 1 thread each', [
      { replica: 'r1', threads: 1 },
      { replica: 'r2', threads: 1 },
    ]),
  ];
  const base = results[0]!.fps;
  console.log('\n| setup | detections/s | ratio to baseline | per camera (min-max) | latency p50 / p95 ms | served twice |');
  console.log('|---|---|---|---|---|---|');
  for (const r of results)
    console.log(
      `| ${r.name} | ${r.fps.toFixed(1)} | ${(r.fps / base).toFixed(2)} | ${Math.min(...r.perCamera).toFixed(1)}-${Math.max(...r.perCamera).toFixed(1)} | ${r.p50.toFixed(0)} / ${r.p95.toFixed(0)} | ${r.twice} |`,
    );
} finally {
  await client.endAsync();
  await new Promise<void>((resolve) => broker.close(() => resolve()));
  server.close();
  await rm(dataDir, { recursive: true, force: true });
}

/**
 * `pnpm bench:cameras [-- --cameras 4 --fps 5 --seconds 120 --warmup 20 --window 10 --json]`:
 * several cameras at once through the real capture (one ffmpeg per camera, the built-in sample
 * video, 640x480), broker and inference, as `pnpm start` runs them, on this machine's cores.
 *
 * Per camera: the frames offered (seen on the bus) and served (detections), and the latency from
 * capture's stamp on a frame to its detections reaching this bench's subscriber. Per window of
 * `--window` seconds: the served rate of each camera and the p95 latency, to show whether the
 * figures hold over the run (least-squares slope of the windows' p95). Fairness: Jain's index of
 * the cameras' served rates (1 = equal) and the slowest over the fastest. CPU: each process of
 * the stack over the measured part, from /proc.
 *
 * The baselines come from the same run: the rate the cameras offered (what could be served at
 * most), and the bare model's own pace (prepareInput + session.run in this process before the
 * stack starts, as the glass-to-ear bench measures its floor).
 *
 * Not a test: `node --test e2e/*.test.ts` does not pick it up.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { connectAsync } from 'mqtt';
import { channels, createTopics } from '@sightline/schemas';
import { DEFAULT_THREADS } from '../services/inference/src/config.ts';
import { launchStack } from './launch.ts';
import { measureBareInference } from './glass/bare-inference.ts';
import { createCleanup, stopStackOnCleanup } from './glass/cleanup.ts';
import { mean, percentile, round1 } from './glass/stats.ts';

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    cameras: { type: 'string', default: '4' },
    fps: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '120' },
    warmup: { type: 'string', default: '20' },
    window: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('pnpm bench:cameras [-- --cameras 4 --fps 5 --seconds 120 --warmup 20 --window 10 --json]');
  process.exit(0);
}
const CAMERAS = positive('cameras', args.cameras);
const FPS = positive('fps', args.fps);
const SECONDS = positive('seconds', args.seconds);
const WARMUP_S = positive('warmup', args.warmup, 0);
const WINDOW_S = positive('window', args.window);
/** The goal: each camera served at 0.9 of its rate (4.5 of 5 fps). */
const GOAL_SHARE = 0.9;

function positive(name: string, text: string, min = 1): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < min) {
    console.error(`--${name} must be a number >= ${min}, not ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
}

const say = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const cleanup = createCleanup(say);
const topics = createTopics();
const cameraIds = Array.from({ length: CAMERAS }, (_, i) => `cam-${i + 1}`);

interface Seen {
  camera: string;
  /** Date.now() when this bench received it. */
  at: number;
  /** Capture's stamp on the frame to detections received, for detections. */
  latencyMs?: number;
}

/** Jain's fairness index: 1 when all are equal, 1/n when one gets everything. */
function jain(values: number[]): number {
  const sum = values.reduce((a, b) => a + b, 0);
  const squares = values.reduce((a, b) => a + b * b, 0);
  return squares === 0 ? 1 : (sum * sum) / (values.length * squares);
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const mx = mean(xs);
  const my = mean(ys);
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** CPU ticks (user + system) of every process whose environment names the stack's data dir, by what it runs. */
function stackCpuTicks(dataDir: string): Map<string, number> {
  const byName = new Map<string, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(`SIGHTLINE_DATA_DIR=${dataDir}`)) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'latin1').split('\0');
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      const service = cmdline.join(' ').match(/services\/([a-z-]+)\/src\/main\.ts/)?.[1];
      const name =
        service ?? (cmdline[0]!.endsWith('ffmpeg') ? 'ffmpeg (capture)' : cmdline.join(' ').includes('infra/stack/start.ts') ? 'stack launcher' : 'other');
      byName.set(name, (byName.get(name) ?? 0) + ticks);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return byName;
}

async function main(): Promise<void> {
  const load = { before: loadavg()[0]!, after: NaN };
  const dataDir = mkdtempSync(join(tmpdir(), 'sightline-bench-cameras-'));
  cleanup.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const camerasFile = join(dataDir, 'cameras.json');
  writeFileSync(camerasFile, JSON.stringify({ cameras: cameraIds.map((id) => ({ id, source: 'sample', fps: FPS })) }));

  // The model's own pace, before the stack (this converts the default model into the service's
  // data dir, so the service starts with it ready): one frame of the kind the cameras send.
  const probe = execFileSync('ffmpeg', [
    '-v',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=640x480:rate=1',
    '-frames:v',
    '1',
    '-q:v',
    '5',
    '-f',
    'image2pipe',
    '-c:v',
    'mjpeg',
    'pipe:1',
  ]);
  say(`bare inference (${DEFAULT_THREADS} threads; converts the model on first use)`);
  const bare = await measureBareInference(probe, { dataDir: join(dataDir, 'inference'), threads: DEFAULT_THREADS, samples: 30 });
  const bareRunMs = mean(bare.map((s) => s.runMs));
  const bareTotalMs = mean(bare.map((s) => s.totalMs));

  let stackPid: number | null = null;
  stopStackOnCleanup(cleanup, dataDir, () => stackPid);
  say(`starting broker, capture (${CAMERAS} cameras at ${FPS} fps) and inference`);
  const stack = await launchStack(dataDir, {
    SIGHTLINE_LOG_LEVEL: 'warn',
    SIGHTLINE_STACK_SERVICES: 'broker,capture,inference',
    SIGHTLINE_CAPTURE_CAMERAS_FILE: camerasFile,
  });
  stackPid = stack.pid;
  const bus = await connectAsync(`mqtt://127.0.0.1:${stack.mqttPort}`, { protocolVersion: 4, ...stack.login('operator') });
  cleanup.after(() => bus.endAsync(true));

  const frames: Seen[] = [];
  const detections: Seen[] = [];
  let measuring = false;
  bus.on('message', (topic, payload) => {
    const at = Date.now();
    if (!measuring) return;
    const frame = topics.match(channels.frame, topic);
    if (frame !== null) {
      frames.push({ camera: frame.camera, at });
      return;
    }
    const found = topics.match(channels.detections, topic);
    if (found === null) return;
    const value = channels.detections.codec.decode(payload);
    detections.push({ camera: found.camera, at, latencyMs: at - value.capturedAt });
  });
  await bus.subscribeAsync([topics.filter(channels.frame), topics.filter(channels.detections)], { qos: 0 });

  say(`warming up for ${WARMUP_S} s`);
  await sleep(WARMUP_S * 1000);
  const ticksBefore = stackCpuTicks(dataDir);
  const start = Date.now();
  measuring = true;
  say(`measuring for ${SECONDS} s`);
  await sleep(SECONDS * 1000);
  measuring = false;
  const wallS = (Date.now() - start) / 1000;
  const ticksAfter = stackCpuTicks(dataDir);
  load.after = loadavg()[0]!;

  say('stopping the stack');
  await cleanup.run();

  const clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  const cpu = [...ticksAfter].map(([name, ticks]) => ({ name, percent: round1((((ticks - (ticksBefore.get(name) ?? 0)) / clockTicks) * 100) / wallS) }));

  const perCamera = cameraIds.map((camera) => {
    const offered = frames.filter((f) => f.camera === camera).length / wallS;
    const served = detections.filter((d) => d.camera === camera);
    const latencies = served.map((d) => d.latencyMs!);
    return {
      camera,
      offeredFps: round1(offered),
      servedFps: round1(served.length / wallS),
      servedShare: round1((served.length / Math.max(1, frames.filter((f) => f.camera === camera).length)) * 100) / 100,
      p50: round1(percentile(latencies, 50)),
      p95: round1(percentile(latencies, 95)),
    };
  });
  const windows: Array<{ fromS: number; minServedFps: number; totalServedFps: number; p95: number }> = [];
  for (let from = 0; from + WINDOW_S <= wallS + 0.001; from += WINDOW_S) {
    const inWindow = detections.filter((d) => d.at >= start + from * 1000 && d.at < start + (from + WINDOW_S) * 1000);
    windows.push({
      fromS: from,
      minServedFps: round1(Math.min(...cameraIds.map((c) => inWindow.filter((d) => d.camera === c).length / WINDOW_S))),
      totalServedFps: round1(inWindow.length / WINDOW_S),
      p95: round1(
        percentile(
          inWindow.map((d) => d.latencyMs!),
          95,
        ),
      ),
    });
  }
  const windowP95 = windows.map((w) => w.p95);
  const all = detections.map((d) => d.latencyMs!);
  const servedRates = perCamera.map((c) => c.servedFps);
  const summary = {
    cameras: CAMERAS,
    fps: FPS,
    seconds: round1(wallS),
    cores: availableParallelism(),
    load,
    bare: { runMs: round1(bareRunMs), prepareAndRunMs: round1(bareTotalMs), fps: round1(1000 / bareRunMs) },
    offeredFps: round1(frames.length / wallS),
    servedFps: round1(detections.length / wallS),
    latency: { p50: round1(percentile(all, 50)), p95: round1(percentile(all, 95)), max: round1(Math.max(...all)) },
    fairness: {
      jain: Math.round(jain(servedRates) * 1000) / 1000,
      slowestOverFastest: round1((Math.min(...servedRates) / Math.max(...servedRates)) * 100) / 100,
    },
    stability: {
      windowP95Min: round1(Math.min(...windowP95)),
      windowP95Max: round1(Math.max(...windowP95)),
      p95SlopeMsPerMinute: round1(
        slope(
          windows.map((w) => w.fromS / 60),
          windowP95,
        ),
      ),
      minServedFpsOfAnyWindow: round1(Math.min(...windows.map((w) => w.minServedFps))),
    },
    goal: { perCameraFps: FPS * GOAL_SHARE, met: perCamera.every((c) => c.servedFps >= FPS * GOAL_SHARE) },
    perCamera,
    windows,
    cpu,
  };
  if (args.json) {
    console.log(JSON.stringify(summary, null, 2));
    return;
  }
  console.log(
    `\n${CAMERAS} cameras at ${FPS} fps, 640x480, for ${summary.seconds} s after ${WARMUP_S} s of warm-up; ${summary.cores} cores; load ${load.before.toFixed(2)} -> ${load.after.toFixed(2)}`,
  );
  console.log(
    `baselines: the cameras offered ${summary.offeredFps} fps in all; the bare model runs at ${summary.bare.fps} fps (session.run ${summary.bare.runMs} ms, with prepareInput ${summary.bare.prepareAndRunMs} ms)`,
  );
  console.log('\n| camera | offered fps | served fps | served/offered | latency p50 | p95 |');
  console.log('|---|---|---|---|---|---|');
  for (const c of perCamera) console.log(`| ${c.camera} | ${c.offeredFps} | ${c.servedFps} | ${c.servedShare} | ${c.p50} ms | ${c.p95} ms |`);
  console.log(
    `| all | ${summary.offeredFps} | ${summary.servedFps} | ${round1((summary.servedFps / summary.offeredFps) * 100) / 100} | ${summary.latency.p50} ms | ${summary.latency.p95} ms |`,
  );
  console.log(`\nfairness: Jain's index ${summary.fairness.jain} (1 = equal), slowest/fastest camera ${summary.fairness.slowestOverFastest}`);
  console.log(
    `stability over ${windows.length} windows of ${WINDOW_S} s: p95 ${summary.stability.windowP95Min}-${summary.stability.windowP95Max} ms, slope ${summary.stability.p95SlopeMsPerMinute} ms/min; slowest camera in any window ${summary.stability.minServedFpsOfAnyWindow} fps`,
  );
  console.log(`\n| window | served fps (all) | slowest camera fps | p95 latency |`);
  console.log('|---|---|---|---|');
  for (const w of windows) console.log(`| ${w.fromS}-${w.fromS + WINDOW_S} s | ${w.totalServedFps} | ${w.minServedFps} | ${w.p95} ms |`);
  console.log('\n| process | CPU (% of one core) |');
  console.log('|---|---|');
  for (const c of cpu.sort((a, b) => b.percent - a.percent)) console.log(`| ${c.name} | ${c.percent} % |`);
  console.log(`\ngoal: every camera served at >= ${FPS * GOAL_SHARE} fps: ${summary.goal.met ? 'met' : 'MISSED'}`);
}

main()
  .catch((err: unknown) => {
    say(`cameras bench failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  })
  .finally(() => cleanup.run());

/// <reference lib="dom" />
/**
 * `pnpm bench:console [-- --seconds 60 --warmup 15 --cameras 4 --fps 5 --json]`: does the
 * console's Live page keep up with several cameras, and does its latency stay put? The whole dev
 * stack runs with N cameras (default 4 at 5 fps), each looping the same rendered video of an
 * orange on a counter; Debian's Chromium logs in as `admin` and watches the Live grid of all of
 * them, then, as the baseline in the same run, the single view of the first camera (the other
 * cameras still flow through capture, inference and the console: only what the browser is sent
 * and paints changes).
 *
 * - Per painted frame the page records (window.sightlineLive.painted) the frame header's
 *   `capturedAt` (capture's stamp) and `sentAt` (the console's), `latencyMs` (message received ->
 *   the animation frame after drawing) and `paintedAt`; every stamp is Date.now() on this one
 *   machine, so capture -> paint needs no clock sync. The bench empties the list every 2 s.
 * - Growth: p95 of the window's last third over its first third (1 = flat; a queue anywhere on
 *   the way shows up as a ratio well above 1, since a backlog only grows).
 * - The console's frames sent and skipped (socket not drained) come from its /metrics, before and
 *   after each window; inference's and capture's counters say how many frames could carry boxes.
 * - CPU per part over each window from /proc (a service with its children: capture with its
 *   ffmpegs), and the tab's JS heap (CDP, after a forced GC) at the start and end of each window.
 *
 * Inference does not keep up with 4 x 5 fps on 2 cores, and that is expected: the console holds
 * a frame back until its detections come, and shows frames bare only after BARE_AFTER_MS
 * without any, so how many painted frames carry boxes is reported, not judged.
 *
 * Run it on its own: it starts and stops everything itself (free ports, a temp data dir).
 * Not a test: `node --test e2e/*.test.ts` does not pick it up.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CDPSession, Page } from 'playwright-core';
import { BARE_AFTER_MS, MAX_VIEWER_BUFFER } from '@sightline/console';
import type { PaintRecord } from '../services/console/web/live.ts';
import { launchBrowser } from './browser.ts';
import { makeItemVideo } from './item-video.ts';
import { launchStack, type LaunchedStack } from './launch.ts';
import { createCleanup, stopStackOnCleanup } from './glass/cleanup.ts';
import { ms, percentile, round1, summarise, type Summary } from './glass/stats.ts';

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    cameras: { type: 'string', default: '4' },
    fps: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '15' },
    'single-seconds': { type: 'string', default: '60' },
    'single-warmup': { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('pnpm bench:console [-- --cameras 4 --fps 5 --seconds 60 --warmup 15 --single-seconds 60 --single-warmup 10 --json]');
  process.exit(0);
}
const CAMERA_COUNT = positiveInt('cameras', args.cameras);
const FPS = positiveInt('fps', args.fps);
const SECONDS = positiveInt('seconds', args.seconds);
const WARMUP = positiveInt('warmup', args.warmup, 0);
const SINGLE_SECONDS = positiveInt('single-seconds', args['single-seconds']);
const SINGLE_WARMUP = positiveInt('single-warmup', args['single-warmup'], 0);
const CAMERAS = Array.from({ length: CAMERA_COUNT }, (_, i) => `cam-${i + 1}`);
/** The page keeps at most 2000 records; at 4 x 5 fps that is 100 s, so emptying it every 2 s loses none. */
const DRAIN_EVERY_MS = 2000;
/** /proc/<pid>/stat counts in clock ticks: 100 a second on every Linux this runs on (getconf CLK_TCK). */
const CLOCK_TICKS = 100;

function positiveInt(name: string, text: string, min = 1): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    console.error(`--${name} must be an integer >= ${min}, not ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
}

const say = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (msToWait: number) => new Promise((resolve) => setTimeout(resolve, msToWait));
const cleanup = createCleanup(say);

// --- Prometheus text, as the services serve it ---

type Samples = Map<string, number>;

/** Every sample of a /metrics page, keyed `name{camera="x",...}` as served (labels in the served order). */
async function scrape(url: string): Promise<Samples> {
  const samples: Samples = new Map();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return samples;
    for (const line of (await res.text()).split('\n')) {
      const match = /^([A-Za-z_:][\w:]*(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
      if (match) samples.set(match[1]!, Number(match[2]));
    }
  } catch {
    // An answer missing is a figure missing (shown as -), not a failed bench.
  }
  return samples;
}

/** The sum of `name`'s samples whose labels include every `label="value"` given. */
function sumOf(samples: Samples, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const [key, value] of samples) {
    if (key !== name && !key.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([label, wanted]) => key.includes(`${label}="${wanted}"`))) total += value;
  }
  return total;
}

// --- CPU per part, from /proc ---

interface Proc {
  ppid: number;
  ticks: number;
}

function readProcs(): Map<number, Proc> {
  const procs = new Map<number, Proc>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name may hold spaces and parentheses; the fields after its last ')' do not.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(name), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // gone meanwhile
    }
  }
  return procs;
}

function machineTicks(): { busy: number; total: number } {
  const values = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = values[3]! + values[4]!;
  const total = values.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

interface CpuSnapshot {
  at: number;
  procs: Map<number, Proc>;
  machine: { busy: number; total: number };
}

const cpuSnapshot = (): CpuSnapshot => ({ at: performance.now(), procs: readProcs(), machine: machineTicks() });

/** Which part a process belongs to: the stack's service it descends from, Chromium (the bench's other children), the bench, or other. */
function partOf(pid: number, procs: Map<number, Proc>, services: Map<number, string>, stackPid: number): string {
  for (let p = pid, hops = 0; p > 1 && hops < 64; p = procs.get(p)?.ppid ?? 0, hops++) {
    const service = services.get(p);
    if (service !== undefined) return service;
    if (p === stackPid) return 'stack';
    if (p === process.pid) return pid === process.pid ? 'bench' : 'chromium';
  }
  return 'other';
}

/** Percent of one core per part over the time between two snapshots (`other`: the rest of the machine); `machine` is of all cores together (100 % per core). */
function cpuBetween(start: CpuSnapshot, end: CpuSnapshot, dataDir: string, stackPid: number): { parts: Record<string, number>; machine: number } {
  const services = stackServicePids(dataDir);
  const seconds = (end.at - start.at) / 1000;
  const parts: Record<string, number> = {};
  for (const [pid, proc] of end.procs) {
    const ticks = proc.ticks - (start.procs.get(pid)?.ticks ?? 0);
    if (ticks <= 0) continue;
    const part = partOf(pid, end.procs, services, stackPid);
    parts[part] = (parts[part] ?? 0) + ticks;
  }
  delete parts.other;
  for (const part of Object.keys(parts)) parts[part] = round1((parts[part]! / CLOCK_TICKS / seconds) * 100);
  const machine = round1(((end.machine.busy - start.machine.busy) / (end.machine.total - start.machine.total)) * 100 * availableParallelism());
  // Whatever else ran, by difference: a process that ended within the window has no /proc entry left to count.
  parts.other = round1(Math.max(0, machine - Object.values(parts).reduce((a, b) => a + b, 0)));
  return { parts, machine };
}

function stackServicePids(dataDir: string): Map<number, string> {
  const pids = new Map<number, string>();
  try {
    const state = JSON.parse(readFileSync(join(dataDir, 'stack.json'), 'utf8')) as { services: Record<string, { pid: number | null }> };
    for (const [name, { pid }] of Object.entries(state.services)) if (pid !== null) pids.set(pid, name);
  } catch {
    // no stack.json: every process counts as other
  }
  return pids;
}

// --- The page ---

type Painted = PaintRecord;

async function drainPainted(page: Page): Promise<Painted[]> {
  return page.evaluate(() => (window as unknown as { sightlineLive: { painted: Painted[] } }).sightlineLive.painted.splice(0));
}

const receivedSoFar = (page: Page) => page.evaluate(() => (window as unknown as { sightlineLive: { received: number } }).sightlineLive.received);

interface Heap {
  /** Used JS heap right before the forced GC, MB. */
  usedMb: number;
  /** Used JS heap after it: what the page keeps, MB. */
  afterGcMb: number;
}

async function heap(cdp: CDPSession): Promise<Heap> {
  const before = await cdp.send('Runtime.getHeapUsage');
  await cdp.send('HeapProfiler.collectGarbage');
  const after = await cdp.send('Runtime.getHeapUsage');
  return { usedMb: round1(before.usedSize / 1e6), afterGcMb: round1(after.usedSize / 1e6) };
}

/** Seconds the tab's main thread spent in tasks (CDP Performance.getMetrics TaskDuration). */
async function taskSeconds(cdp: CDPSession): Promise<number> {
  const { metrics } = await cdp.send('Performance.getMetrics');
  return metrics.find((m) => m.name === 'TaskDuration')?.value ?? Number.NaN;
}

// --- A measured window ---

interface CameraResult {
  camera: string;
  painted: number;
  fps: number;
  /** Painted frames that came with their detections (objects not null), and with at least one box. */
  withDetections: number;
  withBoxes: number;
  frameToPaint: Summary;
  captureToPaint: Summary;
  /** Capture -> the console sent it (MQTT, and for a frame with boxes the wait for its detections). */
  captureToSent: Summary;
  /** The console sent it -> painted (socket, decode, draw, the next animation frame). */
  sentToPaint: Summary;
  captureToPaintWithDetections: Summary;
  captureToPaintBare: Summary;
  /** p95 of the last third of the window over p95 of its first third. */
  growthFrameToPaint: number;
  growthCaptureToPaint: number;
  /** From the services' /metrics over the window. */
  captured: number;
  inferred: number;
  sent: number;
  skipped: number;
}

interface WindowResult {
  name: string;
  cameras: CameraResult[];
  all: CameraResult;
  seconds: number;
  received: number;
  heapStart: Heap;
  heapEnd: Heap;
  /** Percent of one core the tab's main thread was busy. */
  tabMainThread: number;
  cpu: { parts: Record<string, number>; machine: number };
  inferenceDropped: Record<string, number>;
  /** Frames inference ran per second over every camera, watched or not: what the machine let it do in this window. */
  inferredPerSecondAll: number;
}

interface Context {
  page: Page;
  cdp: CDPSession;
  stack: LaunchedStack;
  dataDir: string;
}

async function scrapeAll(stack: LaunchedStack): Promise<{ console: Samples; inference: Samples; capture: Samples }> {
  const url = (key: string) => `http://127.0.0.1:${stack.httpPorts[key]}/metrics`;
  const [consoleSamples, inference, capture] = await Promise.all([
    scrape(url('SIGHTLINE_CONSOLE_HTTP_PORT')),
    scrape(url('SIGHTLINE_INFERENCE_HTTP_PORT')),
    scrape(url('SIGHTLINE_CAPTURE_HTTP_PORT')),
  ]);
  return { console: consoleSamples, inference, capture };
}

async function measureWindow(ctx: Context, name: string, cameras: string[], seconds: number): Promise<WindowResult> {
  const { page, cdp, stack, dataDir } = ctx;
  const heapStart = await heap(cdp);
  await drainPainted(page);
  const metricsStart = await scrapeAll(stack);
  const receivedStart = await receivedSoFar(page);
  const tasksStart = await taskSeconds(cdp);
  const cpuStart = cpuSnapshot();
  const startedAt = Date.now();
  const records: Painted[] = [];
  const endAt = startedAt + seconds * 1000;
  let lastSaid = 0;
  while (Date.now() < endAt) {
    await sleep(Math.min(DRAIN_EVERY_MS, endAt - Date.now()));
    records.push(...(await drainPainted(page)));
    if (Date.now() - lastSaid > 15_000) {
      lastSaid = Date.now();
      say(`  ${name}: ${Math.round((Date.now() - startedAt) / 1000)}/${seconds} s, ${records.length} frames painted`);
    }
  }
  records.push(...(await drainPainted(page)));
  const endedAt = Date.now();
  const cpuEnd = cpuSnapshot();
  const tasksEnd = await taskSeconds(cdp);
  const receivedEnd = await receivedSoFar(page);
  const metricsEnd = await scrapeAll(stack);
  const heapEnd = await heap(cdp);
  const actualSeconds = (endedAt - startedAt) / 1000;

  const delta = (which: 'console' | 'inference' | 'capture', metric: string, labels: Record<string, string> = {}) =>
    sumOf(metricsEnd[which], metric, labels) - sumOf(metricsStart[which], metric, labels);
  // Painted during the window only: a record's paint time says which.
  const inWindow = records.filter((r) => r.paintedAt >= startedAt && r.paintedAt <= endedAt);
  const third = (endedAt - startedAt) / 3;
  const analyse = (camera: string, rows: Painted[], labels: Record<string, string>): CameraResult => {
    const growth = (value: (r: Painted) => number) => {
      const first = percentile(rows.filter((r) => r.paintedAt < startedAt + third).map(value), 95);
      const last = percentile(rows.filter((r) => r.paintedAt >= endedAt - third).map(value), 95);
      return Math.round((last / first) * 100) / 100;
    };
    const captureToPaint = (r: Painted) => r.paintedAt - r.capturedAt;
    return {
      camera,
      painted: rows.length,
      fps: round1(rows.length / actualSeconds),
      withDetections: rows.filter((r) => r.objects !== null).length,
      withBoxes: rows.filter((r) => (r.objects?.length ?? 0) > 0).length,
      frameToPaint: summarise(rows.map((r) => r.latencyMs)),
      captureToPaint: summarise(rows.map(captureToPaint)),
      captureToSent: summarise(rows.map((r) => r.sentAt - r.capturedAt)),
      sentToPaint: summarise(rows.map((r) => r.paintedAt - r.sentAt)),
      captureToPaintWithDetections: summarise(rows.filter((r) => r.objects !== null).map(captureToPaint)),
      captureToPaintBare: summarise(rows.filter((r) => r.objects === null).map(captureToPaint)),
      growthFrameToPaint: growth((r) => r.latencyMs),
      growthCaptureToPaint: growth(captureToPaint),
      captured: delta('capture', 'sightline_capture_frames_published_total', labels),
      inferred: delta('inference', 'sightline_inference_frames_total', labels),
      sent: delta('console', 'sightline_console_frames_sent_total', labels),
      skipped: delta('console', 'sightline_console_frames_skipped_total', labels),
    };
  };
  const perCamera = cameras.map((camera) =>
    analyse(
      camera,
      inWindow.filter((r) => r.camera === camera),
      { camera },
    ),
  );
  // "All" is the cameras watched; the services' counters are summed over the same cameras.
  const all = analyse(
    'all',
    inWindow.filter((r) => cameras.includes(r.camera)),
    {},
  );
  for (const key of ['captured', 'inferred', 'sent', 'skipped'] as const) all[key] = perCamera.reduce((sum, c) => sum + c[key], 0);
  const inferenceDropped: Record<string, number> = {};
  for (const key of metricsEnd.inference.keys()) {
    const reason = /^sightline_inference_frames_dropped_total\{.*reason="([^"]+)"/.exec(key)?.[1];
    if (reason !== undefined)
      inferenceDropped[reason] = (inferenceDropped[reason] ?? 0) + (metricsEnd.inference.get(key)! - (metricsStart.inference.get(key) ?? 0));
  }
  return {
    name,
    cameras: perCamera,
    all,
    seconds: round1(actualSeconds),
    received: receivedEnd - receivedStart,
    heapStart,
    heapEnd,
    tabMainThread: round1(((tasksEnd - tasksStart) / actualSeconds) * 100),
    cpu: cpuBetween(cpuStart, cpuEnd, dataDir, stack.pid),
    inferenceDropped,
    inferredPerSecondAll: round1(delta('inference', 'sightline_inference_frames_total') / actualSeconds),
  };
}

/** Until every camera in `cameras` has painted a frame (the page is live for all of them). */
async function waitForPaints(page: Page, cameras: string[], timeoutMs: number): Promise<void> {
  const seen = new Set<string>();
  const deadline = Date.now() + timeoutMs;
  while (seen.size < cameras.length) {
    if (Date.now() > deadline) throw new Error(`no frame painted for ${cameras.filter((c) => !seen.has(c)).join(', ')} in ${timeoutMs / 1000} s`);
    for (const r of await drainPainted(page)) seen.add(r.camera);
    await sleep(500);
  }
}

async function main(): Promise<void> {
  const load = { before: loadavg()[0]!, after: Number.NaN };
  const dataDir = mkdtempSync(join(tmpdir(), 'sightline-bench-console-'));
  cleanup.after(() => rmSync(dataDir, { recursive: true, force: true }));

  say('rendering the video (an orange on a counter, looped by every camera)');
  const video = await makeItemVideo(dataDir);
  const camerasFile = join(dataDir, 'cameras.json');
  writeFileSync(camerasFile, JSON.stringify({ cameras: CAMERAS.map((id) => ({ id, source: video, fps: FPS })) }, null, 2));

  let stackPid: number | null = null;
  stopStackOnCleanup(cleanup, dataDir, () => stackPid);
  say(`starting the dev stack with ${CAMERA_COUNT} cameras at ${FPS} fps`);
  const stack = await launchStack(dataDir, {
    SIGHTLINE_LOG_LEVEL: 'warn',
    SIGHTLINE_CAPTURE_CAMERAS_FILE: camerasFile,
    SIGHTLINE_ALERT_CAMERAS: CAMERAS.join(','),
  });
  stackPid = stack.pid;
  const base = `http://localhost:${stack.httpPorts.SIGHTLINE_CONSOLE_HTTP_PORT}`;
  const adminPassword = readFileSync(join(dataDir, 'credentials', 'console-admin'), 'utf8');

  // Playwright's own SIGINT handler would exit before the stack is stopped; the cleanup closes the browser.
  const browser = await launchBrowser({ handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false });
  cleanup.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');

  say('logging in as admin');
  await page.goto(base);
  await page.getByLabel('User name').fill('admin');
  await page.getByLabel('Password').fill(adminPassword);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Live', level: 1 }).waitFor();
  const ctx: Context = { page, cdp, stack, dataDir };

  say(`Live grid: waiting for a frame of every camera, then ${WARMUP} s of warm-up`);
  await waitForPaints(page, CAMERAS, 120_000);
  await sleep(WARMUP * 1000);
  say(`Live grid: measuring ${SECONDS} s`);
  const grid = await measureWindow(ctx, `grid of ${CAMERA_COUNT}`, CAMERAS, SECONDS);

  const single = CAMERAS[0]!;
  say(`single view of ${single}: ${SINGLE_WARMUP} s of warm-up`);
  await page.goto(`${base}/#/live/${single}`);
  await page.getByRole('heading', { name: `Camera ${single}` }).waitFor();
  await waitForPaints(page, [single], 30_000);
  await sleep(SINGLE_WARMUP * 1000);
  say(`single view of ${single}: measuring ${SINGLE_SECONDS} s`);
  const one = await measureWindow(ctx, `single view of ${single}`, [single], SINGLE_SECONDS);
  load.after = loadavg()[0]!;

  say('stopping the browser and the stack');
  await browser.close();
  process.kill(stack.pid, 'SIGINT');
  const stopping = Date.now();
  const stopped = await Promise.race([stack.exited.then(() => true), sleep(20_000).then(() => false)]);
  if (stopped) stackPid = null;
  say(`the stack ${stopped ? 'stopped' : 'did not stop'} in ${((Date.now() - stopping) / 1000).toFixed(1)} s`);

  report({ grid, one, load, pageErrors });
}

function report({
  grid,
  one,
  load,
  pageErrors,
}: {
  grid: WindowResult;
  one: WindowResult;
  load: { before: number; after: number };
  pageErrors: string[];
}): void {
  const machine = { cores: availableParallelism(), loadavg1Before: round1(load.before), loadavg1After: round1(load.after) };
  const config = { cameras: CAMERA_COUNT, fps: FPS, seconds: SECONDS, warmup: WARMUP, singleSeconds: SINGLE_SECONDS, singleWarmup: SINGLE_WARMUP };
  const triple = (s: Summary) => `${ms(s.p50)} / ${ms(s.p95)} / ${ms(s.max)}`;
  const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? (a / b).toFixed(2) : '-');
  const share = (part: number, whole: number) => (whole > 0 ? `${Math.round((part / whole) * 100)} %` : '-');
  const row = (view: string, c: CameraResult) =>
    `| ${view} | ${c.camera} | ${c.fps.toFixed(1)} | ${c.painted} | ${c.withDetections} (${share(c.withDetections, c.painted)}) | ${c.withBoxes} | ${triple(c.frameToPaint)} | ${triple(c.captureToPaint)} | ${ratio(c.growthFrameToPaint, 1)} / ${ratio(c.growthCaptureToPaint, 1)} | ${c.sent} | ${c.skipped} |`;

  const lines: string[] = [];
  lines.push('');
  lines.push(
    `Console live view: the dev stack with ${CAMERA_COUNT} cameras at ${FPS} fps (640x480, a looped video of an orange), watched in Chromium as admin: the Live grid for ${grid.seconds} s after ${WARMUP} s of warm-up, then the single view of ${CAMERAS[0]} for ${one.seconds} s (the other cameras still running).`,
  );
  lines.push('');
  lines.push(
    '| view | camera | painted fps | painted | with detections | with boxes | frame to paint p50 / p95 / max ms | capture to paint p50 / p95 / max ms | growth: p95 last / first third (frame / capture to paint) | console sent | console skipped |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const c of grid.cameras) lines.push(row('grid', c));
  lines.push(row('**grid**', { ...grid.all, camera: `**all ${CAMERA_COUNT}**` }));
  for (const c of one.cameras) lines.push(row('**single**', { ...c, camera: `**${c.camera}**` }));
  lines.push('');
  const gridFirst = grid.cameras[0]!;
  const solo = one.cameras[0]!;
  lines.push(`| ${CAMERA_COUNT} cameras / 1 camera | grid, all cameras / single | grid, ${solo.camera} / single |`);
  lines.push('|---|---|---|');
  lines.push(`| painted fps per camera | ${ratio(grid.all.fps / CAMERA_COUNT, solo.fps)} | ${ratio(gridFirst.fps, solo.fps)} |`);
  lines.push(
    `| frame to paint p95 | ${ratio(grid.all.frameToPaint.p95, solo.frameToPaint.p95)} | ${ratio(gridFirst.frameToPaint.p95, solo.frameToPaint.p95)} |`,
  );
  lines.push(
    `| capture to paint p95 | ${ratio(grid.all.captureToPaint.p95, solo.captureToPaint.p95)} | ${ratio(gridFirst.captureToPaint.p95, solo.captureToPaint.p95)} |`,
  );
  lines.push(
    `| capture to paint p50 | ${ratio(grid.all.captureToPaint.p50, solo.captureToPaint.p50)} | ${ratio(gridFirst.captureToPaint.p50, solo.captureToPaint.p50)} |`,
  );
  lines.push('');
  lines.push('| where capture to paint goes (p50 / p95 ms) | grid, all | single |');
  lines.push('|---|---|---|');
  const pair = (s: Summary) => `${ms(s.p50)} / ${ms(s.p95)}`;
  lines.push(`| capture -> console sent (MQTT; with boxes: the wait for detections) | ${pair(grid.all.captureToSent)} | ${pair(solo.captureToSent)} |`);
  lines.push(`| console sent -> painted (socket, decode, draw, next animation frame) | ${pair(grid.all.sentToPaint)} | ${pair(solo.sentToPaint)} |`);
  lines.push(`| of which message received -> painted (the page's latencyMs) | ${pair(grid.all.frameToPaint)} | ${pair(solo.frameToPaint)} |`);
  lines.push(`| capture to paint, frames with detections | ${pair(grid.all.captureToPaintWithDetections)} | ${pair(solo.captureToPaintWithDetections)} |`);
  lines.push(`| capture to paint, bare frames | ${pair(grid.all.captureToPaintBare)} | ${pair(solo.captureToPaintBare)} |`);
  lines.push('');
  lines.push('| window | tab JS heap at start (MB, after GC) | at end | tab main thread busy | CPU, % of one core (other: the rest of the machine) |');
  lines.push('|---|---|---|---|---|');
  const cpuText = (w: WindowResult) =>
    `${Object.entries(w.cpu.parts)
      .sort((a, b) => b[1] - a[1])
      .filter(([, value]) => value >= 1)
      .map(([part, value]) => `${part} ${Math.round(value)}`)
      .join(', ')}; machine ${Math.round(w.cpu.machine)} of ${machine.cores * 100}`;
  for (const w of [grid, one])
    lines.push(`| ${w.name} | ${w.heapStart.afterGcMb} | ${w.heapEnd.afterGcMb} | ${Math.round(w.tabMainThread)} % | ${cpuText(w)} |`);
  lines.push('');
  const framesNote = (w: WindowResult, c: CameraResult) =>
    `${w.name}: capture published ${c.captured} frames of the watched cameras (${ratio(c.captured, w.seconds)}/s), inference ran ${c.inferred} (${ratio(c.inferred, w.seconds)}/s), the console sent ${c.sent} and skipped ${c.skipped}, the page received ${w.received} and painted ${c.painted}`;
  lines.push(`- ${framesNote(grid, grid.all)}.`);
  lines.push(`- ${framesNote(one, solo)}.`);
  const drops = (w: WindowResult) =>
    Object.entries(w.inferenceDropped)
      .filter(([, n]) => n > 0)
      .map(([reason, n]) => `${reason} ${n}`)
      .join(', ') || 'none';
  lines.push(
    `- Inference over all ${CAMERA_COUNT} cameras: ${grid.inferredPerSecondAll} frames/s in the grid window, ${one.inferredPerSecondAll} in the single window; frames it dropped (latest wins per camera): ${drops(grid)} and ${drops(one)}.`,
  );
  lines.push(
    `- The console sends a camera's frame when its detections come, or bare when the camera had none for ${BARE_AFTER_MS} ms; a frame inference skipped is never shown. It skips a viewer whose socket holds more than ${MAX_VIEWER_BUFFER / 1024} KB.`,
  );
  lines.push(
    `- Tab JS heap before the forced GC: grid ${grid.heapStart.usedMb} -> ${grid.heapEnd.usedMb} MB, single ${one.heapStart.usedMb} -> ${one.heapEnd.usedMb} MB.`,
  );
  lines.push(
    `- Machine: ${machine.cores} cores, 1-min load average ${machine.loadavg1Before} before and ${machine.loadavg1After} after. All stamps are Date.now() on this machine (capture, console, page).`,
  );
  for (const error of pageErrors.slice(0, 5)) lines.push(`- Script error in the page: ${error}`);
  if (args.json) {
    // JSON on stdout; the table goes to stderr for whoever watches.
    say(lines.join('\n'));
    console.log(JSON.stringify({ bench: 'console', at: new Date().toISOString(), config, machine, grid, single: one, pageErrors }, null, 2));
    return;
  }
  console.log(lines.join('\n'));
}

try {
  await main();
} catch (err) {
  say(`console bench failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
} finally {
  await cleanup.run();
}

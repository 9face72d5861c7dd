/**
 * `pnpm bench:stack`: the one-command stack (`node infra/stack/start.ts`, as `pnpm start` runs it)
 * on free ports in a temporary data dir, started twice: cold (nothing converted: the inference
 * service converts its built-in models from TF.js to ONNX) and warm (the same data dir again).
 * For each start, the time from launch to each service answering /readyz; then, once the warm
 * stack has settled, each service's RSS (its whole process tree, from /proc); with
 * `--soak-minutes N`, RSS per service every few seconds for N minutes while the stack runs as
 * `pnpm start` leaves it (the sample file camera at 5 fps through inference), and each service's
 * slope (least squares, MB/min). Tables are printed as Markdown for the README.
 *
 *   pnpm bench:stack [--settle-seconds 60] [--soak-minutes 30] [--sample-seconds 10] [--warm-only]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stackServices } from '../services.ts';
import { processTree, readMemory, type Memory } from './proc.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const { values: args } = parseArgs({
  options: {
    'settle-seconds': { type: 'string', default: '60' },
    'soak-minutes': { type: 'string', default: '0' },
    'sample-seconds': { type: 'string', default: '10' },
    'warm-only': { type: 'boolean', default: false },
  },
});
const settleSeconds = Number(args['settle-seconds']);
const soakMinutes = Number(args['soak-minutes']);
const sampleSeconds = Number(args['sample-seconds']);
const MB = 1024 * 1024;

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The arguments `pnpm start` gives node (its script is `node [flags] infra/stack/start.ts`), without pnpm's own process. */
function startCommand(): string[] {
  const script = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start!;
  const [command, ...args] = script.split(/\s+/);
  if (command !== 'node' || !args.includes('infra/stack/start.ts')) throw new Error(`the start script is not "node [flags] infra/stack/start.ts": ${script}`);
  return args.map((arg) => (arg === 'infra/stack/start.ts' ? join(root, arg) : arg));
}

interface Launched {
  child: ChildProcess;
  dataDir: string;
  ports: Record<string, number>;
  output: string[];
  /** Milliseconds from launch to each service's process appearing in stack.json, and to its /readyz answering 200. */
  spawnedAt: Map<string, number>;
  readyAt: Map<string, number>;
  upAt: number | null;
  pids(): Record<string, number>;
  stop(): Promise<void>;
}

/** The services in stack.json, once the stack launched as `launcher` wrote it (a stack before it left its own). */
function readState(dataDir: string, launcher: number): Record<string, { pid: number | null; restarts: number }> {
  try {
    const state = JSON.parse(readFileSync(join(dataDir, 'stack.json'), 'utf8')) as {
      pid: number;
      services: Record<string, { pid: number | null; restarts: number }>;
    };
    return state.pid === launcher ? state.services : {};
  } catch {
    return {};
  }
}

async function launch(dataDir: string, timeoutMs = 300_000): Promise<Launched> {
  const ports: Record<string, number> = {};
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SIGHTLINE_DATA_DIR: dataDir,
    SIGHTLINE_STACK_READY_TIMEOUT_S: '300',
    SIGHTLINE_BROKER_MQTT_PORT: String(await freePort()),
    SIGHTLINE_BROKER_WS_PORT: String(await freePort()),
    SIGHTLINE_AZURITE_BLOB_PORT: String(await freePort()),
  };
  for (const service of stackServices) {
    ports[service.name] = await freePort();
    env[service.httpPortKey] = String(ports[service.name]);
  }
  const started = performance.now();
  const child = spawn(process.execPath, startCommand(), { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const launched: Launched = {
    child,
    dataDir,
    ports,
    output: [],
    spawnedAt: new Map(),
    readyAt: new Map(),
    upAt: null,
    pids: () => Object.fromEntries(Object.entries(readState(dataDir, child.pid!)).flatMap(([name, s]) => (s.pid === null ? [] : [[name, s.pid]]))),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      process.kill(-child.pid!, 'SIGINT');
      const killer = setTimeout(() => killEverything(dataDir), 30_000);
      await exited;
      clearTimeout(killer);
      killEverything(dataDir);
    },
  };
  let pending = '';
  const collect = (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      launched.output.push(`${(performance.now() - started).toFixed(0).padStart(7)} ${line}`);
      if (line.includes('Sightline is up.')) launched.upAt = performance.now() - started;
    }
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  // /readyz of every service at once, and stack.json, every 50 ms: the stack itself polls each in turn every 200 ms.
  const names = stackServices.map((s) => s.name);
  while (launched.upAt === null) {
    if (child.exitCode !== null || performance.now() - started > timeoutMs) {
      killEverything(dataDir);
      throw new Error(`stack did not come up:\n${launched.output.join('\n')}`);
    }
    const now = performance.now() - started;
    const state = readState(dataDir, child.pid!);
    for (const name of names) if (state[name]?.pid != null && !launched.spawnedAt.has(name)) launched.spawnedAt.set(name, now);
    await Promise.all(
      names
        .filter((name) => launched.spawnedAt.has(name) && !launched.readyAt.has(name))
        .map(async (name) => {
          try {
            const res = await fetch(`http://127.0.0.1:${ports[name]}/readyz`, { signal: AbortSignal.timeout(500) });
            if (res.ok) launched.readyAt.set(name, performance.now() - started);
            await res.body?.cancel();
          } catch {
            // not listening yet
          }
        }),
    );
    await new Promise((r) => setTimeout(r, 50));
  }
  return launched;
}

/** SIGKILLs whatever still runs with this data dir in its environment (a service stuck on the way out). */
function killEverything(dataDir: string): void {
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`SIGHTLINE_DATA_DIR=${dataDir}`)) process.kill(pid, 'SIGKILL');
    } catch {
      // gone, or not ours
    }
  }
}

function memoryOf(pid: number): Memory {
  const total: Memory = { rss: 0, anon: 0, file: 0, pss: 0, processes: 0 };
  for (const p of processTree(pid)) {
    const m = readMemory(p);
    if (m === null) continue;
    total.rss += m.rss;
    total.anon += m.anon;
    total.file += m.file;
    total.pss += m.pss;
    total.processes += 1;
  }
  return total;
}

const mb = (bytes: number) => (bytes / MB).toFixed(0);
const s = (ms: number | undefined) => (ms === undefined ? '' : (ms / 1000).toFixed(1));

/**
 * Each model conversion inference logged, with how long it took: from its "converting" line to
 * the next line inference logged (conversion is synchronous: nothing else is logged meanwhile).
 */
function conversionLines(output: string[]): string[] {
  const at = (line: string) => Number(line.slice(0, 7));
  const fromInference = (line: string) => / inference +│/.test(line);
  return output.flatMap((line, i) => {
    const model = / converting (\S+ \S+) to ONNX/.exec(line)?.[1];
    if (model === undefined) return [];
    const next = output.slice(i + 1).find(fromInference);
    const took = next === undefined ? 'unknown' : `${((at(next) - at(line)) / 1000).toFixed(1)} s`;
    return [`${model}: ${took}, from ${s(at(line))} s after launch (next: ${next?.replace(/\s+/g, ' ').trim().slice(0, 110) ?? 'none'})`];
  });
}

function startTable(cold: Launched | null, warm: Launched): string {
  const rows = ['| service | cold: ready at (s) | cold: own start (s) | warm: ready at (s) | warm: own start (s) |', '|---|---|---|---|---|'];
  for (const { name } of stackServices) {
    const cells = [cold, warm].flatMap((l) => {
      if (l === null) return ['', ''];
      const ready = l.readyAt.get(name);
      const spawned = l.spawnedAt.get(name);
      return [s(ready), ready !== undefined && spawned !== undefined ? s(ready - spawned) : ''];
    });
    rows.push(`| ${name} | ${cells.join(' | ')} |`);
  }
  rows.push(`| **all ready ("Sightline is up.")** | **${cold ? s(cold.upAt!) : ''}** | | **${s(warm.upAt!)}** | |`);
  return rows.join('\n');
}

function memoryTable(memory: Array<[string, Memory]>, launcher: Memory): string {
  const rows = ['| service | RSS MB | anon MB | file MB | PSS MB | processes |', '|---|---|---|---|---|---|'];
  const sum: Memory = { rss: 0, anon: 0, file: 0, pss: 0, processes: 0 };
  for (const [name, m] of memory) {
    rows.push(`| ${name} | ${mb(m.rss)} | ${mb(m.anon)} | ${mb(m.file)} | ${mb(m.pss)} | ${m.processes} |`);
    for (const key of Object.keys(sum) as Array<keyof Memory>) sum[key] += m[key];
  }
  rows.push(`| **services** | **${mb(sum.rss)}** | ${mb(sum.anon)} | ${mb(sum.file)} | **${mb(sum.pss)}** | ${sum.processes} |`);
  rows.push(`| launcher (start.ts) | ${mb(launcher.rss)} | ${mb(launcher.anon)} | ${mb(launcher.file)} | ${mb(launcher.pss)} | 1 |`);
  rows.push(`| **stack** | **${mb(sum.rss + launcher.rss)}** | | | **${mb(sum.pss + launcher.pss)}** | ${sum.processes + 1} |`);
  return rows.join('\n');
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

async function soak(stack: Launched, minutes: number): Promise<string> {
  const samples = new Map<string, Array<[number, number]>>();
  const started = performance.now();
  const end = started + minutes * 60_000;
  while (performance.now() < end) {
    const minute = (performance.now() - started) / 60_000;
    for (const [name, pid] of Object.entries(stack.pids())) {
      const list = samples.get(name) ?? [];
      list.push([minute, memoryOf(pid).rss / MB]);
      samples.set(name, list);
    }
    const launcher = samples.get('launcher') ?? [];
    launcher.push([minute, (readMemory(stack.child.pid!)?.rss ?? 0) / MB]);
    samples.set('launcher', launcher);
    await new Promise((r) => setTimeout(r, sampleSeconds * 1000));
  }
  const rows = [`| service | start MB | end MB | max MB | slope MB/min (least squares, ${samples.get('launcher')!.length} samples) |`, '|---|---|---|---|---|'];
  const totals: Array<[number, number]> = [];
  for (const [name, points] of samples) {
    const ys = points.map(([, y]) => y);
    rows.push(`| ${name} | ${ys[0]!.toFixed(0)} | ${ys.at(-1)!.toFixed(0)} | ${Math.max(...ys).toFixed(0)} | ${slope(points).toFixed(2)} |`);
    points.forEach(([x, y], i) => (totals[i] = [x, (totals[i]?.[1] ?? 0) + y]));
  }
  const ys = totals.map(([, y]) => y);
  rows.push(`| **stack** | ${ys[0]!.toFixed(0)} | ${ys.at(-1)!.toFixed(0)} | ${Math.max(...ys).toFixed(0)} | ${slope(totals).toFixed(2)} |`);
  const restarts = Object.entries(readState(stack.dataDir, stack.child.pid!)).filter(([, v]) => v.restarts > 0);
  return `${rows.join('\n')}\n\nRestarts during the soak: ${restarts.length === 0 ? 'none' : restarts.map(([n, v]) => `${n} ${v.restarts}`).join(', ')}`;
}

const dataDir = mkdtempSync(join(tmpdir(), 'sightline-bench-stack-'));
let current: Launched | null = null;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killEverything(dataDir);
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(130);
  });
}
try {
  let cold: Launched | null = null;
  if (!args['warm-only']) {
    process.stderr.write(`cold start in ${dataDir}\n`);
    current = cold = await launch(dataDir);
    await cold.stop();
  } else {
    // Warm-only: convert once (not measured), then measure the start that finds the cache.
    process.stderr.write(`warm-up start in ${dataDir} (not measured)\n`);
    current = await launch(dataDir);
    await current.stop();
  }
  process.stderr.write('warm start\n');
  const warm = (current = await launch(dataDir));
  process.stderr.write(`settling ${settleSeconds} s\n`);
  await new Promise((r) => setTimeout(r, settleSeconds * 1000));
  const pids = warm.pids();
  const memory = stackServices.filter((svc) => pids[svc.name] !== undefined).map((svc): [string, Memory] => [svc.name, memoryOf(pids[svc.name]!)]);
  const launcher = readMemory(warm.child.pid!) ?? { rss: 0, anon: 0, file: 0, pss: 0, processes: 0 };

  const out: string[] = [];
  out.push(`## Start (node ${process.version}, ${new Date().toISOString()})`, '');
  out.push(
    '"ready at": seconds from launch to the service answering /readyz 200 (the stack starts them one after another, each once the one before is ready); "own start": from its process appearing to its /readyz.',
    '',
  );
  out.push(startTable(cold, warm), '');
  if (cold) {
    const lines = conversionLines(cold.output);
    const inferenceDelta =
      (cold.readyAt.get('inference') ?? 0) -
      (cold.spawnedAt.get('inference') ?? 0) -
      ((warm.readyAt.get('inference') ?? 0) - (warm.spawnedAt.get('inference') ?? 0));
    out.push(`Cold start: first-start model conversion in inference adds ${s(inferenceDelta)} s to its own start (cold minus warm). Conversions logged:`, '');
    for (const line of lines) out.push(`    ${line}`);
    if (lines.length === 0) out.push('    (none: was the model converted already?)');
    out.push('');
  }
  out.push(`## Idle memory, ${settleSeconds} s after the warm stack was up`, '');
  out.push(
    "RSS and PSS summed over each service's process tree (/proc/<pid>/status, smaps_rollup); anon = heap and other private memory, file = mapped code and files (the node binary's pages are shared between processes: PSS splits them).",
    '',
  );
  out.push(memoryTable(memory, launcher), '');
  if (soakMinutes > 0) {
    process.stderr.write(`soaking ${soakMinutes} min, a sample every ${sampleSeconds} s\n`);
    out.push(`## Soak: ${soakMinutes} min of the default stack (sample camera at its default fps through inference), RSS every ${sampleSeconds} s`, '');
    out.push(await soak(warm, soakMinutes), '');
  }
  await warm.stop();
  current = null;
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  if (current) await current.stop();
  killEverything(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
}

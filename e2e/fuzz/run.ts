import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type MqttClient } from 'mqtt';
import { channels, DEFAULT_TOPIC_PREFIX, type Channel } from '@sightline/schemas';
import { stackServices } from '../../infra/stack/services.ts';
import { launchStack, type LaunchedStack } from '../launch.ts';
import { freePort } from '../ports.ts';
import { connectHeader, publishHeader } from '../../services/broker/src/raw-mqtt.ts';
import { authenticatedPrelude, flood, malformedPackets, noPrelude, sendMalformed, type BrokerEndpoints } from './broker-flood.ts';
import { fuzzBus } from './bus-fuzz.ts';
import { fuzzHttp, loadRoutes, openApiQueryNames } from './http-fuzz.ts';
import { PeakSampler, readStackState, rssOfPid, scrape } from './metrics.ts';
import { ChannelFuzzer } from './payloads.ts';
import { Random } from './random.ts';
import { addFuzzUser, connectFuzzer } from './login.ts';
import { MALFORMED_WAIT_MS, type FuzzOptions, type FuzzReport, type ServiceFigures } from './options.ts';

export { fullForm, shortForm, type FuzzOptions, type FuzzReport } from './options.ts';

/**
 * One fuzz run: the whole stack launched as `pnpm start` runs it (free ports, its own data dir),
 * the broker flooded with packets that announce far more than they send, every channel a service
 * subscribes to sent hostile messages, every HTTP route sent hostile requests; then each
 * service's restarts, RSS, drops and evictions, against the bounds.
 */

const MiB = 1024 * 1024;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mibText = (bytes: number | null) => (bytes === null ? '-' : (bytes / MiB).toFixed(0));

interface Snapshot {
  rss: number | null;
  rssSource: 'metrics' | 'proc';
  dropped: number;
  evictions: number;
  handlerErrors: number;
  answered: boolean;
}

async function snapshot(port: number, pid: number | null): Promise<Snapshot> {
  const metrics = await scrape(port);
  const fromMetrics = metrics?.get('process_resident_memory_bytes');
  return {
    rss: fromMetrics ?? (pid === null ? null : rssOfPid(pid)),
    rssSource: fromMetrics === undefined ? 'proc' : 'metrics',
    dropped: metrics?.get('sightline_bus_messages_dropped_total') ?? 0,
    evictions: metrics?.get('sightline_bounded_map_evictions_total') ?? 0,
    handlerErrors: metrics?.get('sightline_bus_handler_errors_total') ?? 0,
    answered: metrics !== null,
  };
}

async function healthy(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) })).ok;
  } catch {
    return false;
  }
}

/** Samples one process's RSS often (the broker's, during a flood) and keeps the peak. */
async function brokerPeakDuring<T>(dataDir: string, work: () => Promise<T>): Promise<{ result: T; before: number | null; peak: number | null }> {
  const pid = () => readStackState(dataDir).services.broker?.pid ?? null;
  const read = () => {
    const p = pid();
    return p === null ? null : rssOfPid(p);
  };
  const before = read();
  let peak = before;
  const timer = setInterval(() => {
    const rss = read();
    if (rss !== null && (peak === null || rss > peak)) peak = rss;
  }, 50);
  try {
    const result = await work();
    return { result, before, peak };
  } finally {
    clearInterval(timer);
  }
}

function crashLines(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => /FATAL|unhandled rejection|uncaught exception|restarting in|before it was ready/.test(line))
    .map((line) => (line.length > 400 ? `${line.slice(0, 400)}…` : line))
    .slice(0, 20);
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const random = new Random(options.seed);
  const startedAt = new Date();
  const log = (line: string) => options.log(`${((Date.now() - startedAt.getTime()) / 1000).toFixed(1).padStart(6)} s  ${line}`);
  const dataDir = mkdtempSync(join(tmpdir(), 'sightline-fuzz-'));
  const routesDir = join(dataDir, 'fuzz-routes');
  mkdirSync(routesDir);
  const { credentials } = await addFuzzUser(dataDir);
  const wsPort = await freePort();
  log(`seed ${options.seed} (replay: pnpm fuzz --seed ${options.seed}); data dir ${dataDir}`);

  let stack: LaunchedStack | null = null;
  let client: MqttClient | null = null;
  try {
    stack = await launchStack(dataDir, {
      SIGHTLINE_BROKER_WS_PORT: String(wsPort),
      // Queues and cuts in real time like a real speaker, without a sound server or files.
      SIGHTLINE_SPEAKER_OUTPUT: 'none',
      NODE_OPTIONS: `--import ${pathToFileURL(join(import.meta.dirname, 'routes-recorder.ts')).href}`,
      FUZZ_ROUTES_DIR: routesDir,
    });
    log('stack up');
    const endpoints: BrokerEndpoints = { mqttPort: stack.mqttPort, wsPort };
    const connected = await connectFuzzer(stack.mqttPort, credentials, options.seed, log);
    client = connected.client;
    log(`connected to the broker as ${connected.connectedAs}`);

    const services = stackServices.map((s) => ({ name: s.name, port: Number(stack!.httpPorts[s.httpPortKey]) }));
    const pidOf = (name: string) => readStackState(dataDir).services[name]?.pid ?? null;
    await sleep(2000);
    const before = new Map<string, Snapshot>();
    for (const s of services) before.set(s.name, await snapshot(s.port, pidOf(s.name)));
    const sampler = new PeakSampler(dataDir);
    sampler.start();

    // The broker first, while the rest is quiet, so its RSS says what the floods cost.
    const floodDeadline = () => Date.now() + options.flood.seconds * 1000;
    const perSocket = options.flood.mibPerSocket * MiB;
    if (options.flood.tcpSockets + options.flood.wsSockets > 0) {
      log(
        `pre-authentication flood: ${options.flood.tcpSockets} TCP + ${options.flood.wsSockets} WebSocket sockets, each a CONNECT announcing 250 MB, up to ${options.flood.mibPerSocket} MiB each`,
      );
    }
    const preAuth = await brokerPeakDuring(dataDir, async () => {
      const deadline = floodDeadline();
      const common = {
        endpoints,
        prelude: noPrelude,
        header: connectHeader(250_000_000),
        bytesPerSocket: perSocket,
        chunkBytes: 64 * 1024,
        deadline,
        holdMs: 1500,
      };
      return Promise.all([
        flood({ ...common, name: 'pre-auth CONNECT', transport: 'tcp', sockets: options.flood.tcpSockets, firstAddress: 0 }, random.fork('preauth-tcp')),
        flood({ ...common, name: 'pre-auth CONNECT', transport: 'ws', sockets: options.flood.wsSockets, firstAddress: 100 }, random.fork('preauth-ws')),
      ]);
    });
    log(`pre-authentication flood done: broker RSS ${mibText(preAuth.before)} -> peak ${mibText(preAuth.peak)} MiB`);
    await sleep(1000);
    const oversizeSockets = options.flood.oversizeSockets;
    log(`oversize PUBLISH: ${oversizeSockets} TCP + ${oversizeSockets} WebSocket sockets as ${credentials.username}, each announcing 200 MiB`);
    const oversize = await brokerPeakDuring(dataDir, async () => {
      const deadline = floodDeadline();
      const auth = connected.connectedAs.startsWith('user') ? credentials : undefined;
      const common = {
        endpoints,
        header: publishHeader(`${DEFAULT_TOPIC_PREFIX}/fuzz/oversize`, 200 * MiB),
        bytesPerSocket: perSocket,
        chunkBytes: 64 * 1024,
        deadline,
        holdMs: 1500,
      };
      return Promise.all([
        flood(
          { ...common, name: 'oversize PUBLISH', transport: 'tcp', sockets: oversizeSockets, firstAddress: 150, prelude: authenticatedPrelude(auth, 'tcp') },
          random.fork('oversize-tcp'),
        ),
        flood(
          { ...common, name: 'oversize PUBLISH', transport: 'ws', sockets: oversizeSockets, firstAddress: 175, prelude: authenticatedPrelude(auth, 'ws') },
          random.fork('oversize-ws'),
        ),
      ]);
    });
    log(`oversize PUBLISH done: broker RSS ${mibText(oversize.before)} -> peak ${mibText(oversize.peak)} MiB; malformed packets next`);
    const packets = malformedPackets(random.fork('malformed'), credentials);
    const [malformedTcp, malformedWs] = await Promise.all([
      sendMalformed(endpoints, packets, 'tcp', 200, MALFORMED_WAIT_MS),
      sendMalformed(endpoints, packets, 'ws', 225, MALFORMED_WAIT_MS),
    ]);
    const malformed = {
      sent: malformedTcp.sent + malformedWs.sent,
      closedByBroker: malformedTcp.closedByBroker + malformedWs.closedByBroker,
      leftOpen: [...malformedTcp.leftOpen.map((n) => `tcp ${n}`), ...malformedWs.leftOpen.map((n) => `ws ${n}`)],
    };

    // The bus and HTTP side by side, under one deadline.
    const subscribed = (Object.values(channels) as Channel<unknown, string>[]).filter((c) => c.subscribers.length > 0);
    const fuzzers = subscribed.map((c) => new ChannelFuzzer(c, DEFAULT_TOPIC_PREFIX, random.fork(`channel-${c.name}`)));
    const jsonFuzzers = (Object.values(channels) as Channel<unknown, string>[])
      .filter((c) => c.encoding === 'json')
      .map((c) => new ChannelFuzzer(c, DEFAULT_TOPIC_PREFIX, random.fork(`body-${c.name}`)));
    const serviceByPort = new Map(services.map((s) => [s.port, s.name]));
    const routes = loadRoutes(routesDir, serviceByPort);
    const queryNames = await openApiQueryNames(routes);
    log(
      `bus: ${subscribed.length} channels with subscribers (${subscribed.map((c) => c.name).join(', ')}), ${options.count} messages, ${options.byteBudgetMiB} MiB of big ones; ` +
        `HTTP: ${routes.length} routes of ${new Set(routes.map((r) => r.service)).size} services, ${options.requests} requests; at most ${options.seconds} s`,
    );
    const deadline = Date.now() + options.seconds * 1000;
    const [bus, http] = await Promise.all([
      fuzzBus(client, fuzzers, { count: options.count, deadline, byteBudget: options.byteBudgetMiB * MiB, inFlight: 32 }),
      fuzzHttp(routes, random.fork('http'), {
        count: options.requests,
        deadline,
        concurrency: 6,
        // Long enough for a model switch queued behind others on a loaded machine; a hang still shows.
        timeoutMs: 30_000,
        queryNames,
        jsonBody: (r) => {
          const fuzzer = r.pick(jsonFuzzers);
          return r.chance(0.4) ? fuzzer.valid(r) : fuzzer.sample(r).payload;
        },
      }),
    ]);
    log(`sent ${bus.sent} messages (${(bus.bytes / MiB).toFixed(0)} MiB) and ${http.sent} requests; settling ${options.settleSeconds} s`);
    await sleep(options.settleSeconds * 1000);

    const state = readStackState(dataDir);
    const figures: ServiceFigures[] = [];
    for (const s of services) {
      const after = await snapshot(s.port, pidOf(s.name));
      const first = before.get(s.name)!;
      figures.push({
        name: s.name,
        restarts: state.services[s.name]?.restarts ?? 0,
        rssBefore: first.rss,
        rssAfter: after.rss,
        rssPeak: sampler.peak(s.name),
        rssSource: first.rssSource,
        dropped: after.dropped - first.dropped,
        evictions: after.evictions - first.evictions,
        handlerErrors: after.handlerErrors - first.handlerErrors,
        healthyAfter: await healthy(s.port),
      });
    }
    sampler.stop();
    await client.endAsync(true);
    client = null;

    process.kill(stack.pid, 'SIGINT');
    const stackExit = await Promise.race([stack.exited, sleep(30_000).then(() => null)]);
    const crashes = crashLines(stack.output());
    stack.kill();
    stack = null;

    const growth = (f: { before: number | null; peak: number | null }) => (f.before === null || f.peak === null ? null : f.peak - f.before);
    const report: FuzzReport = {
      seed: options.seed,
      options: { ...options, log: undefined } as Omit<FuzzOptions, 'log'>,
      connectedAs: connected.connectedAs,
      startedAt: startedAt.toISOString(),
      seconds: (Date.now() - startedAt.getTime()) / 1000,
      services: figures,
      preAuth: { floods: preAuth.result, rssBefore: preAuth.before, rssPeak: preAuth.peak, growth: growth(preAuth) },
      oversize: { floods: oversize.result, rssBefore: oversize.before, rssPeak: oversize.peak, growth: growth(oversize) },
      malformed,
      bus,
      http,
      crashes,
      stackExit,
      breaches: [],
    };
    report.breaches = breaches(report, options);
    return report;
  } finally {
    if (client !== null) await client.endAsync(true).catch(() => undefined);
    if (stack !== null) {
      process.kill(stack.pid, 'SIGINT');
      await Promise.race([stack.exited, sleep(20_000)]);
      stack.kill();
    }
    if (!options.keep) rmSync(dataDir, { recursive: true, force: true });
  }
}

export function breaches(report: FuzzReport, options: Pick<FuzzOptions, 'bounds'>): string[] {
  const out: string[] = [];
  const mib = (n: number) => `${(n / MiB).toFixed(0)} MiB`;
  for (const s of report.services) {
    if (s.restarts > 0) out.push(`${s.name} restarted ${s.restarts} time(s) (bound 0)`);
    if (!s.healthyAfter) out.push(`${s.name} does not answer /healthz after the run`);
    if (s.rssBefore !== null && s.rssAfter !== null && s.rssAfter - s.rssBefore > options.bounds.rssGrowthMiB * MiB) {
      out.push(`${s.name} RSS grew ${mib(s.rssAfter - s.rssBefore)} (${mib(s.rssBefore)} to ${mib(s.rssAfter)}; bound ${options.bounds.rssGrowthMiB} MiB)`);
    }
    if (s.rssBefore !== null && s.rssPeak !== null && s.rssPeak - s.rssBefore > options.bounds.rssPeakGrowthMiB * MiB) {
      out.push(`${s.name} RSS peaked ${mib(s.rssPeak - s.rssBefore)} above where it started (${mib(s.rssPeak)}; bound ${options.bounds.rssPeakGrowthMiB} MiB)`);
    }
    if (s.rssAfter === null) out.push(`${s.name}: no RSS after the run (its /metrics did not answer)`);
  }
  if (report.preAuth.growth !== null && report.preAuth.growth > options.bounds.preAuthMiB * MiB) {
    out.push(
      `broker buffered ${mib(report.preAuth.growth)} for unauthenticated sockets (RSS growth during the pre-auth flood; bound ${options.bounds.preAuthMiB} MiB)`,
    );
  }
  if (report.oversize.growth !== null && report.oversize.growth > options.bounds.oversizeMiB * MiB) {
    out.push(`broker buffered ${mib(report.oversize.growth)} of oversize PUBLISH packets (RSS growth; bound ${options.bounds.oversizeMiB} MiB)`);
  }
  if (report.http.findings.length > 0) out.push(`HTTP: ${report.http.findings.length} request(s) answered 5xx, dropped or timed out (bound 0)`);
  if (report.stackExit !== 0) out.push(`the stack did not stop cleanly on SIGINT (exit ${report.stackExit})`);
  return out;
}

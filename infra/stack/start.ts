import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { env, loadConfig, runMain, SERVICES, type Logger, type Service } from '@sightline/kit';
import { formatLogLine } from './log-format.ts';
import { startReaper, type Reaper } from './reaper.ts';
import { CONSOLE_ADMIN_FILE, OPERATOR_USER, runtimeEnv, stackCredentials, stackServices, whyNotStarted, type StackService } from './services.ts';

/**
 * `pnpm start`: every service as a child process on this machine, with embedded defaults (no
 * Docker, camera or cloud account), readable prefixed logs, a wait on each `/readyz` in order,
 * a restart with backoff for a service that crashes after it was up, and a clean stop on Ctrl-C.
 */

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const schema = z.strictObject({
  SIGHTLINE_LOG_LEVEL: env.logLevel(),
  SIGHTLINE_DATA_DIR: env.string(join(root, '.data')),
  SIGHTLINE_STACK_READY_TIMEOUT_S: env.int(60, 1, 600),
  SIGHTLINE_STACK_SERVICES: z
    .string()
    .default(stackServices.map((s) => s.name).join(','))
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .superRefine((names, ctx) => {
      for (const name of names) {
        const known = SERVICES.find((s) => s.name === name);
        const why = known === undefined ? null : whyNotStarted(known.name);
        if (why !== null) ctx.addIssue({ code: 'custom', message: why });
        else if (!stackServices.some((s) => s.name === name))
          ctx.addIssue({ code: 'custom', message: `must be a comma-separated list of ${stackServices.map((s) => s.name).join(', ')}` });
      }
    }),
  // Ports the stack needs to know to wait for readiness and to tell you where to look.
  SIGHTLINE_BROKER_HOST: env.host('127.0.0.1'),
  SIGHTLINE_BROKER_MQTT_PORT: env.port(1883),
  SIGHTLINE_BROKER_WS_PORT: env.port(9001),
});
type StackConfig = z.infer<typeof schema>;

interface Running {
  service: StackService;
  child: ChildProcess | null;
  httpPort: number;
  restarts: number;
  everReady: boolean;
}

const colour = process.stdout.isTTY === true;
/**
 * How long services have to stop by themselves once the stack is gone before the reaper kills
 * what is left: their own deadline is 5 s (the broker's and sync's a little more).
 */
const REAPER_GRACE_SECONDS = 8;
const width = Math.max(...stackServices.map((s) => s.name.length));

function createStack(config: StackConfig, log: (line: string) => void, logger: Logger): Service {
  const selected = stackServices.filter((s) => config.SIGHTLINE_STACK_SERVICES.includes(s.name));
  const mqttUrl = `mqtt://${config.SIGHTLINE_BROKER_HOST}:${config.SIGHTLINE_BROKER_MQTT_PORT}`;
  const running: Running[] = [];
  let stopping = false;
  const statePath = join(config.SIGHTLINE_DATA_DIR, 'stack.json');
  const credentials = stackCredentials(config.SIGHTLINE_DATA_DIR);
  let reaper: Reaper | undefined;

  function writeState(): void {
    const state = Object.fromEntries(running.map((r) => [r.service.name, { pid: r.child?.pid ?? null, httpPort: r.httpPort, restarts: r.restarts }]));
    writeFileSync(statePath, `${JSON.stringify({ pid: process.pid, mqttUrl, services: state }, null, 2)}\n`);
    reaper?.watch(running.flatMap((r) => (r.child?.pid === undefined ? [] : [r.child.pid])));
  }

  function childEnv(service: StackService): NodeJS.ProcessEnv {
    return {
      ...service.defaults,
      ...(service.name === 'broker' ? credentials.brokerEnv : credentials.serviceEnv(service.name)),
      ...(service.name === 'console'
        ? {
            SIGHTLINE_CONSOLE_SERVICES: running
              .filter((r) => r.service.name !== 'console')
              .map((r) => `${r.service.name}=http://127.0.0.1:${r.httpPort}`)
              .join(','),
          }
        : {}),
      SIGHTLINE_MQTT_URL: mqttUrl,
      ...process.env,
      ...runtimeEnv(config.SIGHTLINE_DATA_DIR),
      SIGHTLINE_DATA_DIR: config.SIGHTLINE_DATA_DIR,
      SIGHTLINE_LOG_LEVEL: config.SIGHTLINE_LOG_LEVEL,
    };
  }

  function launch(entry: Running): void {
    const child = spawn(process.execPath, [join(root, entry.service.entry)], {
      cwd: root,
      env: childEnv(entry.service),
      // Its own process group, so Ctrl-C reaches only the stack, which stops the services in
      // reverse order; the IPC channel stops them if the stack itself dies.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    entry.child = child;
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => log(formatLogLine(entry.service.name, line, width, colour)));
    }
    child.on('exit', (code, signal) => {
      entry.child = null;
      // Whatever the service started and left behind (an ffmpeg, a pacat) goes with it: they share its group.
      killGroup(child.pid);
      if (stopping) return;
      const why = signal ? `killed by ${signal}` : `exited with code ${code}`;
      if (!entry.everReady) {
        logger.error(`${entry.service.name} ${why} before it was ready; stopping the stack`);
        process.kill(process.pid, 'SIGTERM');
        return;
      }
      entry.restarts += 1;
      const delay = Math.min(30_000, 500 * 2 ** Math.min(entry.restarts - 1, 6));
      logger.warn(`${entry.service.name} ${why}; restarting in ${delay} ms`);
      setTimeout(() => {
        if (stopping) return;
        launch(entry);
        writeState();
      }, delay).unref();
    });
    writeState();
  }

  async function waitReady(entry: Running): Promise<void> {
    const url = `http://127.0.0.1:${entry.httpPort}/readyz`;
    const deadline = Date.now() + config.SIGHTLINE_STACK_READY_TIMEOUT_S * 1000;
    let reason = 'no answer';
    while (Date.now() < deadline) {
      if (stopping || entry.child === null) throw new Error(`${entry.service.name} is not running`);
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
        if (res.ok) return;
        reason = ((await res.json()) as { reason?: string }).reason ?? `HTTP ${res.status}`;
      } catch (err) {
        reason = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${entry.service.name} not ready after ${config.SIGHTLINE_STACK_READY_TIMEOUT_S} s: ${reason}`);
  }

  return {
    async start() {
      mkdirSync(config.SIGHTLINE_DATA_DIR, { recursive: true });
      // First of all: from here on, however the stack ends, nothing it started outlives it for long.
      reaper = startReaper(join(config.SIGHTLINE_DATA_DIR, 'stack.groups'), REAPER_GRACE_SECONDS);
      for (const service of SERVICES) {
        const why = whyNotStarted(service.name);
        if (why !== null) logger.info(`${service.name} not started: ${why}`);
      }
      for (const service of selected) {
        const configured = process.env[service.httpPortKey];
        const entry: Running = { service, child: null, httpPort: configured ? Number(configured) : service.defaultHttpPort, restarts: 0, everReady: false };
        running.push(entry);
        launch(entry);
        await waitReady(entry);
        entry.everReady = true;
      }
      const lines = [
        '',
        'Sightline is up.',
        `  MQTT          ${mqttUrl}   (anonymous: read-only, from loopback only)`,
        `  Operator      user ${OPERATOR_USER}, password in ${credentials.passwordFile(OPERATOR_USER)} (sends commands and scale readings)`,
        `  MQTT over WS  ws://${config.SIGHTLINE_BROKER_HOST}:${config.SIGHTLINE_BROKER_WS_PORT}`,
        ...running
          .filter((r) => r.service.name === 'console')
          .map((r) => `  Console       http://localhost:${r.httpPort}/   user admin, password in ${credentials.passwordFile(CONSOLE_ADMIN_FILE)}`),
        ...running.map((r) => `  ${r.service.name.padEnd(12)}  http://127.0.0.1:${r.httpPort}/metrics  (pid ${r.child?.pid})`),
        `  Watch it:     mosquitto_sub -V mqttv311 -h ${config.SIGHTLINE_BROKER_HOST} -p ${config.SIGHTLINE_BROKER_MQTT_PORT} -t 'sightline/#' -v`,
        `  Data:         ${config.SIGHTLINE_DATA_DIR}`,
        '  Ctrl-C stops everything.',
        '',
      ];
      log(lines.join('\n'));
    },
    async stop() {
      stopping = true;
      for (const entry of [...running].reverse()) {
        const child = entry.child;
        if (!child || child.exitCode !== null) continue;
        const exited = new Promise<void>((done) => child.once('exit', () => done()));
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 6000);
        await exited;
        clearTimeout(killer);
      }
    },
  };
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is empty: nothing was left behind.
  }
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

await runMain({
  service: 'stack',
  loadConfig: () => loadConfig('stack', schema),
  logLevel: () => 'info',
  logDestination: { write: (line: string) => print(formatLogLine('stack', line.trimEnd(), width, colour)) },
  build: (config, logger) => createStack(config, print, logger),
  stopTimeoutMs: 15_000,
});

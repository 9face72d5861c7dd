import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stackCredentials, stackServices } from '../infra/stack/services.ts';
import { killGroup, startedHere } from './glass/cleanup.ts';
import { freePort } from './ports.ts';

const root = join(import.meta.dirname, '..');

/** Every port a stack listens on. */
export interface StackPorts {
  mqtt: number;
  ws: number;
  azurite: number;
  /** Each service's HTTP port variable (e.g. SIGHTLINE_SYNC_HTTP_PORT) and its port. */
  http: Record<string, string>;
}

/** Free loopback ports for a stack: pass the same ones to launches that must find each other (a restart). */
export async function freeStackPorts(): Promise<StackPorts> {
  const http: Record<string, string> = {};
  for (const service of stackServices) http[service.httpPortKey] = String(await freePort());
  return { mqtt: await freePort(), ws: await freePort(), azurite: await freePort(), http };
}

export interface LaunchedStack {
  /** MQTT port of the broker. */
  mqttPort: number;
  ports: StackPorts;
  /** Each service's HTTP port variable (e.g. SIGHTLINE_SYNC_HTTP_PORT) and the port it got. */
  httpPorts: Record<string, string>;
  /** The broker login of a user the stack provisioned (a bus service, or `operator`). */
  login(user: string): { username: string; password: string };
  /** Everything the stack printed so far. */
  output(): string;
  pid: number;
  /** Resolves with the stack's exit code. */
  exited: Promise<number | null>;
  /**
   * SIGKILLs the stack and every service it runs (cleanup; a graceful stop is SIGINT to `pid`).
   * The services run in process groups of their own, and a service whose stack vanished stops by
   * itself, but services were seen stuck on the way out (inference in a native lock, a console
   * spinning) for the rest of the run: so every process whose environment names this stack's data
   * dir is killed, found in /proc (stack.json may be gone already: a test's folder is often
   * removed before its stack is killed, and a restarted service has a new pid).
   */
  kill(): void;
}

/**
 * `pnpm start` as a user runs it (`node infra/stack/start.ts`), on free ports (or `options.ports`),
 * with `env` on top, resolved once it prints "Sightline is up." (rejects with its output if it
 * exits or takes too long); with `waitUp: false`, as soon as it is started.
 */
export async function launchStack(
  dataDir: string,
  env: Record<string, string>,
  timeoutMs = 150_000,
  options: { ports?: StackPorts; waitUp?: boolean } = {},
): Promise<LaunchedStack> {
  const ports = options.ports ?? (await freeStackPorts());
  const mqttPort = ports.mqtt;
  const httpPorts = ports.http;
  const child = spawn(process.execPath, [join(root, 'infra', 'stack', 'start.ts')], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      SIGHTLINE_DATA_DIR: dataDir,
      SIGHTLINE_BROKER_MQTT_PORT: String(mqttPort),
      SIGHTLINE_BROKER_WS_PORT: String(ports.ws),
      SIGHTLINE_AZURITE_BLOB_PORT: String(ports.azurite),
      ...httpPorts,
      ...env,
    },
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const kill = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    for (const entry of readdirSync('/proc')) {
      const pid = Number(entry);
      if (Number.isInteger(pid) && pid !== process.pid && startedHere(pid, dataDir)) killGroup(pid, dataDir);
    }
  };
  const deadline = Date.now() + timeoutMs;
  while (options.waitUp !== false && !output.includes('Sightline is up.')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      kill();
      throw new Error(`stack did not come up:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const login = (user: string) => ({ username: user, password: readFileSync(stackCredentials(dataDir).passwordFile(user), 'utf8') });
  return { mqttPort, ports, httpPorts, login, output: () => output, pid: child.pid!, exited, kill };
}

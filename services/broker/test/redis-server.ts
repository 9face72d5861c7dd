import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * A throwaway Debian redis-server on a free loopback port: no snapshots, no append-only file, its
 * directory removed on stop. The cluster tests need a real one; when it is not installed they
 * fail, saying so (CI installs it).
 */
export interface RedisServer {
  port: number;
  pid: number;
  /** redis://[:password@]127.0.0.1:port/db */
  url(db?: number): string;
  stop(): Promise<void>;
}

function redisServerPath(): string {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin']) {
    const candidate = join(dir, 'redis-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error('redis-server is not installed (apt-get install redis-server): the broker cluster is tested against a real Redis');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

function waitUntilReady(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const output: string[] = [];
    const timer = setTimeout(() => reject(new Error(`redis-server was not ready within ${timeoutMs} ms:\n${output.join('\n')}`)), timeoutMs);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      output.push(line);
      if (line.includes('Ready to accept connections')) {
        clearTimeout(timer);
        lines.close();
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}:\n${output.join('\n')}`));
    });
  });
}

export async function startRedisServer(options: { password?: string } = {}): Promise<RedisServer> {
  const executable = redisServerPath();
  const dir = await mkdtemp(join(tmpdir(), 'sightline-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'notice'];
  if (options.password !== undefined) args.push('--requirepass', options.password);
  const child = spawn(executable, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitUntilReady(child, 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  // Keep reading its output (or the pipe fills and stalls it), without holding the test process open.
  child.stdout!.resume();
  (child.stdout as unknown as { unref?: () => void }).unref?.();
  const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
  return {
    port,
    pid: child.pid!,
    url: (db = 0) => `redis://${auth}127.0.0.1:${port}/${db}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

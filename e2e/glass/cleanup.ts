import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What the bench must undo however it ends: steps run once, last registered first, each guarded,
 * on a normal end, on an error, and on Ctrl-C / SIGTERM / SIGHUP.
 */
export interface Cleanup {
  /** A scope for helpers that register their own cleanup (`startPulseServer`). */
  after(fn: () => unknown): void;
  run(): Promise<void>;
}

/** Steps undone together, last registered first, each guarded; no signal handlers (a part of a bench's cleanup). */
export function createScope(say: (line: string) => void): Cleanup {
  const steps: Array<() => unknown> = [];
  let running: Promise<void> | null = null;
  return {
    after(fn) {
      steps.push(fn);
    },
    run() {
      running ??= (async () => {
        for (const step of steps.splice(0).reverse()) {
          try {
            await step();
          } catch (err) {
            say(`cleanup step failed: ${(err as Error).message}`);
          }
        }
      })();
      return running;
    },
  };
}

/** The bench's whole cleanup: a scope also run on Ctrl-C, SIGTERM and SIGHUP. */
export function createCleanup(say: (line: string) => void): Cleanup {
  const cleanup = createScope(say);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      say(`${signal}: stopping everything the bench started`);
      cleanup.run().then(
        () => process.exit(130),
        () => process.exit(1),
      );
    });
  }
  return cleanup;
}

/**
 * Whether process `pid` is one this bench started: its environment names our data dir (the stack
 * and every service it runs get SIGHTLINE_DATA_DIR). A pid that exited may be reused by anyone.
 */
export function startedHere(pid: number, dataDir: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`SIGHTLINE_DATA_DIR=${dataDir}`);
  } catch {
    return false;
  }
}

/** SIGKILLs the process group (or the process) of `pid` when it is still there and ours. */
export function killGroup(pid: number | null | undefined, dataDir: string): void {
  if (pid === null || pid === undefined || !startedHere(pid, dataDir)) return;
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
      return;
    } catch {
      // not a group leader, or gone already
    }
  }
}

/**
 * However the bench ends, the stack it launched (`stackPid()`, null once it stopped on its own) and
 * every service it ran go: SIGINT first, so the stack stops them in order, then SIGKILL for
 * whatever is left (stack.json lists the services' pids).
 */
export function stopStackOnCleanup(cleanup: Cleanup, dataDir: string, stackPid: () => number | null): void {
  cleanup.after(() => {
    const state = join(dataDir, 'stack.json');
    if (!existsSync(state)) return;
    const services = (JSON.parse(readFileSync(state, 'utf8')) as { services: Record<string, { pid: number | null }> }).services;
    for (const service of Object.values(services)) killGroup(service.pid, dataDir);
  });
  cleanup.after(async () => {
    const pid = stackPid();
    if (pid === null) return;
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      return;
    }
    for (let i = 0; i < 150; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    killGroup(pid, dataDir);
  });
}

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** What the harness reads from the stack: each service's /metrics, the stack's state file, and RSS from /proc. */

export interface StackState {
  services: Record<string, { pid: number | null; httpPort: number; restarts: number }>;
}

export function readStackState(dataDir: string): StackState {
  return JSON.parse(readFileSync(join(dataDir, 'stack.json'), 'utf8')) as StackState;
}

/** Prometheus text to the sum of each metric's samples over all label sets. */
export function sumMetrics(text: string): Map<string, number> {
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[3]);
    if (!Number.isFinite(value)) continue;
    sums.set(match[1]!, (sums.get(match[1]!) ?? 0) + value);
  }
  return sums;
}

/** One service's metrics, or null when it does not answer within the timeout. */
export async function scrape(port: number, timeoutMs = 5000): Promise<Map<string, number> | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return null;
    return sumMetrics(await res.text());
  } catch {
    return null;
  }
}

/** Resident set size of a process in bytes, from /proc (works while its event loop is busy). */
export function rssOfPid(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status);
    return kb ? Number(kb[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Samples the RSS of the stack's services every `everyMs`, keeping each one's peak (pids re-read, so a restarted service is followed). */
export class PeakSampler {
  readonly #dataDir: string;
  readonly #peaks = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;

  constructor(dataDir: string) {
    this.#dataDir = dataDir;
  }

  start(everyMs = 200): void {
    const tick = () => {
      let state: StackState;
      try {
        state = readStackState(this.#dataDir);
      } catch {
        return; // rewritten at this moment
      }
      for (const [name, { pid }] of Object.entries(state.services)) {
        const rss = pid === null ? null : rssOfPid(pid);
        if (rss !== null && rss > (this.#peaks.get(name) ?? 0)) this.#peaks.set(name, rss);
      }
    };
    tick();
    this.#timer = setInterval(tick, everyMs);
  }

  /** Forgets the peaks so far (a new phase starts). */
  reset(): void {
    this.#peaks.clear();
  }

  peak(service: string): number | null {
    return this.#peaks.get(service) ?? null;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}

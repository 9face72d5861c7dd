import type { BusResult } from './bus-fuzz.ts';
import type { FloodResult } from './broker-flood.ts';
import type { HttpResult } from './http-fuzz.ts';

/** How a fuzz run is set up (its count, time and byte budgets, its bounds), its two forms, and what it reports. */

const MiB = 1024 * 1024;
export const FUZZ_USER = 'fuzzer';
/** How long a malformed packet's socket is watched for the broker to close it. */
export const MALFORMED_WAIT_MS = 2000;

export interface FuzzOptions {
  seed: string;
  /** Messages sent on the bus (big frames and clips under new ids included). */
  count: number;
  /** HTTP requests. */
  requests: number;
  /** Time for the bus and HTTP phase, which run side by side. */
  seconds: number;
  /** Bytes of big valid-looking frames and clips under new ids, spread over the bus phase. */
  byteBudgetMiB: number;
  flood: {
    /** Unauthenticated sockets each streaming a CONNECT that announces 250 MB (TCP, WebSocket). */
    tcpSockets: number;
    wsSockets: number;
    /** Sockets of the user `fuzzer` each streaming a PUBLISH that announces 200 MiB (TCP, and as many over WebSocket). */
    oversizeSockets: number;
    /** Bytes each flood socket sends at most. */
    mibPerSocket: number;
    /** Time each flood may take. */
    seconds: number;
  };
  bounds: {
    /** Largest RSS growth of any service from before the run to after it settles. */
    rssGrowthMiB: number;
    /** Largest RSS growth of any service at its peak during the run (queues that drain hold memory too). */
    rssPeakGrowthMiB: number;
    /** Largest broker RSS growth while unauthenticated sockets stream an oversize CONNECT. */
    preAuthMiB: number;
    /** Largest broker RSS growth while authenticated sockets stream an oversize PUBLISH. */
    oversizeMiB: number;
  };
  /** Wait after the run before the "after" figures are read (queues drain, idle entries expire). */
  settleSeconds: number;
  /** Keep the data dir (stack.json, the stack's state) instead of deleting it. */
  keep: boolean;
  log: (line: string) => void;
}

/** The CI form: about a minute of fuzzing plus the stack's start and stop. */
export const shortForm: Omit<FuzzOptions, 'seed' | 'log' | 'keep'> = {
  count: 3000,
  requests: 800,
  seconds: 20,
  byteBudgetMiB: 768,
  flood: { tcpSockets: 16, wsSockets: 8, oversizeSockets: 4, mibPerSocket: 8, seconds: 4 },
  bounds: { rssGrowthMiB: 384, rssPeakGrowthMiB: 512, preAuthMiB: 64, oversizeMiB: 64 },
  settleSeconds: 5,
};

export const fullForm: Omit<FuzzOptions, 'seed' | 'log' | 'keep'> = {
  count: 40_000,
  requests: 8000,
  seconds: 240,
  byteBudgetMiB: 3072,
  flood: { tcpSockets: 60, wsSockets: 20, oversizeSockets: 15, mibPerSocket: 32, seconds: 20 },
  bounds: { rssGrowthMiB: 384, rssPeakGrowthMiB: 512, preAuthMiB: 64, oversizeMiB: 64 },
  settleSeconds: 15,
};

export interface ServiceFigures {
  name: string;
  restarts: number;
  rssBefore: number | null;
  rssAfter: number | null;
  rssPeak: number | null;
  /** Where the RSS came from: the service's own /metrics, or /proc when it has no such metric. */
  rssSource: 'metrics' | 'proc';
  dropped: number;
  evictions: number;
  handlerErrors: number;
  healthyAfter: boolean;
}

export interface BrokerFloodFigures {
  floods: FloodResult[];
  rssBefore: number | null;
  rssPeak: number | null;
  growth: number | null;
}

export interface FuzzReport {
  seed: string;
  options: Omit<FuzzOptions, 'log'>;
  /** How the harness connected: as its own user, or anonymously (and why). */
  connectedAs: string;
  startedAt: string;
  seconds: number;
  services: ServiceFigures[];
  preAuth: BrokerFloodFigures;
  oversize: BrokerFloodFigures;
  malformed: { sent: number; closedByBroker: number; leftOpen: string[] };
  bus: BusResult;
  http: HttpResult;
  /** Lines of the stack's output that say why a service went down. */
  crashes: string[];
  stackExit: number | null;
  breaches: string[];
}

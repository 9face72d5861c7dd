import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Random } from './random.ts';
import { formatReport } from './report.ts';
import { fullForm, runFuzz, shortForm } from './run.ts';

/**
 * `pnpm fuzz`: launches the whole stack on free ports and fuzzes it (see run.ts), prints a table
 * per subject and exits 1 when a bound is broken (2 when the harness itself failed).
 */

const usage = `pnpm fuzz [options]
  --short               the CI form (about a minute of fuzzing) instead of the full one
  --seed TEXT           replay a run: the same seed sends the same messages and requests
  --count N             messages on the bus (full ${fullForm.count}, short ${shortForm.count})
  --requests N          HTTP requests (full ${fullForm.requests}, short ${shortForm.requests})
  --seconds N           time for the bus and HTTP phase (full ${fullForm.seconds}, short ${shortForm.seconds})
  --mib N               MiB of big frames and clips under new ids (full ${fullForm.byteBudgetMiB}, short ${shortForm.byteBudgetMiB})
  --flood-sockets N     unauthenticated TCP sockets in the broker flood (a third as many WebSocket ones; 0: no flood)
  --oversize-sockets N  sockets (TCP, and as many WebSocket) streaming a PUBLISH that announces 200 MiB
  --flood-mib N         MiB each flood socket sends at most
  --rss-bound-mib N     largest RSS growth allowed per service, after settling (default ${fullForm.bounds.rssGrowthMiB})
  --peak-bound-mib N    largest RSS growth allowed per service at its peak (default ${fullForm.bounds.rssPeakGrowthMiB})
  --preauth-bound-mib N largest broker RSS growth allowed during the pre-authentication flood (default ${fullForm.bounds.preAuthMiB})
  --keep                keep the stack's data dir
  --json FILE           also write the report as JSON`;

const { values } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    seed: { type: 'string' },
    count: { type: 'string' },
    requests: { type: 'string' },
    seconds: { type: 'string' },
    mib: { type: 'string' },
    'flood-sockets': { type: 'string' },
    'flood-mib': { type: 'string' },
    'oversize-sockets': { type: 'string' },
    'rss-bound-mib': { type: 'string' },
    'peak-bound-mib': { type: 'string' },
    'preauth-bound-mib': { type: 'string' },
    keep: { type: 'boolean', default: false },
    json: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});

if (values.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}

const problems: string[] = [];
function count(name: string, text: string | undefined, fallback: number, min = 0): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    problems.push(`--${name} must be a whole number of at least ${min}, got ${JSON.stringify(text)}`);
    return fallback;
  }
  return n;
}

const form = values.short ? shortForm : fullForm;
const seed = values.seed ?? Random.fresh().seed;
const tcpSockets = count('flood-sockets', values['flood-sockets'], form.flood.tcpSockets);
const options = {
  ...form,
  seed,
  count: count('count', values.count, form.count),
  requests: count('requests', values.requests, form.requests),
  seconds: count('seconds', values.seconds, form.seconds, 1),
  byteBudgetMiB: count('mib', values.mib, form.byteBudgetMiB),
  flood: {
    ...form.flood,
    tcpSockets,
    wsSockets: values['flood-sockets'] === undefined ? form.flood.wsSockets : tcpSockets === 0 ? 0 : Math.max(1, Math.round(tcpSockets / 3)),
    oversizeSockets: count('oversize-sockets', values['oversize-sockets'], form.flood.oversizeSockets),
    mibPerSocket: count('flood-mib', values['flood-mib'], form.flood.mibPerSocket, 1),
  },
  bounds: {
    ...form.bounds,
    rssGrowthMiB: count('rss-bound-mib', values['rss-bound-mib'], form.bounds.rssGrowthMiB, 1),
    rssPeakGrowthMiB: count('peak-bound-mib', values['peak-bound-mib'], form.bounds.rssPeakGrowthMiB, 1),
    preAuthMiB: count('preauth-bound-mib', values['preauth-bound-mib'], form.bounds.preAuthMiB, 1),
  },
  keep: values.keep,
  log: (line: string) => process.stderr.write(`fuzz: ${line}\n`),
};
if (problems.length > 0) {
  process.stderr.write(`${problems.join('\n')}\n\n${usage}\n`);
  process.exit(2);
}

try {
  const report = await runFuzz(options);
  process.stdout.write(`\n${formatReport(report)}\n`);
  if (values.json !== undefined) {
    const plain = JSON.stringify(report, (_key, value: unknown) => (value instanceof Map ? Object.fromEntries(value) : value), 2);
    writeFileSync(values.json, `${plain}\n`);
  }
  process.exit(report.breaches.length === 0 ? 0 : 1);
} catch (err) {
  process.stderr.write(`fuzz: the run failed (seed ${seed}): ${(err as Error).stack ?? String(err)}\n`);
  process.exit(2);
}

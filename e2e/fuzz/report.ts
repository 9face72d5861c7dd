import { MALFORMED_WAIT_MS, type FuzzReport } from './options.ts';

/** The run as text: one table per subject, then what broke a bound. */

const MiB = 1024 * 1024;
const mib = (n: number | null) => (n === null ? '-' : (n / MiB).toFixed(0));
const signedMib = (n: number | null) => (n === null ? '-' : `${n >= 0 ? '+' : ''}${(n / MiB).toFixed(0)}`);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function statusClasses(outcomes: Map<string, number> | undefined): { ok: number; refused: number; server: number; other: number } {
  const out = { ok: 0, refused: 0, server: 0, other: 0 };
  for (const [outcome, n] of outcomes ?? []) {
    const code = Number(outcome);
    // An oversize upload refused by closing the connection is a refusal like a 413.
    if (outcome === 'closed-oversize') out.refused += n;
    else if (!Number.isInteger(code)) out.other += n;
    else if (code >= 500) out.server += n;
    else if (code >= 400) out.refused += n;
    else out.ok += n;
  }
  return out;
}

export function formatReport(report: FuzzReport): string {
  const { options } = report;
  const parts: string[] = [];
  parts.push(
    `Fuzz run, seed ${report.seed} (replay: pnpm fuzz --seed ${report.seed}${options.count !== undefined ? ` --count ${options.count} --requests ${options.requests} --seconds ${options.seconds} --mib ${options.byteBudgetMiB}` : ''}), ` +
      `${report.seconds.toFixed(0)} s, connected as ${report.connectedAs}`,
  );

  parts.push(
    table(
      [
        'service',
        'restarts',
        'RSS before MiB',
        'after',
        'growth',
        'peak',
        'bus dropped',
        'evictions',
        'handler errors',
        'HTTP 2xx-3xx',
        '4xx or closed on oversize',
        '5xx',
        'dropped/timeout',
      ],
      report.services.map((s) => {
        const http = statusClasses(report.http.outcomes.get(s.name));
        return [
          s.name + (s.rssSource === 'proc' ? ' (RSS from /proc)' : ''),
          String(s.restarts),
          mib(s.rssBefore),
          mib(s.rssAfter),
          s.rssBefore === null || s.rssAfter === null ? '-' : signedMib(s.rssAfter - s.rssBefore),
          mib(s.rssPeak),
          String(s.dropped),
          String(s.evictions),
          String(s.handlerErrors),
          String(http.ok),
          String(http.refused),
          String(http.server),
          String(http.other),
        ];
      }),
    ) +
      `\nBounds per service: restarts 0; RSS growth at most ${options.bounds.rssGrowthMiB} MiB after ${options.settleSeconds} s of settling and ${options.bounds.rssPeakGrowthMiB} MiB at the peak; HTTP 5xx, dropped or unanswered 0.`,
  );

  const floodRows = [report.preAuth, report.oversize].flatMap((f) =>
    f.floods.map((fl) => [`${fl.name} (${fl.transport})`, String(fl.sockets), mib(fl.bytesSent), String(fl.closedByBroker), String(fl.preludeFailed)]),
  );
  parts.push(
    table(['broker flood', 'sockets', 'MiB sent', 'closed by broker', 'could not log in'], floodRows) +
      `\nBroker RSS during the pre-authentication flood: ${mib(report.preAuth.rssBefore)} -> peak ${mib(report.preAuth.rssPeak)} MiB, ` +
      `so ${signedMib(report.preAuth.growth)} MiB buffered before authentication (bound ${options.bounds.preAuthMiB} MiB).` +
      `\nBroker RSS during the oversize PUBLISH flood: ${mib(report.oversize.rssBefore)} -> peak ${mib(report.oversize.rssPeak)} MiB (${signedMib(report.oversize.growth)}; bound ${options.bounds.oversizeMiB} MiB).` +
      `\nMalformed packets: ${report.malformed.sent} sockets, ${report.malformed.closedByBroker} closed by the broker within ${MALFORMED_WAIT_MS / 1000} s` +
      (report.malformed.leftOpen.length > 0 ? `; still open: ${report.malformed.leftOpen.join(', ')}` : '.'),
  );

  const kinds = ['field', 'extra-key', 'document', 'ids', 'topic', 'media'] as const;
  parts.push(
    table(
      ['channel', ...kinds, 'total'],
      [...report.bus.byChannel].map(([channel, byKind]) => [
        channel,
        ...kinds.map((k) => String(byKind.get(k) ?? 0)),
        String([...byKind.values()].reduce((a, b) => a + b, 0)),
      ]),
    ) + `\nPayloads sent: ${report.bus.sent} (${mib(report.bus.bytes)} MiB), ${report.bus.failed} publishes failed.`,
  );

  const outcomeRows = [...report.http.outcomes].map(([service, outcomes]) => [
    service,
    [...outcomes]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([o, n]) => `${o}: ${n}`)
      .join(', '),
  ]);
  parts.push(table(['HTTP by service', 'outcomes'], outcomeRows) + `\nRequests sent: ${report.http.sent} to ${report.http.routes} routes.`);

  if (report.http.findings.length > 0) {
    const shown = report.http.findings.slice(0, 25);
    parts.push(
      `HTTP findings (${report.http.findings.length}${report.http.findings.length > shown.length ? `, first ${shown.length}` : ''}):\n` +
        shown.map((f) => `  ${f.service}: ${f.request} -> ${f.outcome} ${f.detail.replace(/\s+/g, ' ').slice(0, 200)}`).join('\n'),
    );
  }
  if (report.crashes.length > 0) parts.push(`Why services went down (the stack's output):\n${report.crashes.map((l) => `  ${l}`).join('\n')}`);
  parts.push(
    report.breaches.length === 0 ? 'Every bound held.' : `BOUNDS BROKEN (${report.breaches.length}):\n${report.breaches.map((b) => `  - ${b}`).join('\n')}`,
  );
  return parts.join('\n\n');
}

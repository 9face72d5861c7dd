import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatReport } from './fuzz/report.ts';
import { runFuzz, shortForm } from './fuzz/run.ts';

/**
 * The short form of `pnpm fuzz` (e2e/fuzz/): the whole stack as `pnpm start` runs it, its broker
 * flooded with packets that announce far more than they send, every channel a service subscribes
 * to sent hostile and valid-looking messages under new ids, every HTTP route sent hostile
 * requests. A fixed seed, so a failure here replays with `pnpm fuzz --short --seed ci`
 * (FUZZ_SEED picks another).
 */

const MiB = 1024 * 1024;

test('hostile messages, packets and requests restart no service and grow no RSS past its bound', { timeout: 300_000 }, async () => {
  const seed = process.env.FUZZ_SEED ?? 'ci';
  const report = await runFuzz({ ...shortForm, seed, keep: false, log: (line) => process.stdout.write(`# fuzz: ${line}\n`) });
  const table = formatReport(report);
  process.stdout.write(`${table.replace(/^/gm, '# ')}\n`);

  assert.ok(report.bus.sent > 0 && report.http.sent > 0, 'the run sent messages and requests');
  for (const service of report.services) {
    assert.equal(service.restarts, 0, `${service.name} restarted during the run (seed ${seed})\n${report.crashes.join('\n')}`);
    assert.ok(service.rssBefore !== null && service.rssAfter !== null, `${service.name} reports its RSS`);
    const growth = service.rssAfter - service.rssBefore;
    assert.ok(
      growth <= shortForm.bounds.rssGrowthMiB * MiB,
      `${service.name} RSS grew ${(growth / MiB).toFixed(0)} MiB, bound ${shortForm.bounds.rssGrowthMiB} MiB (seed ${seed})`,
    );
    const peak = (service.rssPeak ?? service.rssAfter) - service.rssBefore;
    assert.ok(
      peak <= shortForm.bounds.rssPeakGrowthMiB * MiB,
      `${service.name} RSS peaked ${(peak / MiB).toFixed(0)} MiB above its start, bound ${shortForm.bounds.rssPeakGrowthMiB} MiB (seed ${seed})`,
    );
  }
  assert.ok(
    report.preAuth.growth !== null && report.preAuth.growth <= shortForm.bounds.preAuthMiB * MiB,
    `broker RSS grew ${((report.preAuth.growth ?? 0) / MiB).toFixed(0)} MiB before authentication`,
  );
  assert.ok(
    report.oversize.growth !== null && report.oversize.growth <= shortForm.bounds.oversizeMiB * MiB,
    `broker RSS grew ${((report.oversize.growth ?? 0) / MiB).toFixed(0)} MiB on oversize PUBLISH packets`,
  );
  assert.deepEqual(report.breaches, [], `bounds broken (seed ${seed}); the table is above`);
});

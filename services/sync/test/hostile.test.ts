import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { SyncStats } from '../src/app.ts';
import { freePort, publisher, startAzurite, startTestBroker, SYNC_DIR, tempDir, testEnv, unvalidatedFrameJpeg, waitUntil } from './helpers.ts';

function spawnSync(t: TestContext, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [path.join(SYNC_DIR, 'src/main.ts')], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

async function get(port: number, route: string): Promise<string | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${route}`, { signal: AbortSignal.timeout(2000) });
    return await response.text();
  } catch {
    return null;
  }
}

/** Sum of the samples of a metric whose labels include `labels`, from Prometheus text. */
function metricSum(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

test(
  'a frame captured after the end of the Date range (8.64e15 < capturedAt < 2^53) is counted and the service keeps running',
  { timeout: 60_000 },
  async (t) => {
    const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
    const port = await freePort();
    const child = spawnSync(
      t,
      testEnv(broker.url, tempDir(t), azurite.connectionString, {
        SIGHTLINE_SYNC_HTTP_PORT: String(port),
        SIGHTLINE_SYNC_SAMPLES_PER_HOUR: '2',
        SIGHTLINE_LOG_LEVEL: 'error',
      }),
    );
    let exit: number | null | undefined;
    child.once('exit', (code) => (exit = code));
    await waitUntil('sync ready', async () => (await get(port, '/readyz'))?.includes('"ready"') === true, 15_000);
    const pub = await publisher(t, broker.url);

    // Due for a sample (the first of its hour), so it reaches the selection.
    await pub.raw('cam-hostile', unvalidatedFrameJpeg({ camera: 'cam-hostile', seq: 1, capturedAt: 8.7e15, width: 1, height: 1 }));
    // Counted by the selection (invalid date), or refused earlier by the frame schema.
    const counted = async () => {
      const text = await get(port, '/metrics');
      if (text === null) return false;
      return (
        metricSum(text, 'sightline_sync_images_not_selected_total', { cause: 'error' }) +
          metricSum(text, 'sightline_bus_messages_dropped_total', { channel: 'frame' }) ===
        1
      );
    };
    await waitUntil('the hostile frame counted', async () => exit !== undefined || (await counted()), 10_000);
    assert.equal(exit, undefined, 'sync exited on the hostile frame');

    await pub.frame('cam-good', 1, Date.now());
    await waitUntil(
      'a good frame after it is sampled',
      async () => {
        const text = await get(port, '/stats');
        return text !== null && (JSON.parse(text) as SyncStats).selected.sample === 1;
      },
      10_000,
    );
    assert.equal(exit, undefined);
    assert.equal(child.exitCode, null);
  },
);

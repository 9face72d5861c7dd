import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestBroker, waitUntil } from '@sightline/kit/testing';
import { channels, type Alert } from '@sightline/schemas';
import { tempDir, testClient, weightMismatch } from './helpers.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function spawnService(t: TestContext, env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal === null) process.stderr.write(`alert service exited ${code}: ${stderr}\n`);
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

async function ready(base: string): Promise<boolean> {
  try {
    return (await fetch(`${base}/readyz`)).status === 200;
  } catch {
    return false;
  }
}

async function allAlerts(base: string): Promise<Alert[]> {
  const out: Alert[] = [];
  let cursor: string | null = null;
  do {
    const response = await fetch(`${base}/alerts?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
    const page = (await response.json()) as { alerts: Alert[]; nextCursor: string | null };
    out.push(...page.alerts);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return out;
}

test('SIGKILL during a burst: every announced alert is there after restart, acknowledgements kept, queued events delivered', { timeout: 60_000 }, async (t) => {
  const broker = await startTestBroker(t);
  const dir = tempDir(t);
  const rulesFile = path.join(dir, 'rules.yaml');
  writeFileSync(rulesFile, 'rules:\n  - id: weights\n    type: weight-mismatch\n');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    SIGHTLINE_MQTT_URL: broker.url,
    SIGHTLINE_DATA_DIR: dir,
    SIGHTLINE_LOG_LEVEL: 'warn',
    SIGHTLINE_ALERT_HTTP_PORT: String(port),
    SIGHTLINE_ALERT_RULES_FILE: rulesFile,
    SIGHTLINE_ALERT_MQTT_CLIENT_ID: 'alert-sigkill-test',
    SIGHTLINE_ALERT_UPDATE_INTERVAL_SECONDS: '0',
    // 154 lanes: more than the default cap on lanes only seen.
    SIGHTLINE_ALERT_MAX_LANES: '256',
  };
  const { bus, events } = await testClient(t, broker.url);

  let child = spawnService(t, env);
  await waitUntil('the service is ready', () => ready(base), 15_000);

  for (let i = 0; i < 4; i++) await bus.publish(channels.laneEvent, { lane: `early-${i}` }, weightMismatch(`early-${i}`));
  await waitUntil('the early alerts are announced', () => events.length === 4, 5000);
  const acknowledged = events.slice(0, 2).map((e) => e.alert.id);
  for (const id of acknowledged)
    assert.equal(
      (await fetch(`${base}/alerts/${id}/acknowledge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status,
      200,
    );

  const lanes = 150;
  const burst: Array<Promise<number>> = [];
  let killedAfter = -1;
  for (let i = 0; i < lanes * 2; i++) {
    burst.push(bus.publish(channels.laneEvent, { lane: `burst-${i % lanes}` }, weightMismatch(`burst-${i % lanes}`)));
    if (killedAfter < 0 && events.filter((e) => e.alert.lane?.startsWith('burst-')).length >= 10) {
      child.kill('SIGKILL');
      killedAfter = i;
    }
    if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
  }
  if (killedAfter < 0) {
    await waitUntil('some burst alerts are announced', () => events.filter((e) => e.alert.lane?.startsWith('burst-')).length >= 10, 10_000);
    child.kill('SIGKILL');
  }
  await new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
  assert.equal(child.signalCode, 'SIGKILL');
  await Promise.all(burst);
  const announced = new Map(events.map((e) => [e.alert.id, e.alert]));
  assert.ok(announced.size >= 14, `announced ${announced.size}`);

  child = spawnService(t, env);
  await waitUntil('the restarted service is ready', () => ready(base), 15_000);
  let stored: Alert[] = [];
  await waitUntil(
    'every burst event is counted in its lane alert (queued QoS 1 events delivered)',
    async () => {
      stored = await allAlerts(base);
      const counted = stored.filter((a) => a.lane?.startsWith('burst-')).reduce((n, a) => n + a.count, 0);
      return stored.length >= 4 + lanes && counted >= lanes * 2;
    },
    20_000,
  );
  const byId = new Map(stored.map((a) => [a.id, a]));
  for (const [id, alert] of announced) {
    const kept = byId.get(id);
    assert.ok(kept, `announced alert ${id} (${alert.lane}) is missing after the restart`);
    assert.notEqual(kept.state, 'resolved');
  }
  for (const id of acknowledged) assert.equal(byId.get(id)?.state, 'acknowledged');
  const burstLanes = new Set(stored.filter((a) => a.lane?.startsWith('burst-')).map((a) => a.lane));
  assert.equal(burstLanes.size, lanes);
  assert.equal(stored.length, 4 + lanes, 'one alert per lane: repeats aggregated, none duplicated by redelivery');
  const total = stored.filter((a) => a.lane?.startsWith('burst-')).reduce((n, a) => n + a.count, 0);
  assert.ok(total >= lanes * 2, `burst counts add up to at least every published event (QoS 1 is at least once): ${total}`);

  child.kill('SIGTERM');
  await new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
  assert.equal(child.exitCode, 0);
});

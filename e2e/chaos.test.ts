/**
 * Chaos: `pnpm start` on one data dir, its supervisor killed with SIGKILL at a random moment (while
 * starting, while running under the demo's load with one of its services killed too, while
 * stopping), round after round. After each kill, within 10 s, no process of the stack may remain
 * (services, ffmpeg, pacat, Azurite, the reaper) and every port must be free; the next round starts
 * on the same data dir and nothing seen before may be lost: the scans in the basket, the alerts,
 * every image sync had accepted into its outbox (in Blob Storage by the end), the broker's retained
 * messages, and an MQTT client's persistent session. Rounds: SIGHTLINE_CHAOS_ROUNDS (21); the seed is printed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BlobServiceClient } from '@azure/storage-blob';
import { connect, type MqttClient } from 'mqtt';
import { channels, createTopics, type AlertEvent, type Scan } from '@sightline/schemas';
import { azuriteConnectionString } from '../infra/azurite/account.ts';
import { startedHere } from './glass/cleanup.ts';
import { makeItemVideo } from './item-video.ts';
import { freeStackPorts, launchStack, type LaunchedStack, type StackPorts } from './launch.ts';

const ROUNDS = Number(process.env.SIGHTLINE_CHAOS_ROUNDS ?? 21);
const SEED = Number(process.env.SIGHTLINE_CHAOS_SEED ?? Date.now() % 100_000);
const MOMENTS = ['starting', 'running', 'stopping'] as const;
type Moment = (typeof MOMENTS)[number];
const GONE_WITHIN_MS = 10_000;
const LANE = 'lane-1';

/** A small seeded generator, so a failing round can be played again with its seed. */
function generator(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Every process whose environment names this data dir: the stack, its services, what they started. */
function stackProcesses(dataDir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid || !startedHere(pid, dataDir)) continue;
    let command = '';
    try {
      command = readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ').trim();
    } catch {
      continue;
    }
    found.push(`${pid} ${command.slice(0, 100)}`);
  }
  return found;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function busyPorts(ports: StackPorts): Promise<number[]> {
  const all = [ports.mqtt, ports.ws, ports.azurite, ...Object.values(ports.http).map(Number)];
  const busy: number[] = [];
  for (const port of all) if (!(await portFree(port))) busy.push(port);
  return busy;
}

/**
 * The topics the broker holds a retained message for, as a fresh subscriber to everything gets
 * them: read until no retained message came for 500 ms (at most 5 s).
 */
async function retainedTopics(stack: LaunchedStack): Promise<Set<string>> {
  const client = connect(`mqtt://127.0.0.1:${stack.mqttPort}`, { protocolVersion: 4, clean: true, reconnectPeriod: 0, ...stack.login('operator') });
  try {
    const topics = new Set<string>();
    let lastAt = Date.now();
    client.on('message', (topic, _payload, packet) => {
      if (!packet.retain) return;
      topics.add(topic);
      lastAt = Date.now();
    });
    await client.subscribeAsync('sightline/#', { qos: 0 });
    const until = Date.now() + 5000;
    while (Date.now() - lastAt < 500 && Date.now() < until) await sleep(100);
    return topics;
  } finally {
    await client.endAsync(true);
  }
}

function stackState(dataDir: string): { services: Record<string, { pid: number | null; httpPort: number }> } {
  return JSON.parse(readFileSync(join(dataDir, 'stack.json'), 'utf8')) as { services: Record<string, { pid: number | null; httpPort: number }> };
}

test(`chaos: the stack killed at random moments, ${ROUNDS} rounds, leaves no process or port behind and loses nothing`, { timeout: 1_500_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sightline-e2e-chaos-'));
  const ports = await freeStackPorts();
  let current: LaunchedStack | undefined;
  t.after(() => {
    current?.kill();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const random = generator(SEED);
  t.diagnostic(`seed ${SEED} (SIGHTLINE_CHAOS_SEED to play it again)`);
  // The demo: a teddy bear (an unknown-item alert with its snapshot) then an orange (scanned), looping.
  const video = await makeItemVideo(dataDir, { first: { codepoint: '1f9f8', seconds: 2 } });
  const env = { SIGHTLINE_CAPTURE_SOURCE: video, SIGHTLINE_CAPTURE_FPS: '5' };

  // What was seen on the bus, to find again after every restart.
  const scans = new Set<string>();
  const alerts = new Set<string>();
  const sessions: boolean[] = [];
  /** Topics the broker held a retained message for before a kill (availability, camera status, baskets, model state...). */
  const retained = new Set<string>();
  /** Images sync said it had kept (accepted into its outbox, fsynced), by blob name. */
  const kept = new Set<string>();
  let observer: MqttClient | undefined;
  t.after(() => observer?.end(true));
  const topics = createTopics('sightline');

  const observe = (stack: LaunchedStack) => {
    if (observer !== undefined) return;
    // A persistent session (clean: false): the broker keeps it, and queues for it, across its own death.
    observer = connect(`mqtt://127.0.0.1:${ports.mqtt}`, {
      protocolVersion: 4,
      clean: false,
      clientId: 'chaos-observer',
      reconnectPeriod: 300,
      ...stack.login('operator'),
    });
    observer.on('connect', (connack) => {
      sessions.push(connack.sessionPresent);
      // A refused subscription shows as scans and alerts never seen: the final check fails on it.
      if (!connack.sessionPresent) observer!.subscribeAsync([topics.filter(channels.scan), topics.filter(channels.alerts)], { qos: 1 }).catch(() => {});
    });
    observer.on('error', () => {});
    observer.on('message', (topic, payload) => {
      if (topic.endsWith('/scan')) scans.add((JSON.parse(payload.toString()) as Scan).id);
      else {
        const event = JSON.parse(payload.toString()) as AlertEvent;
        alerts.add(event.alert.id);
      }
    });
  };

  /** Nothing seen before is lost: every scan in the basket, every alert listed, every retained topic, every snapshot stored. */
  const nothingLost = async (stack: LaunchedStack) => {
    const held = await retainedTopics(stack);
    assert.deepEqual(
      [...retained].filter((topic) => !held.has(topic)),
      [],
      `retained messages the broker held before, gone after the restart (${retained.size} held)`,
    );
    const http = (key: string) => `http://127.0.0.1:${stack.httpPorts[key]}`;
    const basket = (await (await fetch(`${http('SIGHTLINE_CHECKOUT_HTTP_PORT')}/lanes/${LANE}/basket`)).json()) as { items: Array<{ id: string }> };
    const inBasket = new Set(basket.items.map((item) => item.id));
    const missingScans = [...scans].filter((id) => !inBasket.has(id));
    assert.deepEqual(missingScans, [], `scans seen on the bus, not in the basket after the restart (${scans.size} seen)`);
    const listed = (await (await fetch(`${http('SIGHTLINE_ALERT_HTTP_PORT')}/alerts?limit=500`)).json()) as { alerts: Array<{ id: string }> };
    const ids = new Set(listed.alerts.map((alert) => alert.id));
    assert.deepEqual(
      [...alerts].filter((id) => !ids.has(id)),
      [],
      'alerts seen on the bus, not listed after the restart',
    );
  };

  let longestGoneMs = 0;
  const moments: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const moment: Moment = MOMENTS[round % MOMENTS.length]!;
    const stack = await launchStack(dataDir, env, 150_000, { ports, waitUp: moment !== 'starting' });
    current = stack;
    let detail = '';
    if (moment === 'starting') {
      const delay = Math.round(500 + random() * 9000);
      await sleep(delay);
      detail = `${delay} ms after the start${stack.output().includes('Sightline is up.') ? ' (it was up)' : ''}`;
    } else {
      observe(stack);
      await nothingLost(stack);
      // Load: the demo plays; let it scan and alert a little, then kill one service as well.
      await sleep(1000 + random() * 4000);
      // Not Azurite, the development stand-in for Blob Storage: it keeps its blob list in memory and
      // saves it every 5 s, so SIGKILLed alone it forgets the uploads of its last seconds (found by
      // this test). Stopped with the stack it saves; the real Blob Storage is durable.
      const names = Object.keys(stackState(dataDir).services).filter((name) => name !== 'azurite');
      const victim = names[Math.floor(random() * names.length)]!;
      const before = stackState(dataDir).services[victim]!;
      process.kill(before.pid!, 'SIGKILL');
      const back = await until(`${victim} restarted by the stack`, 60_000, async () => {
        const now = stackState(dataDir).services[victim]!;
        if (now.pid === null || now.pid === before.pid) return false;
        return (await fetch(`http://127.0.0.1:${now.httpPort}/readyz`)).ok ? now.pid : false;
      });
      assert.ok(back > 0);
      await nothingLost(stack);
      detail = `${victim} SIGKILLed and back first`;
      const listed = (await (await fetch(`http://127.0.0.1:${stack.httpPorts.SIGHTLINE_SYNC_HTTP_PORT}/kept?limit=500`)).json()) as {
        kept: Array<{ name: string }>;
      };
      for (const { name } of listed.kept) kept.add(name);
      for (const topic of await retainedTopics(stack)) retained.add(topic);
      if (moment === 'stopping') {
        // What a closing terminal or a supervisor's stop timeout does: SIGTERM to the stack's group,
        // then SIGKILL; the first time straight after (the window that once left orphans), then later.
        process.kill(-stack.pid, 'SIGTERM');
        const delay = round === 2 ? 0 : Math.round(random() * 3000);
        if (delay > 0) await sleep(delay);
        detail = `${delay} ms into a stop (${victim} SIGKILLed and back first)`;
      }
    }
    const killedAt = Date.now();
    try {
      process.kill(-stack.pid, 'SIGKILL');
    } catch {
      // already gone (a stop that finished)
    }
    const left = await until('no process of the stack and every port free', GONE_WITHIN_MS, async () => {
      const processes = stackProcesses(dataDir);
      if (processes.length > 0) return false;
      return (await busyPorts(ports)).length === 0 ? true : false;
    }).catch(async (err: Error) => {
      const busy = (await busyPorts(ports)).join(', ');
      throw new Error(
        `round ${round} (${moment}, ${detail}): ${err.message}\n${stackProcesses(dataDir).join('\n')}\nbusy ports: ${busy}\n${stack.output().slice(-3000)}`,
      );
    });
    assert.ok(left);
    const gone = Date.now() - killedAt;
    longestGoneMs = Math.max(longestGoneMs, gone);
    moments.push(`${round}: ${moment}, ${detail}; all gone in ${gone} ms`);
  }

  // The last restart: everything seen is there, and every image sync had kept reached Blob Storage.
  const last = await launchStack(dataDir, env, 150_000, { ports });
  current = last;
  await nothingLost(last);
  const container = BlobServiceClient.fromConnectionString(azuriteConnectionString('127.0.0.1', ports.azurite)).getContainerClient('sightline-frames');
  for (const name of kept) await until(`kept image ${name} in Blob Storage`, 60_000, () => container.getBlobClient(name).exists());
  assert.ok(sessions.length >= 2, 'the observer reconnected');
  assert.deepEqual(
    sessions.slice(1).filter((present) => !present),
    [],
    'the persistent session survived every kill of the broker',
  );
  // A short run (SIGHTLINE_CHAOS_ROUNDS) may see no alert: the bear's is raised once, then updated rarely.
  assert.ok(
    scans.size > 0 && kept.size > 0 && retained.size > 0 && (alerts.size > 0 || ROUNDS < 9),
    `the demo scanned (${scans.size}), alerted (${alerts.size}), sync kept images (${kept.size}) and the broker held retained messages (${retained.size})`,
  );
  t.diagnostic(moments.join('\n'));
  t.diagnostic(
    `longest time for every process to go: ${longestGoneMs} ms; scans ${scans.size}, alerts ${alerts.size}, kept images ${kept.size}, retained topics ${retained.size}, reconnects ${sessions.length - 1}`,
  );
});

import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { Detections } from '@sightline/schemas';
import type { InferenceApp } from '../src/app.ts';
import { startBroker, startApp, tangerineJpeg, testConfig, waitUntil, watch, type Watcher } from './service-helpers.ts';

/**
 * Several real inference services on one real broker sharing four cameras: each frame served by
 * exactly one replica while replicas join, leave and die.
 */

const CAMERAS = ['aisle-1', 'aisle-2', 'lane-1', 'lane-2'];
const HEARTBEAT_MS = 500;

interface Served {
  replica: string;
  camera: string;
  seq: number;
  at: number;
}

async function startReplica(t: TestContext, url: string, id: string, served: Served[]): Promise<InferenceApp> {
  return startApp(t, testConfig(url, { threads: 1, replica: { id, heartbeatMs: HEARTBEAT_MS } }), {
    onPublished: (d: Detections) => served.push({ replica: id, camera: d.camera, seq: d.seq, at: performance.now() }),
  });
}

/** Every camera at 5 fps, as capture would send them, until stopped. */
function pumpFrames(watcher: Watcher, jpeg: Buffer): { stop(): void; seq(): number } {
  let seq = 0;
  const timer = setInterval(() => {
    seq += 1;
    // A frame lost while a client closes is what a camera does too.
    for (const camera of CAMERAS) watcher.sendFrame(camera, seq, jpeg).catch(() => {});
  }, 200);
  return { stop: () => clearInterval(timer), seq: () => seq };
}

function servedTwice(served: Served[]): string[] {
  const seen = new Map<string, string>();
  const twice: string[] = [];
  for (const s of served) {
    const key = `${s.camera}#${s.seq}`;
    if (seen.has(key)) twice.push(`${key} by ${seen.get(key)} and ${s.replica}`);
    seen.set(key, s.replica);
  }
  return twice;
}

/** The longest time between two detections of one camera within [from, to], in ms. */
function longestGap(served: Served[], from: number, to: number): number {
  let longest = 0;
  for (const camera of CAMERAS) {
    const times = [from, ...served.filter((s) => s.camera === camera && s.at >= from && s.at <= to).map((s) => s.at), to];
    for (let i = 1; i < times.length; i++) longest = Math.max(longest, times[i]! - times[i - 1]!);
  }
  return longest;
}

const shares = (...apps: InferenceApp[]) => apps.map((app) => app.replicas!.serving());
const servesAll = (app: InferenceApp) => app.replicas!.serving().length === CAMERAS.length;

test('two replicas started together split four cameras two and two, and no frame is served twice', async (t) => {
  const broker = await startBroker(t);
  const watcher = await watch(t, broker.url);
  const { jpeg } = await tangerineJpeg();
  const served: Served[] = [];
  const [a, b] = await Promise.all([startReplica(t, broker.url, 'a', served), startReplica(t, broker.url, 'b', served)]);
  const pump = pumpFrames(watcher, jpeg);
  t.after(() => pump.stop());
  await waitUntil('both replicas serve two cameras', () => a.replicas!.serving().length === 2 && b.replicas!.serving().length === 2, 10_000);
  const [ofA, ofB] = shares(a, b);
  assert.deepEqual([...ofA!, ...ofB!].sort(), CAMERAS, 'between them every camera, none twice');
  assert.deepEqual(a.replicas!.view(), ['a', 'b']);

  // A frame sent before the split may still be in the old owner's pipeline; every frame sent after it is the owner's.
  const firstAfterSplit = pump.seq() + 1;
  await waitUntil(
    'every camera has 5 detections since the split',
    () => CAMERAS.every((c) => served.filter((s) => s.camera === c && s.seq >= firstAfterSplit).length >= 5),
    20_000,
  );
  pump.stop();
  await Promise.all([a.scheduler.idle(), b.scheduler.idle()]);
  for (const s of served.filter((x) => x.seq >= firstAfterSplit)) {
    const owner = ofA!.includes(s.camera) ? 'a' : 'b';
    assert.equal(s.replica, owner, `${s.camera}#${s.seq} served by its owner`);
  }
  assert.deepEqual(servedTwice(served), []);
  assert.equal(broker.retained.get('sightline/services/inference/replicas/a') !== undefined, true, 'each replica states its share, retained');
  const stated = JSON.parse(broker.retained.get('sightline/services/inference/replicas/b')!) as { serving: string[]; state: string };
  assert.deepEqual({ state: stated.state, serving: stated.serving }, { state: 'online', serving: ofB });
});

test('replicas joining, leaving and dying hand cameras over with no frame served twice and no camera waiting long', async (t) => {
  const broker = await startBroker(t);
  const watcher = await watch(t, broker.url);
  const { jpeg } = await tangerineJpeg();
  const served: Served[] = [];
  const a = await startReplica(t, broker.url, 'a', served);
  const pump = pumpFrames(watcher, jpeg);
  t.after(() => pump.stop());
  await waitUntil('a alone serves every camera', () => servesAll(a), 10_000);

  // Joining.
  let from = performance.now();
  const b = await startReplica(t, broker.url, 'b', served);
  await waitUntil('b takes its share', () => b.replicas!.serving().length === 2 && a.replicas!.serving().length === 2, 10_000);
  await waitUntil('every camera served since', () => CAMERAS.every((c) => served.some((s) => s.camera === c && s.at > performance.now() - 500)), 10_000);
  const joinGap = longestGap(served, from, performance.now());

  // Leaving with a goodbye.
  from = performance.now();
  await b.stop();
  await waitUntil('a takes b cameras back', () => servesAll(a), 5_000);
  const leaveTakeover = performance.now() - from;

  // Dying without one: its connection drops, the broker sends its last will.
  const c = await startReplica(t, broker.url, 'c', served);
  await waitUntil('c takes its share', () => c.replicas!.serving().length === 2 && a.replicas!.serving().length === 2, 10_000);
  c.runtime.client.options.reconnectPeriod = 0;
  from = performance.now();
  (c.runtime.client as unknown as { stream: { destroy(): void } }).stream.destroy();
  await waitUntil('a takes the dead replica cameras', () => servesAll(a), 5_000);
  const crashTakeover = performance.now() - from;
  await waitUntil(
    'the service is said online again after the will',
    () => broker.retained.get('sightline/services/inference/availability') === 'online',
    5_000,
  );
  pump.stop();
  await a.scheduler.idle();

  assert.deepEqual(servedTwice(served), [], 'no frame served by two replicas');
  assert.ok(joinGap < 3_000, `while b joined, a camera went ${Math.round(joinGap)} ms without detections`);
  assert.ok(leaveTakeover < 1_000, `b left: its cameras back with a after ${Math.round(leaveTakeover)} ms`);
  // The will is answered within half a heartbeat (at least 250 ms); 3 silent heartbeats would be 1500 ms.
  assert.ok(crashTakeover < 1_200, `c died: its cameras with a after ${Math.round(crashTakeover)} ms`);
  t.diagnostic(`join gap ${Math.round(joinGap)} ms, leave takeover ${Math.round(leaveTakeover)} ms, crash takeover ${Math.round(crashTakeover)} ms`);

  await a.stop();
  assert.equal(broker.retained.get('sightline/services/inference/availability'), 'offline', 'the last replica gone, the service is offline');
});

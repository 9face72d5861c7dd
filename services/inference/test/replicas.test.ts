import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { InferenceReplica } from '@sightline/schemas';
import { assignCameras, ReplicaGroup } from '../src/replicas.ts';

const cameras = (n: number) => Array.from({ length: n }, (_, i) => `cam-${i + 1}`);

function loads(owners: Map<string, string>): Record<string, number> {
  const count: Record<string, number> = {};
  for (const replica of owners.values()) count[replica] = (count[replica] ?? 0) + 1;
  return count;
}

test('cameras are split evenly: every camera has one owner and no replica more than its share', () => {
  for (const [n, r] of [
    [4, 2],
    [5, 2],
    [8, 3],
    [1, 4],
    [64, 5],
  ] as const) {
    const replicas = Array.from({ length: r }, (_, i) => `edge-${i}`);
    const owners = assignCameras(cameras(n), replicas);
    assert.equal(owners.size, n, `${n} cameras on ${r} replicas: all assigned`);
    for (const count of Object.values(loads(owners))) assert.ok(count <= Math.ceil(n / r), `${n}/${r}: ${JSON.stringify(loads(owners))}`);
    if (n >= r) assert.equal(Object.keys(loads(owners)).length, r, `${n}/${r}: every replica has cameras`);
  }
  assert.equal(assignCameras(cameras(3), []).size, 0);
});

test('the split is the same on every replica, whatever order each lists the cameras and replicas in', () => {
  const a = assignCameras(['lane-2', 'aisle', 'lane-1', 'door'], ['b', 'a', 'c']);
  const b = assignCameras(['door', 'lane-1', 'aisle', 'lane-2'], ['c', 'b', 'a']);
  assert.deepEqual([...a].sort(), [...b].sort());
});

test('a replica joining takes cameras only for itself; leaving gives back only its own', () => {
  const before = assignCameras(cameras(12), ['a', 'b']);
  const after = assignCameras(cameras(12), ['a', 'b', 'c']);
  const moved = [...after].filter(([camera, owner]) => before.get(camera) !== owner);
  assert.equal(moved.length, 4, 'c takes its share (4 of 12) and nothing else moves');
  assert.ok(moved.every(([, owner]) => owner === 'c'));
  const back = assignCameras(cameras(12), ['a', 'b']);
  assert.deepEqual([...back].sort(), [...before].sort(), 'when c leaves the old split returns');
});

/**
 * Replicas exchanging their states through a simulated bus with random delays, on mocked time.
 * After every step no camera may be served by two replicas at once.
 */
function simulate(t: TestContext, cameraIds: string[], seed = 7) {
  t.mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: 1_795_000_000_000 });
  let state = seed;
  const random = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const groups = new Map<string, { group: ReplicaGroup; alive: boolean }>();
  const unservedSince = new Map<string, number | null>(cameraIds.map((c) => [c, null]));
  const longestUnserved = new Map<string, number>(cameraIds.map((c) => [c, 0]));
  let elapsed = 0;

  function deliver(from: string, message: InferenceReplica): void {
    for (const [name, member] of groups) {
      if (name === from) continue;
      setTimeout(() => member.alive && member.group.onState(message, false), Math.floor(random() * 30));
    }
  }
  const api = {
    join(name: string) {
      const member = { group: null as unknown as ReplicaGroup, alive: true };
      member.group = new ReplicaGroup({
        self: name,
        heartbeatMs: 200,
        cameras: () => cameraIds,
        publish: async (message) => {
          if (member.alive) deliver(name, message);
        },
      });
      groups.set(name, member);
      member.group.start();
    },
    async leave(name: string) {
      const member = groups.get(name)!;
      await member.group.leave();
      member.alive = false;
    },
    /** Its connection drops (it hears nothing, nothing it says arrives), then comes back. */
    cutOff(name: string) {
      const member = groups.get(name)!;
      member.alive = false;
      member.group.rejoin(false);
    },
    reconnect(name: string) {
      const member = groups.get(name)!;
      member.alive = true;
      member.group.rejoin(true);
    },
    crash(name: string, willSeen: boolean) {
      const member = groups.get(name)!;
      member.alive = false;
      member.group.release();
      if (willSeen) for (const [other, m] of groups) if (other !== name && m.alive) setTimeout(() => m.group.someoneLeft(), 5);
    },
    /** Advances time in 5 ms steps, checking that no camera is served twice. */
    run(ms: number) {
      for (let step = 0; step < ms; step += 5) {
        t.mock.timers.tick(5);
        elapsed += 5;
        const owners = new Map<string, string>();
        for (const [name, { group }] of groups) {
          for (const camera of group.serving()) {
            assert.equal(owners.get(camera), undefined, `${camera} served by ${owners.get(camera)} and ${name} at ${elapsed} ms`);
            owners.set(camera, name);
          }
        }
        for (const camera of cameraIds) {
          const since = unservedSince.get(camera)!;
          if (owners.has(camera)) {
            if (since !== null) longestUnserved.set(camera, Math.max(longestUnserved.get(camera)!, elapsed - since));
            unservedSince.set(camera, null);
          } else if (since === null) unservedSince.set(camera, elapsed);
        }
      }
    },
    serving(name: string) {
      return groups.get(name)!.group.serving();
    },
    /** The longest time any camera went unserved since the last reset, in ms. */
    longestGap() {
      return Math.max(...longestUnserved.values());
    },
    resetGaps() {
      for (const camera of cameraIds) longestUnserved.set(camera, 0);
    },
  };
  return api;
}

test('replicas joining one by one: the first serves all once its listening time is over, then each takes its share, no camera served twice', (t) => {
  const all = cameras(6);
  const sim = simulate(t, all);
  sim.join('a');
  sim.run(300);
  assert.deepEqual(sim.serving('a'), [], 'a joining replica listens first (2 heartbeats) and serves nothing');
  sim.run(200);
  assert.deepEqual(sim.serving('a'), [...all].sort());
  sim.resetGaps();
  sim.join('b');
  sim.run(600);
  sim.join('c');
  sim.run(600);
  assert.deepEqual(sim.serving('a').length + sim.serving('b').length + sim.serving('c').length, 6);
  for (const name of ['a', 'b', 'c']) assert.equal(sim.serving(name).length, 2, `${name}: ${sim.serving(name).join(',')}`);
  assert.ok(sim.longestGap() <= 100, `a moved camera waited ${sim.longestGap()} ms (a message round trip is at most 60 ms here)`);
});

test('a replica leaving hands its cameras over within a round trip', async (t) => {
  const all = cameras(4);
  const sim = simulate(t, all, 11);
  sim.join('a');
  sim.join('b');
  sim.run(1000);
  assert.equal(sim.serving('a').length, 2);
  sim.resetGaps();
  await sim.leave('b');
  sim.run(300);
  assert.deepEqual(sim.serving('a'), [...all].sort());
  assert.ok(sim.longestGap() <= 100, `waited ${sim.longestGap()} ms`);
});

test('a replica that dies unannounced is replaced after 3 heartbeats, or at once when its last will is seen', (t) => {
  const all = cameras(6);
  const sim = simulate(t, all, 3);
  for (const name of ['a', 'b', 'c']) sim.join(name);
  sim.run(1000);
  assert.deepEqual(
    ['a', 'b', 'c'].map((name) => sim.serving(name).length),
    [2, 2, 2],
  );
  sim.resetGaps();
  sim.crash('c', false);
  sim.run(1000);
  assert.deepEqual([sim.serving('a').length, sim.serving('b').length], [3, 3], 'the survivors serve every camera');
  const silent = sim.longestGap();
  assert.ok(silent > 400 && silent <= 3 * 200 + 150, `no will: taken over after ${silent} ms (3 heartbeats of 200 ms)`);

  sim.resetGaps();
  sim.crash('b', true);
  sim.run(1000);
  assert.deepEqual(sim.serving('a'), [...all].sort());
  const withWill = sim.longestGap();
  assert.ok(withWill <= 300, `with the will: taken over after ${withWill} ms (half a heartbeat, at least 250 ms, to answer)`);
});

test('retained states prove nothing: a dead replica remembered by the broker is never counted', (t) => {
  const sim = simulate(t, cameras(2));
  sim.join('a');
  sim.run(500);
  const group = new ReplicaGroup({ self: 'z', heartbeatMs: 200, cameras: () => cameras(2), publish: async () => {} });
  group.start();
  const ghost: InferenceReplica = { replica: 'ghost', state: 'online', replicas: ['ghost'], cameras: cameras(2), serving: cameras(2), at: 0 };
  group.onState(ghost, true);
  t.mock.timers.tick(500);
  assert.deepEqual(group.view(), ['z']);
  assert.deepEqual(group.serving(), cameras(2));
  group.release();
});

test('a replica cut off from the broker serves nothing, and on reconnecting listens before taking its share back', (t) => {
  const all = cameras(4);
  const sim = simulate(t, all, 5);
  sim.join('a');
  sim.join('b');
  sim.run(1000);
  sim.cutOff('b');
  assert.deepEqual(sim.serving('b'), [], 'cut off: nothing');
  sim.run(1000);
  assert.deepEqual(sim.serving('a'), [...all].sort(), 'a took everything once b went silent');
  sim.reconnect('b');
  sim.run(200);
  assert.deepEqual(sim.serving('b'), [], 'listening first: b does not act on the view it had when cut off');
  sim.run(800);
  assert.deepEqual([sim.serving('a').length, sim.serving('b').length], [2, 2]);
});

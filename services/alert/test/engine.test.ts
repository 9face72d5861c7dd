import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alertEventSchema, channels } from '@sightline/schemas';
import { detections, makeEngine, notRecognised, personAt, rules, scan, weightMismatch } from './helpers.ts';

const zone = [
  [0.5, 0.5],
  [1, 0.5],
  [1, 1],
  [0.5, 1],
];

test('person in zone: fires after the dwell time, aggregates with throttled updates, resolves when clear', (t) => {
  const h = makeEngine(t, rules({ id: 'door', type: 'person-in-zone', camera: 'cam1', zone, dwellSeconds: 2, clearSeconds: 3, severity: 'critical' }), {
    updateIntervalMs: 5000,
  });
  h.engine.onDetections(detections('cam1', [personAt(0.2, 0.9)]));
  h.engine.onDetections(detections('cam2', [personAt(0.75, 0.9)]));
  h.engine.onDetections(detections('cam1', [{ ...personAt(0.75, 0.9), label: 'dog' }]));
  h.engine.onDetections(detections('cam1', [personAt(0.75, 0.9, 0.2)]));
  assert.equal(h.events.length, 0, 'outside, other camera, other label, low score: nothing');

  h.engine.onDetections(detections('cam1', [personAt(0.75, 0.9)]));
  h.clock.advance(1000);
  h.engine.onDetections(detections('cam1', [personAt(0.75, 0.9)]));
  assert.equal(h.events.length, 0, 'not yet dwelt long enough');
  h.clock.advance(1000);
  const shown = detections('cam1', [personAt(0.75, 0.9)]);
  h.engine.onDetections(shown);
  assert.equal(h.events.length, 1);
  const raised = h.events[0]!;
  assert.equal(raised.type, 'new');
  alertEventSchema.parse(raised);
  assert.equal(raised.alert.type, 'person-in-zone');
  assert.equal(raised.alert.severity, 'critical');
  assert.equal(raised.alert.camera, 'cam1');
  assert.deepEqual(raised.alert.snapshot, { camera: 'cam1', seq: shown.seq, capturedAt: shown.capturedAt });
  assert.equal(h.store.get(raised.alert.id)?.state, 'active', 'stored before it was announced');

  for (let i = 0; i < 20; i++) {
    h.clock.advance(100);
    h.engine.onDetections(detections('cam1', [personAt(0.75, 0.9)]));
  }
  assert.equal(h.events.length, 1, 'repeats within the update interval send no event');
  h.clock.advance(3000);
  h.engine.onDetections(detections('cam1', [personAt(0.75, 0.9)]));
  assert.equal(h.events.length, 2);
  assert.equal(h.events[1]!.type, 'update');
  assert.equal(h.events[1]!.alert.id, raised.alert.id);
  assert.equal(h.events[1]!.alert.count, 22);

  h.clock.advance(2000);
  h.engine.onDetections(detections('cam1', []));
  h.engine.tick();
  assert.equal(h.events.at(-1)!.type, 'update', 'not clear long enough yet; the tick sends nothing new or a trailing update');
  assert.equal(h.engine.openAlerts().length, 1);
  h.clock.advance(1500);
  h.engine.tick();
  const end = h.events.at(-1)!;
  assert.equal(end.type, 'end');
  assert.equal(end.alert.state, 'resolved');
  assert.equal(h.store.get(raised.alert.id)?.state, 'resolved');

  h.engine.onDetections(detections('cam1', [personAt(0.75, 0.9)]));
  assert.equal(h.events.at(-1)!.type, 'end', 'a new presence starts a new dwell');
  h.clock.advance(2000);
  h.engine.onDetections(detections('cam1', [personAt(0.75, 0.9)]));
  assert.equal(h.events.at(-1)!.type, 'new');
  assert.notEqual(h.events.at(-1)!.alert.id, raised.alert.id);
});

test('trailing update: a repeat inside the interval is announced by a later tick', (t) => {
  const h = makeEngine(t, rules({ id: 'w', type: 'weight-mismatch' }), { updateIntervalMs: 5000 });
  h.engine.onLaneEvent(weightMismatch('lane-1'));
  h.engine.onLaneEvent(weightMismatch('lane-1'));
  h.engine.onLaneEvent(weightMismatch('lane-1'));
  assert.deepEqual(
    h.events.map((e) => e.type),
    ['new'],
  );
  h.engine.tick();
  assert.equal(h.events.length, 1);
  h.clock.advance(5000);
  h.engine.tick();
  assert.deepEqual(
    h.events.map((e) => e.type),
    ['new', 'update'],
  );
  assert.equal(h.events[1]!.alert.count, 3);
  assert.equal(h.store.get(h.events[0]!.alert.id)?.count, 3);
  h.clock.advance(5000);
  h.engine.tick();
  assert.equal(h.events.length, 2, 'nothing new, nothing sent');
});

test('weight mismatch: per lane, aggregates, expires after the quiet period', (t) => {
  const h = makeEngine(t, rules({ id: 'w', type: 'weight-mismatch', expireSeconds: 60 }), { updateIntervalMs: 0 });
  h.engine.onLaneEvent(weightMismatch('lane-1'));
  h.engine.onLaneEvent(weightMismatch('lane-2'));
  h.engine.onLaneEvent(notRecognised('lane-1', 'kite'));
  assert.equal(h.events.length, 2);
  assert.deepEqual(h.events.map((e) => e.alert.lane).sort(), ['lane-1', 'lane-2']);
  assert.equal(h.events[0]!.alert.details?.['weightGrams'], 900);
  // The frame that completed the scan the scale disagreed with: sync keeps it, the console shows it.
  assert.deepEqual(h.events[0]!.alert.snapshot, { camera: 'demo', seq: h.events[0]!.alert.snapshot!.seq, capturedAt: channels.laneEvent.example.at - 100 });
  h.clock.advance(30_000);
  h.engine.onLaneEvent(weightMismatch('lane-1'));
  assert.equal(h.events.at(-1)!.type, 'update');
  assert.equal(h.events.at(-1)!.alert.count, 2);
  h.clock.advance(31_000);
  h.engine.tick();
  assert.deepEqual(
    h.events.slice(-1).map((e) => [e.type, e.alert.lane]),
    [['end', 'lane-2']],
    'lane-2 was quiet for 61 s, lane-1 only 31 s',
  );
  h.clock.advance(30_000);
  h.engine.tick();
  assert.deepEqual(
    h.events.slice(-1).map((e) => [e.type, e.alert.lane]),
    [['end', 'lane-1']],
  );
  assert.equal(h.engine.openAlerts().length, 0);
});

test('images evicted by sync: one alert per camera counting the images, never silent, expires when quiet', (t) => {
  const h = makeEngine(t, rules({ id: 'ev', type: 'images-evicted', expireSeconds: 60 }), { updateIntervalMs: 0 });
  const eviction = (camera: string | undefined, n: number) => ({
    at: h.clock.now(),
    reason: 'disk' as const,
    blob: `${camera ?? 'x'}/2026/11/22/${n}-${n}.jpg`,
    ...(camera ? { camera } : {}),
    capturedAt: n,
    bytes: 1000,
  });
  h.engine.onEviction(eviction('cam1', 1));
  h.engine.onEviction(eviction('cam1', 2));
  h.engine.onEviction(eviction('cam2', 3));
  h.engine.onEviction(eviction(undefined, 4));
  const open = h.engine.openAlerts();
  assert.equal(open.length, 3);
  const cam1 = open.find((a) => a.camera === 'cam1')!;
  assert.equal(cam1.count, 2);
  assert.equal(cam1.type, 'images-evicted');
  assert.match(cam1.message, /sync dropped an image of camera cam1 without uploading it \(the outbox disk cap was reached\)/);
  assert.equal(cam1.details?.['reason'], 'disk');
  h.clock.advance(61_000);
  h.engine.tick();
  assert.equal(h.engine.openAlerts().length, 0);
});

test('unknown item: needs a label, honours the lane, uses the service expiry default', (t) => {
  const h = makeEngine(t, rules({ id: 'u', type: 'unknown-item', lane: 'lane-1' }), { updateIntervalMs: 0, expireSeconds: 10 });
  h.engine.onLaneEvent(notRecognised('lane-1', undefined));
  h.engine.onLaneEvent(notRecognised('lane-2', 'kite'));
  assert.equal(h.events.length, 0);
  h.engine.onLaneEvent(notRecognised('lane-1', 'kite <script>'));
  h.engine.onLaneEvent(notRecognised('lane-1', 'drone'));
  assert.deepEqual(
    h.events.map((e) => e.type),
    ['new', 'update'],
  );
  alertEventSchema.parse(h.events[0]);
  assert.match(h.events[0]!.alert.message, /kite script/, 'markup is neutralised by the shared plain-text rule');
  assert.doesNotMatch(h.events[0]!.alert.message, /[<>]/);
  assert.equal(h.events[1]!.alert.details?.['label'], 'drone');
  // Each sighting brings the frame that showed it; the alert keeps the latest as its snapshot.
  const [first, second] = [h.events[0]!.alert.snapshot, h.events[1]!.alert.snapshot];
  assert.equal(first?.camera, 'demo');
  assert.ok(second !== null && first !== null && second.seq > first.seq);
  h.clock.advance(10_000);
  h.engine.tick();
  assert.equal(h.events.at(-1)!.type, 'end');
});

test('low-confidence scan: below the threshold fires with the scan frame as snapshot', (t) => {
  const h = makeEngine(t, rules({ id: 'low', type: 'low-confidence-scan', below: 0.4 }), { updateIntervalMs: 0, expireSeconds: 5 });
  h.engine.onScan(scan('lane-1', 0.4));
  assert.equal(h.events.length, 0);
  const low = scan('lane-1', 0.2);
  h.engine.onScan(low);
  h.engine.onScan(scan('lane-1', 0.1));
  assert.deepEqual(
    h.events.map((e) => e.type),
    ['new', 'update'],
  );
  assert.deepEqual(h.events[0]!.alert.snapshot, { camera: low.camera, seq: low.seq, capturedAt: low.capturedAt });
  assert.equal(h.events[1]!.alert.count, 2);
  h.clock.advance(5000);
  h.engine.tick();
  assert.equal(h.events.at(-1)!.type, 'end');
});

test('camera offline: every camera capture reports, fires after N s offline, resolves when its status is online again', (t) => {
  const h = makeEngine(
    t,
    rules({ id: 'cams', type: 'camera-offline', offlineSeconds: 30 }, { id: 'front', type: 'camera-offline', camera: 'front', offlineSeconds: 10 }),
  );
  h.engine.onCameraStatus('cam1', { state: 'online' });
  h.engine.onCameraStatus('cam1', { state: 'offline', reason: 'stalled: no frame for 10 s' });
  h.clock.advance(20_000);
  h.engine.tick();
  assert.deepEqual(
    h.events.map((e) => [e.type, e.alert.rule, e.alert.camera]),
    [['new', 'front', 'front']],
    'a configured camera never reported counts from start',
  );
  h.clock.advance(10_000);
  h.engine.tick();
  h.engine.tick();
  assert.deepEqual(h.events.map((e) => [e.type, e.alert.rule, e.alert.camera]).slice(1), [['new', 'cams', 'cam1']], 'raised once, not per tick');
  assert.match(h.events.at(-1)!.alert.message, /camera cam1 offline for 30 s: stalled: no frame for 10 s/);
  assert.equal(h.events.at(-1)!.alert.details?.['reason'], 'stalled: no frame for 10 s');
  h.engine.onCameraStatus('cam1', { state: 'offline', reason: 'ffmpeg ended' });
  assert.equal(h.events.length, 2, 'another offline status is the same outage');
  h.engine.onCameraStatus('cam1', { state: 'online' });
  assert.deepEqual([h.events.at(-1)!.type, h.events.at(-1)!.alert.camera], ['end', 'cam1']);
  h.engine.onCameraStatus('front', { state: 'online' });
  assert.deepEqual([h.events.at(-1)!.type, h.events.at(-1)!.alert.camera, h.events.at(-1)!.alert.rule], ['end', 'front', 'front']);
  assert.equal(h.engine.openAlerts().length, 0, 'both resolved');
});

test('camera offline: capture going offline (its last will) takes every camera it reported with it, until a status after its return says online', (t) => {
  const h = makeEngine(t, rules({ id: 'cams', type: 'camera-offline', offlineSeconds: 30 }));
  h.engine.onCameraStatus('cam1', { state: 'online' });
  h.engine.onCameraStatus('cam2', { state: 'online' });
  h.clock.advance(60_000);
  h.engine.tick();
  assert.equal(h.events.length, 0, 'online cameras are not alerted, however long ago their status came');
  h.engine.onAvailability('capture', 'offline');
  // The retained statuses still say online: while capture is offline they are stale.
  h.engine.onCameraStatus('cam1', { state: 'online' });
  h.clock.advance(30_000);
  h.engine.tick();
  assert.deepEqual(h.events.map((e) => [e.type, e.alert.camera]).sort(), [
    ['new', 'cam1'],
    ['new', 'cam2'],
  ]);
  assert.match(h.events[0]!.alert.message, /capture is offline/);
  h.engine.onAvailability('capture', 'online');
  h.engine.tick();
  assert.equal(h.events.length, 2, 'capture back is not yet its cameras back');
  h.engine.onCameraStatus('cam1', { state: 'online' });
  assert.deepEqual(
    h.events.slice(2).map((e) => [e.type, e.alert.camera]),
    [['end', 'cam1']],
  );
});

test('service offline: raised once it has stayed offline for the grace period, once; resolved on online; a quick restart raises nothing; own availability ignored', (t) => {
  const h = makeEngine(t, rules({ id: 'svc', type: 'service-offline', severity: 'critical', graceSeconds: 5 }));
  h.engine.onAvailability('alert', 'offline');
  h.engine.onAvailability('checkout', 'online');
  h.engine.onAvailability('checkout', 'offline');
  h.clock.advance(4000);
  h.engine.tick();
  assert.equal(h.events.length, 0, 'still within the grace period');
  h.engine.onAvailability('checkout', 'online');
  h.clock.advance(10_000);
  h.engine.tick();
  assert.equal(h.events.length, 0, 'back within the grace period: a restart, not an outage');
  h.engine.onAvailability('checkout', 'offline');
  h.engine.onAvailability('checkout', 'offline');
  h.clock.advance(5000);
  h.engine.tick();
  h.engine.onAvailability('checkout', 'offline');
  assert.deepEqual(
    h.events.map((e) => e.type),
    ['new'],
  );
  assert.equal(h.events[0]!.alert.service, 'checkout');
  assert.equal(h.events[0]!.alert.snapshot, null);
  h.engine.onAvailability('checkout', 'online');
  assert.deepEqual(
    h.events.map((e) => e.type),
    ['new', 'end'],
  );
});

test('service offline with no grace: raised at once', (t) => {
  const h = makeEngine(t, rules({ id: 'svc', type: 'service-offline', severity: 'critical', graceSeconds: 0 }));
  h.engine.onAvailability('checkout', 'offline');
  assert.deepEqual(
    h.events.map((e) => e.type),
    ['new'],
  );
});

test('model drift: learns the baseline from the first window, fires when the rolling mean drops by the margin, resolves on recovery', (t) => {
  const h = makeEngine(t, rules({ id: 'drift', type: 'model-drift', window: 5, margin: 0.15 }), { updateIntervalMs: 0 });
  for (let i = 0; i < 5; i++) h.engine.onScan(scan('lane-1', 0.9));
  assert.equal(h.store.getBaseline('drift|lane-1|FRUIT-ORANGE'), 0.9);
  for (let i = 0; i < 5; i++) h.engine.onScan(scan('lane-1', 0.8));
  assert.equal(h.events.length, 0, 'mean 0.8 is within the margin');
  h.engine.onScan(scan('lane-1', 0.5));
  // window: 0.8 0.8 0.8 0.8 0.5 -> 0.74 < 0.9 - 0.15
  assert.deepEqual(
    h.events.map((e) => e.type),
    ['new'],
  );
  h.engine.onScan(scan('lane-1', 0.5));
  assert.deepEqual(
    h.events.map((e) => e.type),
    ['new', 'update'],
    'still drifting: the same alert',
  );
  assert.equal(h.events[0]!.alert.details?.['sku'], 'FRUIT-ORANGE');
  assert.equal(h.events[0]!.alert.details?.['baseline'], 0.9);
  h.engine.onScan(scan('lane-1', 0.5, 'FRUIT-APPLE'));
  assert.equal(h.events.length, 2, 'other skus have their own window');
  for (let i = 0; i < 5; i++) h.engine.onScan(scan('lane-1', 0.9));
  assert.equal(h.events.at(-1)!.type, 'end');
});

test('model drift: a configured baseline is used at once', (t) => {
  const h = makeEngine(t, rules({ id: 'drift', type: 'model-drift', window: 3, margin: 0.1, baselines: { 'FRUIT-ORANGE': 0.95 } }), { updateIntervalMs: 0 });
  for (let i = 0; i < 3; i++) h.engine.onScan(scan('lane-1', 0.8));
  assert.deepEqual(
    h.events.map((e) => e.type),
    ['new'],
  );
});

test('one input, rules of several types: evaluated in the order of the rules, each rule it concerns counted once', async (t) => {
  const drift = { id: 'drift', type: 'model-drift', window: 2, margin: 0.1, baselines: { 'FRUIT-ORANGE': 0.95 } };
  const low = { id: 'low', type: 'low-confidence-scan', below: 0.5 };
  const elsewhere = { id: 'low-elsewhere', type: 'low-confidence-scan', lane: 'lane-2' };
  for (const [order, expected] of [
    [
      [drift, low, elsewhere],
      ['drift', 'low'],
    ],
    [
      [elsewhere, low, drift],
      ['low', 'drift'],
    ],
  ] as const) {
    const h = makeEngine(t, rules(...order));
    h.engine.onScan(scan('lane-1', 0.6));
    // The second scan is below the threshold and fills the drift window (mean 0.5 < 0.95 - 0.1).
    h.engine.onScan(scan('lane-1', 0.4));
    assert.deepEqual(
      h.events.map((e) => `${e.type} ${e.alert.rule}`),
      expected.map((rule) => `new ${rule}`),
    );
    const evaluations = await h.registry.getSingleMetric('sightline_alert_rule_evaluations_total')!.get();
    assert.deepEqual(Object.fromEntries(evaluations.values.map((v) => [v.labels['type'], v.value])), { 'model-drift': 2, 'low-confidence-scan': 2 });
  }
});

test('acknowledge and resolve: transitions, conflicts, unknown ids', (t) => {
  const h = makeEngine(t, rules({ id: 'w', type: 'weight-mismatch' }), { updateIntervalMs: 0 });
  h.engine.onLaneEvent(weightMismatch('lane-1'));
  const id = h.events[0]!.alert.id;
  const ack = h.engine.acknowledge(id);
  assert.equal(ack.ok, true);
  assert.equal(h.events.at(-1)!.type, 'update');
  assert.equal(h.events.at(-1)!.alert.state, 'acknowledged');
  assert.deepEqual(h.engine.acknowledge(id), { ok: false, status: 409, message: `alert ${id} is already acknowledged` });
  h.engine.onLaneEvent(weightMismatch('lane-1'));
  assert.equal(h.events.at(-1)!.alert.state, 'acknowledged', 'repeats keep it acknowledged');
  assert.equal(h.events.at(-1)!.alert.count, 2);
  const resolved = h.engine.resolve(id);
  assert.equal(resolved.ok && resolved.alert.state, 'resolved');
  assert.equal(h.engine.resolve(id).ok, false);
  assert.equal((h.engine.resolve(id) as { status: number }).status, 409);
  assert.equal((h.engine.acknowledge(id) as { status: number }).status, 409);
  assert.equal((h.engine.acknowledge('al-nope') as { status: number }).status, 404);
  h.engine.onLaneEvent(weightMismatch('lane-1'));
  assert.notEqual(h.events.at(-1)!.alert.id, id, 'after resolve a repeat is a new alert');
});

test('restart: open alerts are reloaded and keep aggregating under the same id', (t) => {
  const first = makeEngine(t, rules({ id: 'w', type: 'weight-mismatch' }, { id: 'door', type: 'person-in-zone', camera: 'cam1', zone, clearSeconds: 3 }), {
    updateIntervalMs: 0,
  });
  first.engine.onLaneEvent(weightMismatch('lane-1'));
  first.engine.onDetections(detections('cam1', [personAt(0.75, 0.9)]));
  const ids = first.events.map((e) => e.alert.id);
  first.store.close();
  const second = makeEngine(t, first.engine.rules() as never, { dir: first.dir, clock: first.clock, updateIntervalMs: 0 });
  assert.deepEqual(
    second.engine
      .openAlerts()
      .map((a) => a.id)
      .sort(),
    [...ids].sort(),
  );
  second.engine.onLaneEvent(weightMismatch('lane-1'));
  assert.equal(second.events[0]!.alert.id, ids[0]);
  assert.equal(second.events[0]!.alert.count, 2);
  second.clock.advance(3000);
  second.engine.tick();
  assert.deepEqual(
    second.events.filter((e) => e.type === 'end').map((e) => e.alert.id),
    [ids[1]],
    'a reloaded zone alert resolves once the zone stays clear',
  );
});

test('retention: old resolved alerts and the overflow above the row limit are deleted, open ones never', (t) => {
  const h = makeEngine(t, rules({ id: 'w', type: 'weight-mismatch' }), { updateIntervalMs: 0 });
  for (let i = 0; i < 5; i++) h.engine.onLaneEvent(weightMismatch(`lane-${i}`));
  const ids = h.events.map((e) => e.alert.id);
  h.engine.resolve(ids[0]!);
  h.clock.advance(40 * 86_400_000);
  h.engine.resolve(ids[1]!);
  h.engine.resolve(ids[2]!);
  const now = h.clock.now();
  assert.deepEqual(h.store.prune(now - 30 * 86_400_000, 100), { expired: 1, overflow: 0 });
  assert.equal(h.store.get(ids[0]!), undefined);
  assert.deepEqual(h.store.prune(now - 30 * 86_400_000, 2), { expired: 0, overflow: 2 });
  assert.equal(h.store.count(), 2, 'the two open ones stay, even above the limit');
  assert.deepEqual(
    h.store
      .open()
      .map((o) => o.alert.id)
      .sort(),
    [ids[3], ids[4]].sort(),
  );
});

test('zone labels are compared as checkout compares them: trimmed, in lower case', (t) => {
  const zone = [
    [0.5, 0.5],
    [1, 0.5],
    [1, 1],
    [0.5, 1],
  ];
  const h = makeEngine(t, rules({ id: 'door', type: 'person-in-zone', camera: 'cam1', zone, labels: [' Person '], dwellSeconds: 0 }), { updateIntervalMs: 0 });
  h.engine.onDetections(detections('cam1', [{ ...personAt(0.75, 0.9), label: 'PERSON' }]));
  assert.equal(h.events.length, 1, 'a rule written "Person" sees a detector that says "PERSON"');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Registry } from 'prom-client';
import { startTestBroker, waitUntil } from '@sightline/kit/testing';
import { channels } from '@sightline/schemas';
import { createAlertApp } from '../src/app.ts';
import { makeConfig, makeEngine, rules, scan, tempDir, testClient, testLogger, weightMismatch } from './helpers.ts';

const offline = { state: 'offline', reason: 'stalled' } as const;

const offlineRules = () =>
  rules(
    { id: 'cams', type: 'camera-offline', severity: 'critical', offlineSeconds: 30 },
    { id: 'svc', type: 'service-offline', severity: 'critical', graceSeconds: 0 },
  );

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  return values.filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)).reduce((sum, v) => sum + v.value, 0);
}

test('700 made-up cameras: at most MAX_CAMERAS are watched, their offline alerts are warnings, the rest are counted; configured cameras stay critical', async (t) => {
  const h = makeEngine(t, offlineRules(), { limits: { maxCameras: 64, cameras: null } });
  for (let i = 0; i < 700; i++) h.engine.onCameraStatus(`ghost-${i}`, offline);
  h.clock.advance(31_000);
  h.engine.tick();
  const raised = h.events.filter((e) => e.type === 'new');
  assert.equal(raised.length, 64);
  assert.ok(
    raised.every((e) => e.alert.severity === 'warning'),
    'a camera only seen is never critical',
  );
  assert.equal(await metric(h.registry, 'sightline_alert_inputs_dropped_total', { channel: 'cameraStatus', reason: 'camera-cap' }), 636);
  assert.equal(await metric(h.registry, 'sightline_bounded_map_evictions_total', { map: 'alert-cameras', reason: 'refused' }), 636);

  const configured = makeEngine(t, offlineRules(), { limits: { cameras: ['front', 'back'] } });
  configured.engine.onCameraStatus('front', offline);
  for (let i = 0; i < 700; i++) configured.engine.onCameraStatus(`ghost-${i}`, offline);
  configured.clock.advance(31_000);
  configured.engine.tick();
  assert.deepEqual(
    configured.events.map((e) => [e.alert.camera, e.alert.severity]).sort(),
    [
      ['back', 'critical'],
      ['front', 'critical'],
    ],
    'configured cameras only, watched from the start, critical',
  );
  assert.equal(await metric(configured.registry, 'sightline_alert_inputs_dropped_total', { channel: 'cameraStatus', reason: 'camera-not-configured' }), 700);
});

test('a camera only seen is forgotten after FORGET_SECONDS without a status, and its place goes to a new camera', (t) => {
  const h = makeEngine(t, offlineRules(), { limits: { maxCameras: 2, forgetMs: 600_000 } });
  h.engine.onCameraStatus('a', offline);
  h.engine.onCameraStatus('b', offline);
  h.engine.onCameraStatus('c', offline);
  h.clock.advance(31_000);
  h.engine.tick();
  assert.deepEqual(h.events.map((e) => e.alert.camera).sort(), ['a', 'b'], 'c was beyond the cap');
  h.clock.advance(600_000);
  h.engine.onCameraStatus('c', offline);
  h.clock.advance(31_000);
  h.engine.tick();
  assert.deepEqual(
    h.events
      .filter((e) => e.type === 'new')
      .map((e) => e.alert.camera)
      .sort(),
    ['a', 'b', 'c'],
  );
});

test('a camera-offline alert resolved by a person is not raised again under a new id while the camera stays away; it is once the camera came back and left again', (t) => {
  const h = makeEngine(t, offlineRules());
  h.engine.onCameraStatus('ghost', offline);
  h.clock.advance(31_000);
  h.engine.tick();
  const first = h.events.find((e) => e.type === 'new')!.alert;
  assert.equal(h.engine.resolve(first.id).ok, true);
  for (let i = 0; i < 10; i++) {
    h.clock.advance(60_000);
    h.engine.tick();
  }
  assert.deepEqual(
    h.events.map((e) => e.type),
    ['new', 'end'],
    'no ghost comes back',
  );
  h.engine.onCameraStatus('ghost', { state: 'online' });
  h.engine.onCameraStatus('ghost', offline);
  h.clock.advance(31_000);
  h.engine.tick();
  assert.deepEqual(
    h.events.map((e) => e.type),
    ['new', 'end', 'new'],
  );
  assert.notEqual(h.events[2]!.alert.id, first.id);
});

test('services: availability of 700 made-up services raises nothing and is counted; a bus service resolved by a person stays resolved until it was back online', async (t) => {
  const h = makeEngine(t, offlineRules());
  for (let i = 0; i < 700; i++) h.engine.onAvailability(`ghost-${i}`, 'offline');
  assert.equal(h.events.length, 0);
  assert.equal(await metric(h.registry, 'sightline_alert_inputs_dropped_total', { channel: 'availability', reason: 'unknown-service' }), 700);

  h.engine.onAvailability('checkout', 'offline');
  assert.deepEqual(
    h.events.map((e) => [e.type, e.alert.service, e.alert.severity]),
    [['new', 'checkout', 'critical']],
  );
  h.engine.resolve(h.events[0]!.alert.id);
  // The retained `offline` again, as a reconnect delivers it: the person already saw it.
  h.engine.onAvailability('checkout', 'offline');
  h.clock.advance(10_000);
  h.engine.tick();
  assert.deepEqual(
    h.events.map((e) => e.type),
    ['new', 'end'],
  );
  h.engine.onAvailability('checkout', 'online');
  h.engine.onAvailability('checkout', 'offline');
  assert.deepEqual(
    h.events.map((e) => e.type),
    ['new', 'end', 'new'],
  );

  const extra = makeEngine(t, offlineRules(), { limits: { services: ['azurite'] } });
  extra.engine.onAvailability('azurite', 'offline');
  assert.equal(extra.events.length, 1, 'a configured service is watched too');
});

test('700 made-up lanes: at most MAX_LANES raise alerts, as warnings; configured lanes keep their severity', async (t) => {
  const h = makeEngine(t, rules({ id: 'w', type: 'weight-mismatch', severity: 'critical' }), { updateIntervalMs: 0, limits: { maxLanes: 64 } });
  for (let i = 0; i < 700; i++) h.engine.onLaneEvent(weightMismatch(`lane-${i}`));
  assert.equal(h.engine.openAlerts().length, 64);
  assert.ok(h.engine.openAlerts().every((a) => a.severity === 'warning'));
  assert.equal(await metric(h.registry, 'sightline_alert_inputs_dropped_total', { channel: 'laneEvent', reason: 'lane-cap' }), 636);

  const configured = makeEngine(t, rules({ id: 'w', type: 'weight-mismatch', severity: 'critical' }), { updateIntervalMs: 0, limits: { lanes: ['lane-1'] } });
  configured.engine.onLaneEvent(weightMismatch('lane-1'));
  configured.engine.onLaneEvent(weightMismatch('lane-2'));
  assert.deepEqual(
    configured.engine.openAlerts().map((a) => [a.lane, a.severity]),
    [['lane-1', 'critical']],
  );
});

test('open alerts are capped: beyond MAX_OPEN a new alert is refused and counted, the open ones untouched', async (t) => {
  const h = makeEngine(t, rules({ id: 'w', type: 'weight-mismatch' }), { updateIntervalMs: 0, limits: { maxOpen: 5 } });
  for (let i = 0; i < 8; i++) h.engine.onLaneEvent(weightMismatch(`lane-${i}`));
  assert.equal(h.engine.openAlerts().length, 5);
  assert.equal(h.store.count(), 5, 'a refused alert is not stored');
  assert.equal(await metric(h.registry, 'sightline_alert_alerts_refused_total', { type: 'weight-mismatch' }), 3);
  h.engine.onLaneEvent(weightMismatch('lane-0'));
  assert.equal(h.engine.openAlerts().find((a) => a.lane === 'lane-0')?.count, 2, 'open ones still aggregate');
  // A lower cap at the next start: the newest are kept open, the oldest resolved.
  h.store.close();
  const restarted = makeEngine(t, rules({ id: 'w', type: 'weight-mismatch' }), { dir: h.dir, clock: h.clock, limits: { maxOpen: 2 } });
  assert.equal(restarted.engine.openAlerts().length, 2);
  assert.equal(restarted.store.open().length, 2);
});

test('stored alerts stay within MAX_ROWS as they are raised, without waiting for the hourly prune; open ones are never deleted', async (t) => {
  const h = makeEngine(t, rules({ id: 'w', type: 'weight-mismatch' }), { updateIntervalMs: 0, maxRows: 10 });
  let peak = 0;
  for (let i = 0; i < 50; i++) {
    h.engine.onLaneEvent(weightMismatch('lane-1'));
    h.engine.resolve(h.engine.openAlerts()[0]!.id);
    peak = Math.max(peak, h.store.count());
  }
  assert.ok(peak <= 10, `rows peaked at ${peak}`);
  assert.equal(await metric(h.registry, 'sightline_alert_alerts_pruned_total', { reason: 'max-rows' }), 40);
  for (let i = 0; i < 10; i++) h.engine.onLaneEvent(weightMismatch(`open-${i}`));
  assert.equal(h.store.open().length, 10);
  assert.equal(h.store.count(), 10, 'the resolved ones made room');
});

test('drift windows and learned baselines are bounded: a flood of skus keeps MAX_DRIFT_STATES of each', async (t) => {
  const h = makeEngine(t, rules({ id: 'drift', type: 'model-drift', window: 2 }), { updateIntervalMs: 0, limits: { maxDriftStates: 50 } });
  for (let i = 0; i < 500; i++) {
    h.engine.onScan(scan('lane-1', 0.9, `SKU-${i}`));
    h.engine.onScan(scan('lane-1', 0.9, `SKU-${i}`));
  }
  assert.equal(await metric(h.registry, 'sightline_bounded_map_entries', { map: 'alert-drift-windows' }), 50);
  assert.equal(await metric(h.registry, 'sightline_bounded_map_evictions_total', { map: 'alert-drift-windows', reason: 'entries' }), 450);
  assert.equal(h.store.baselineCount(), 50);
  assert.equal(h.store.getBaseline('drift|lane-1|SKU-499'), 0.9, 'the newest learned are kept');
});

test(
  'over MQTT: 700 made-up cameras and services raise at most MAX_CAMERAS warnings and no service alert; a bus service still raises a critical one; evictions in /metrics',
  { timeout: 60_000 },
  async (t) => {
    const broker = await startTestBroker(t);
    const config = makeConfig(tempDir(t), {
      mqtt: { url: broker.url, topicPrefix: 'sightline' },
      rules: rules(
        { id: 'cams', type: 'camera-offline', severity: 'critical', offlineSeconds: 1 },
        { id: 'svc', type: 'service-offline', severity: 'critical', graceSeconds: 0 },
      ),
    });
    const app = createAlertApp(config, testLogger());
    t.after(() => app.stop());
    await app.start();
    await waitUntil('alert ready', async () => (await app.http.inject({ url: '/readyz' })).statusCode === 200, 10_000);
    const { bus, events } = await testClient(t, broker.url);
    for (let i = 0; i < 700; i++) {
      const camera = `ghost-cam-${i}`;
      await bus.publish(
        channels.cameraStatus,
        { camera },
        { camera, state: 'offline', reason: 'stalled', fps: 0, width: 640, height: 480, since: Date.now(), at: Date.now() },
      );
      await bus.publish(channels.availability, { service: `ghost-svc-${i}` }, 'offline');
    }
    await bus.publish(channels.availability, { service: 'checkout' }, 'offline');
    await waitUntil('the offline cameras are raised', () => events.filter((e) => e.type === 'new' && e.alert.type === 'camera-offline').length >= 64, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const raised = events.filter((e) => e.type === 'new');
    assert.equal(raised.filter((e) => e.alert.type === 'camera-offline').length, 64);
    assert.ok(
      raised.filter((e) => e.alert.type === 'camera-offline').every((e) => e.alert.severity === 'warning'),
      'no ghost is critical',
    );
    assert.deepEqual(
      raised.filter((e) => e.alert.type === 'service-offline').map((e) => [e.alert.service, e.alert.severity]),
      [['checkout', 'critical']],
    );
    const text = (await app.http.inject({ url: '/metrics' })).body;
    assert.match(text, /sightline_bounded_map_evictions_total\{map="alert-cameras",reason="refused"[^}]*\} 636\n/);
    assert.match(text, /sightline_alert_inputs_dropped_total\{channel="availability",reason="unknown-service"[^}]*\} 700\n/);

    // Resolved by a person: it stays resolved while the ghost stays away.
    const ghost = raised.find((e) => e.alert.type === 'camera-offline')!.alert;
    assert.equal(app.engine.resolve(ghost.id).ok, true);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(events.filter((e) => e.type === 'new' && e.alert.camera === ghost.camera).length, 1);
  },
);

import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { httpRoutes } from '@sightline/kit';
import { alertSchema } from '@sightline/schemas';
import { createAlertApp, type AlertApp } from '../src/app.ts';
import { FakeClock, makeConfig, notRecognised, rules, scan, tempDir, testLimits, testLogger, weightMismatch } from './helpers.ts';

function makeApp(t: TestContext, clock = new FakeClock(), limits = testLimits): { app: AlertApp; clock: FakeClock } {
  const config = makeConfig(tempDir(t), {
    updateIntervalMs: 0,
    rules: rules({ id: 'w', type: 'weight-mismatch', severity: 'critical' }, { id: 'u', type: 'unknown-item' }, { id: 'low', type: 'low-confidence-scan' }),
    limits,
  });
  const app = createAlertApp(config, testLogger(), { now: clock.now });
  t.after(() => app.stop());
  return { app, clock };
}

async function get(app: AlertApp, url: string) {
  const response = await app.http.inject({ method: 'GET', url });
  return { status: response.statusCode, body: response.json() };
}

test('GET /alerts filters by state, type, severity, lane, camera, since and until', async (t) => {
  // Configured lanes: an alert about a lane only seen is never critical.
  const { app, clock } = makeApp(t, new FakeClock(), { ...testLimits, lanes: ['lane-1', 'lane-2', 'lane-3'] });
  app.engine.onLaneEvent(weightMismatch('lane-1'));
  clock.advance(1000);
  app.engine.onLaneEvent(notRecognised('lane-2', 'kite'));
  clock.advance(1000);
  app.engine.onScan(scan('lane-3', 0.1));
  const all = await get(app, '/alerts');
  assert.equal(all.status, 200);
  assert.equal(all.body.alerts.length, 3);
  for (const alert of all.body.alerts) alertSchema.parse(alert);
  assert.deepEqual(
    all.body.alerts.map((a: { lane: string }) => a.lane),
    ['lane-3', 'lane-2', 'lane-1'],
    'newest first',
  );
  assert.equal(all.body.nextCursor, null);

  const first = all.body.alerts[2].id;
  await app.http.inject({ method: 'POST', url: `/alerts/${first}/acknowledge`, payload: {} });
  assert.deepEqual(
    (await get(app, '/alerts?state=acknowledged')).body.alerts.map((a: { id: string }) => a.id),
    [first],
  );
  assert.equal((await get(app, '/alerts?state=active')).body.alerts.length, 2);
  assert.deepEqual(
    (await get(app, '/alerts?type=unknown-item')).body.alerts.map((a: { lane: string }) => a.lane),
    ['lane-2'],
  );
  assert.deepEqual(
    (await get(app, '/alerts?severity=critical')).body.alerts.map((a: { lane: string }) => a.lane),
    ['lane-1'],
  );
  assert.deepEqual(
    (await get(app, '/alerts?lane=lane-3')).body.alerts.map((a: { type: string }) => a.type),
    ['low-confidence-scan'],
  );
  assert.equal((await get(app, `/alerts?camera=${scan('x', 0).camera}`)).body.alerts.length, 2, 'unknown item and low confidence carry a camera');
  const t0 = clock.time - 2000;
  assert.equal((await get(app, `/alerts?since=${t0 + 1000}`)).body.alerts.length, 2);
  assert.equal((await get(app, `/alerts?until=${t0 + 1000}`)).body.alerts.length, 2);
  assert.equal((await get(app, `/alerts?since=${new Date(t0 + 1000).toISOString()}&until=${new Date(t0 + 1000).toISOString()}`)).body.alerts.length, 1);
  assert.equal((await get(app, '/alerts?state=resolved')).body.alerts.length, 0);
});

test('GET /alerts pages with a cursor without gaps or repeats', async (t) => {
  const { app, clock } = makeApp(t);
  for (let i = 0; i < 23; i++) {
    if (i % 3 === 0) clock.advance(1);
    app.engine.onLaneEvent(weightMismatch(`lane-${i}`));
  }
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await get(app, `/alerts?limit=5${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(page.status, 200);
    assert.ok(page.body.alerts.length <= 5);
    seen.push(...page.body.alerts.map((a: { id: string }) => a.id));
    cursor = page.body.nextCursor;
    pages += 1;
  } while (cursor !== null && pages < 10);
  assert.equal(pages, 5);
  assert.equal(seen.length, 23);
  assert.equal(new Set(seen).size, 23);
  assert.equal((await get(app, '/alerts?limit=500')).body.alerts.length, 23);
});

test('GET /alerts refuses bad filters with a clear message', async (t) => {
  const { app } = makeApp(t);
  const cases: Array<[string, RegExp]> = [
    ['/alerts?limit=501', /limit: must be 1-500/],
    ['/alerts?limit=0', /limit/],
    ['/alerts?limit=abc', /limit/],
    ['/alerts?state=open', /state/],
    ['/alerts?type=fire', /type/],
    ['/alerts?severity=loud', /severity/],
    ['/alerts?lane=a/b', /lane/],
    ['/alerts?since=yesterday', /since/],
    ['/alerts?since=2000&until=1000', /since must not be after until/],
    ['/alerts?cursor=!!!', /cursor/],
    [`/alerts?cursor=${Buffer.from('not a cursor').toString('base64url')}`, /cursor/],
    ['/alerts?colour=red', /colour|Unrecognized/i],
    ['/alerts?state=active&state=resolved', /state/],
  ];
  for (const [url, message] of cases) {
    const response = await get(app, url);
    assert.equal(response.status, 400, url);
    assert.equal(response.body.error, 'bad request');
    assert.match(response.body.message, message, url);
  }
});

test('GET /alerts/:id, acknowledge and resolve: 200, 400, 404 and 409', async (t) => {
  const { app } = makeApp(t);
  app.engine.onLaneEvent(weightMismatch('lane-1'));
  const [alert] = app.engine.openAlerts();
  const id = alert!.id;
  assert.equal((await get(app, `/alerts/${id}`)).body.state, 'active');
  assert.equal((await get(app, '/alerts/al-unknown')).status, 404);
  assert.equal((await get(app, '/alerts/bad%20id%3F')).status, 400);
  assert.equal((await get(app, `/alerts/${'x'.repeat(65)}`)).status, 400);

  const post = (url: string) => app.http.inject({ method: 'POST', url, payload: {} });
  const ack = await post(`/alerts/${id}/acknowledge`);
  assert.equal(ack.statusCode, 200);
  assert.equal(ack.json().state, 'acknowledged');
  assert.equal(typeof ack.json().acknowledgedAt, 'number');
  const again = await post(`/alerts/${id}/acknowledge`);
  assert.equal(again.statusCode, 409);
  assert.match(again.json().message, /already acknowledged/);
  const resolved = await post(`/alerts/${id}/resolve`);
  assert.equal(resolved.statusCode, 200);
  assert.equal(resolved.json().state, 'resolved');
  assert.equal((await post(`/alerts/${id}/resolve`)).statusCode, 409);
  assert.equal((await post(`/alerts/${id}/acknowledge`)).statusCode, 409);
  assert.equal((await get(app, `/alerts/${id}`)).body.state, 'resolved');
  assert.equal((await post('/alerts/al-unknown/resolve')).statusCode, 404);
  assert.equal((await post('/alerts/al-unknown/acknowledge')).statusCode, 404);
  assert.equal((await post('/alerts/%24%24/resolve')).statusCode, 400);
});

test('a web page cannot acknowledge or resolve: text/plain, form and bodyless POSTs are 415, a rebound Host is 403, and the alert stays active', async (t) => {
  const { app } = makeApp(t);
  app.engine.onLaneEvent(weightMismatch('lane-1'));
  const id = app.engine.openAlerts()[0]!.id;
  const simple: Array<[string, Record<string, string>, string | undefined]> = [
    ['acknowledge', { 'content-type': 'text/plain' }, '{}'],
    ['acknowledge', { 'content-type': 'application/x-www-form-urlencoded' }, 'a=1'],
    ['resolve', {}, undefined],
    ['resolve', { 'content-type': 'text/plain;charset=UTF-8' }, ''],
  ];
  for (const [action, headers, payload] of simple) {
    const response = await app.http.inject({ method: 'POST', url: `/alerts/${id}/${action}`, headers, ...(payload === undefined ? {} : { payload }) });
    assert.equal(response.statusCode, 415, `${action} ${JSON.stringify(headers)}: ${response.body}`);
  }
  const rebound = await app.http.inject({ method: 'POST', url: `/alerts/${id}/resolve`, headers: { host: 'alerts.attacker.example' }, payload: {} });
  assert.equal(rebound.statusCode, 403);
  assert.equal((await app.http.inject({ url: '/alerts', headers: { host: 'alerts.attacker.example:8087' } })).statusCode, 403, 'nor read them');
  assert.equal((await get(app, `/alerts/${id}`)).body.state, 'active');
  const metrics = (await app.http.inject({ url: '/metrics' })).body;
  assert.match(metrics, /sightline_http_requests_refused_total\{reason="media-type",service="alert"\} 4/);
  assert.match(metrics, /sightline_http_requests_refused_total\{reason="host",service="alert"\} 2/);
});

test('GET /openapi.json describes the routes; /healthz and /metrics answer', async (t) => {
  const { app } = makeApp(t);
  const doc = (await get(app, '/openapi.json')).body;
  assert.match(doc.openapi, /^3\./);
  assert.deepEqual(Object.keys(doc.paths).sort(), [
    '/alerts',
    '/alerts/{id}',
    '/alerts/{id}/acknowledge',
    '/alerts/{id}/resolve',
    '/rules',
    '/rules/{id}/zone',
  ]);
  assert.ok(doc.paths['/alerts/{id}/resolve'].post.responses['409']);
  assert.ok(doc.components.schemas.Alert.properties.snapshot);
  const zone = doc.paths['/rules/{id}/zone'];
  assert.deepEqual(Object.keys(zone).sort(), ['get', 'put']);
  assert.deepEqual(Object.keys(zone.put.responses).sort(), ['200', '400', '404', '409', '413', '415', '500']);
  const body = zone.put.requestBody.content['application/json'].schema;
  assert.deepEqual(body.required, ['zone']);
  assert.equal(body.properties.zone.maxItems, 64);
  assert.equal(body.properties.zone.items.oneOf.length, 2, 'a point as [x, y] or {x, y}');
  assert.ok(doc.components.schemas.Rule.oneOf.some((rule: { properties: { type: { const: string } } }) => rule.properties.type.const === 'person-in-zone'));
  // Every route the app serves but the kit's own is described.
  await app.http.ready();
  const served = httpRoutes(app.http)
    .filter((route) => !['/healthz', '/readyz', '/metrics', '/openapi.json'].includes(route.url) && route.method !== 'HEAD')
    .map((route) => `${route.method} ${route.url.replace(/:([a-z]+)/g, '{$1}')}`);
  const described = Object.entries(doc.paths as Record<string, object>).flatMap(([url, methods]) =>
    Object.keys(methods).map((m) => `${m.toUpperCase()} ${url}`),
  );
  assert.deepEqual(served.sort(), described.sort());
  assert.equal((await get(app, '/healthz')).status, 200);
  assert.equal((await app.http.inject({ method: 'GET', url: '/readyz' })).statusCode, 503, 'not connected to a broker');
  app.engine.onLaneEvent(weightMismatch('lane-1'));
  const metrics = (await app.http.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(metrics, /sightline_alert_alerts_raised_total\{type="weight-mismatch",service="alert"\} 1/);
  assert.match(metrics, /sightline_alert_alerts_open\{type="weight-mismatch",service="alert"\} 1/);
  assert.match(metrics, /sightline_alert_rule_evaluations_total\{type="weight-mismatch",service="alert"\} 1/);
});

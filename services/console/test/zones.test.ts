import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { startTestBroker } from '@sightline/kit/testing';
import { WHOLE_FRAME } from '@sightline/schemas';
import type { ConsoleApp } from '../src/index.ts';
import { login, OPERATOR, runService, startConsole, tempDir, VIEWER } from './helpers.ts';

const TOKEN = 'console-zones-token-0123456789abcdefghijklmnop';

const LEFT = [
  [0, 0],
  [0.5, 0],
  [0.5, 1],
  [0, 1],
];
const CORNER = [
  [0.02, 0.02],
  [0.12, 0.02],
  [0.12, 0.12],
  [0.02, 0.12],
];
/** A bow tie: edges 1-2 and 3-0 cross. */
const BOW_TIE = [
  [0.1, 0.1],
  [0.9, 0.1],
  [0.1, 0.9],
  [0.9, 0.9],
];
const points = (zone: number[][]) => zone.map(([x, y]) => ({ x, y }));

interface Upstreams {
  checkout: string;
  alert: string;
  dir: string;
}

/** Checkout with two lanes (lane-1 on the left half of demo), alert with a restricted zone on demo and a rule of another type. */
async function runUpstreams(t: TestContext, brokerUrl: string): Promise<Upstreams> {
  const dir = tempDir(t);
  const lanesFile = join(dir, 'lanes.json');
  writeFileSync(
    lanesFile,
    JSON.stringify({
      lanes: [
        { id: 'lane-1', camera: 'demo', locale: 'en-US', zone: LEFT, scale: false },
        { id: 'lane-2', camera: 'cam2', locale: 'en-US', scale: false },
      ],
    }),
  );
  const rulesFile = join(dir, 'rules.json');
  writeFileSync(
    rulesFile,
    JSON.stringify({
      rules: [
        { id: 'door', type: 'person-in-zone', camera: 'demo', zone: CORNER },
        { id: 'cams', type: 'camera-offline' },
      ],
    }),
  );
  const common = { SIGHTLINE_MQTT_URL: brokerUrl, SIGHTLINE_DATA_DIR: dir, SIGHTLINE_HTTP_TOKEN: TOKEN };
  const [checkout, alert] = await Promise.all([
    runService(t, 'checkout', { ...common, SIGHTLINE_CHECKOUT_LANES_FILE: lanesFile }),
    runService(t, 'alert', { ...common, SIGHTLINE_ALERT_RULES_FILE: rulesFile }),
  ]);
  return { checkout, alert, dir };
}

/** The console as a page of its own origin calls it: session cookie, CSRF token, Origin. */
function client(app: ConsoleApp, who: { cookie: string; csrf: string }) {
  const http = app.runtime.http;
  return {
    get: (url: string) => http.inject({ url, headers: { cookie: who.cookie } }),
    put: (url: string, payload: unknown, headers: Record<string, string> = {}) =>
      http.inject({
        method: 'PUT',
        url,
        payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
        headers: {
          cookie: who.cookie,
          'x-csrf-token': who.csrf,
          host: 'localhost',
          origin: 'http://localhost',
          'content-type': 'application/json',
          ...headers,
        },
      }),
  };
}

const fromService = async (url: string, path: string) => (await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json();

test('with checkout and alert running: every scan zone and restricted zone listed; a change saved in the service that owns it; its refusals passed on with the reason; one service down, the other one’s zones still listed', async (t) => {
  const broker = await startTestBroker(t);
  const upstreams = await runUpstreams(t, broker.url);
  const { app } = await startConsole(t, broker.url, {
    SIGHTLINE_HTTP_TOKEN: TOKEN,
    SIGHTLINE_CONSOLE_SERVICES: `checkout=${upstreams.checkout},alert=${upstreams.alert}`,
  });
  const operator = client(app, await login(app, OPERATOR));

  const listed = await operator.get('/api/zones');
  assert.equal(listed.statusCode, 200, listed.body);
  assert.deepEqual(listed.json(), {
    zones: [
      { kind: 'lane', id: 'lane-1', camera: 'demo', zone: points(LEFT) },
      { kind: 'lane', id: 'lane-2', camera: 'cam2', zone: WHOLE_FRAME },
      { kind: 'rule', id: 'door', camera: 'demo', zone: points(CORNER) },
    ],
    unavailable: [],
  });

  // Saved by checkout (read back from it), used from its next frame, kept in its data dir.
  const lane = await operator.put('/api/zones/lane/lane-1', { zone: CORNER });
  assert.equal(lane.statusCode, 200, lane.body);
  assert.deepEqual(lane.json(), { kind: 'lane', id: 'lane-1', camera: 'demo', zone: points(CORNER) });
  assert.deepEqual(await fromService(upstreams.checkout, '/lanes/lane-1/zone'), { lane: 'lane-1', camera: 'demo', zone: points(CORNER) });
  assert.match(readFileSync(join(upstreams.dir, 'checkout', 'zones.json'), 'utf8'), /lane-1/);

  const rule = await operator.put('/api/zones/rule/door', { zone: LEFT });
  assert.equal(rule.statusCode, 200, rule.body);
  assert.deepEqual(rule.json(), { kind: 'rule', id: 'door', camera: 'demo', zone: points(LEFT) });
  assert.deepEqual(await fromService(upstreams.alert, '/rules/door/zone'), { rule: 'door', camera: 'demo', zone: points(LEFT) });
  assert.deepEqual(
    (await operator.get('/api/zones')).json().zones.map((z: { id: string; zone: unknown }) => [z.id, z.zone]),
    [
      ['lane-1', points(CORNER)],
      ['lane-2', WHOLE_FRAME],
      ['door', points(LEFT)],
    ],
  );

  // Refused by the service, with its reason; nothing changed.
  const crossing = await operator.put('/api/zones/lane/lane-1', { zone: BOW_TIE });
  assert.equal(crossing.statusCode, 400);
  assert.deepEqual(crossing.json(), { error: 'bad request', message: 'zone: edges 1-2 and 3-0 cross or touch: a zone must not cross itself' });
  const outside = await operator.put('/api/zones/rule/door', {
    zone: [
      [0, 0],
      [1.5, 0],
      [0, 1],
    ],
  });
  assert.equal(outside.statusCode, 400);
  assert.equal(outside.json().message, 'zone.1.x: x must be 0-1');
  const extra = await operator.put('/api/zones/rule/door', { zone: LEFT, camera: 'cam2' });
  assert.equal(extra.statusCode, 400);
  assert.match(extra.json().message, /unknown key "camera"/);
  assert.deepEqual(await fromService(upstreams.checkout, '/lanes/lane-1/zone'), { lane: 'lane-1', camera: 'demo', zone: points(CORNER) });
  assert.deepEqual(await fromService(upstreams.alert, '/rules/door/zone'), { rule: 'door', camera: 'demo', zone: points(LEFT) });

  const noLane = await operator.put('/api/zones/lane/lane-9', { zone: LEFT });
  assert.equal(noLane.statusCode, 404);
  assert.match(noLane.json().message, /unknown lane "lane-9"/);
  const notAZoneRule = await operator.put('/api/zones/rule/cams', { zone: LEFT });
  assert.equal(notAZoneRule.statusCode, 409);
  assert.match(notAZoneRule.json().message, /only person-in-zone rules have a zone/);

  // A viewer sees the zones and changes none.
  const viewer = client(app, await login(app, VIEWER));
  assert.equal((await viewer.get('/api/zones')).statusCode, 200);
  const refused = await viewer.put('/api/zones/lane/lane-1', { zone: LEFT });
  assert.equal(refused.statusCode, 403);
  assert.match(refused.json().message, /viewer account/);
  assert.deepEqual(await fromService(upstreams.checkout, '/lanes/lane-1/zone'), { lane: 'lane-1', camera: 'demo', zone: points(CORNER) });

  // Another console, whose alert is down: checkout's zones are still listed, with what could not be.
  const { app: halfApp } = await startConsole(t, broker.url, {
    SIGHTLINE_HTTP_TOKEN: TOKEN,
    SIGHTLINE_CONSOLE_SERVICES: `checkout=${upstreams.checkout},alert=http://127.0.0.1:9`,
  });
  const half = client(halfApp, await login(halfApp, OPERATOR));
  const partial = await half.get('/api/zones');
  assert.equal(partial.statusCode, 200);
  assert.deepEqual(
    partial.json().zones.map((z: { kind: string; id: string }) => `${z.kind} ${z.id}`),
    ['lane lane-1', 'lane lane-2'],
  );
  assert.deepEqual(partial.json().unavailable, [{ service: 'alert', status: 502, message: 'cannot list the rules: alert cannot be reached' }]);
  const unreachable = await half.put('/api/zones/rule/door', { zone: LEFT });
  assert.equal(unreachable.statusCode, 502);
  assert.deepEqual(unreachable.json(), { error: 'bad gateway', message: 'alert cannot be reached' });
});

test('zone routes: a session, the CSRF token, this origin and an operator; ids and bodies checked before any service is asked', async (t) => {
  const broker = await startTestBroker(t);
  // Both services down (helpers.ts): a change that passes every check gets 502.
  const { app } = await startConsole(t, broker.url);
  const http = app.runtime.http;
  assert.equal((await http.inject({ url: '/api/zones' })).statusCode, 401);
  assert.equal((await http.inject({ method: 'PUT', url: '/api/zones/lane/lane-1', payload: { zone: LEFT } })).statusCode, 401);

  const who = await login(app, OPERATOR);
  const operator = client(app, who);
  const down = await operator.get('/api/zones');
  assert.equal(down.statusCode, 502);
  assert.deepEqual(down.json(), {
    error: 'bad gateway',
    message: 'cannot list the lanes: checkout cannot be reached; cannot list the rules: alert cannot be reached',
  });
  const passed = await operator.put('/api/zones/lane/lane-1', { zone: LEFT });
  assert.equal(passed.statusCode, 502);
  assert.match(passed.json().message, /checkout cannot be reached/);

  const noToken = await operator.put('/api/zones/lane/lane-1', { zone: LEFT }, { 'x-csrf-token': '' });
  assert.equal(noToken.statusCode, 403);
  assert.match(noToken.json().message, /X-CSRF-Token/);
  const crossOrigin = await operator.put('/api/zones/lane/lane-1', { zone: LEFT }, { origin: 'http://evil.example' });
  assert.equal(crossOrigin.statusCode, 403);
  assert.match(crossOrigin.json().message, /cross-origin/);
  const viewer = await login(app, VIEWER);
  const refused = await client(app, viewer).put('/api/zones/rule/door', { zone: LEFT });
  assert.equal(refused.statusCode, 403);
  assert.match(refused.json().message, /victor is a viewer account/);

  const badId = await operator.put('/api/zones/lane/..%2F..%2Falerts', { zone: LEFT });
  assert.equal(badId.statusCode, 400);
  assert.match(badId.json().message, /^id: must be 1-64 characters/);
  assert.equal((await operator.put(`/api/zones/rule/${'r'.repeat(65)}`, { zone: LEFT })).statusCode, 400);
  assert.equal((await operator.put('/api/zones/camera/demo', { zone: LEFT })).statusCode, 404);
  assert.equal((await operator.put('/api/zones/lane/lane-1', { zone: Array.from({ length: 2000 }, () => [0.123456789, 0.987654321]) })).statusCode, 413);
  assert.equal((await operator.put('/api/zones/lane/lane-1', '{"zone": [[0, 0],', {})).statusCode, 400);
  assert.equal((await operator.put('/api/zones/lane/lane-1', 'zone=0,0', { 'content-type': 'application/x-www-form-urlencoded' })).statusCode, 415);
});

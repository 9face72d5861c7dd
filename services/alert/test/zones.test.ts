import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { ZonesFileError } from '@sightline/kit';
import { sleep, startTestBroker, waitUntil } from '@sightline/kit/testing';
import { channels, type AlertEvent, type Bus } from '@sightline/schemas';
import { createAlertApp, ZONES_FILE, type AlertApp } from '../src/app.ts';
import type { AlertConfig } from '../src/config.ts';
import { detections, FakeClock, makeConfig, personAt, rules, tempDir, testClient, testLogger } from './helpers.ts';

const TOKEN = 'zones-token-0123456789abcdefghijklmnopqrstuv';

/** Halves of the frame, as a rules file or the console writes them. */
const LEFT = [
  [0, 0],
  [0.5, 0],
  [0.5, 1],
  [0, 1],
];
const RIGHT = [
  [0.5, 0],
  [1, 0],
  [1, 1],
  [0.5, 1],
];
const points = (zone: number[][]) => zone.map(([x, y]) => ({ x, y }));

/** A restricted zone on the left of cam1, and rules of other types beside it. */
function zoneRules(camera = 'cam1') {
  return rules(
    { id: 'door', type: 'person-in-zone', camera, zone: LEFT, dwellSeconds: 0, clearSeconds: 3 },
    { id: 'cams', type: 'camera-offline' },
    { id: 'weights', type: 'weight-mismatch' },
  );
}

interface Setup {
  app: AlertApp;
  bus: Bus;
  events: AlertEvent[];
  clock: FakeClock;
  dataDir: string;
  url: string;
  config: AlertConfig;
}

async function setup(t: TestContext, overrides: Partial<AlertConfig> = {}, dataDir = tempDir(t), url?: string): Promise<Setup> {
  const brokerUrl = url ?? (await startTestBroker(t)).url;
  const clock = new FakeClock();
  const config = makeConfig(dataDir, { mqtt: { url: brokerUrl, topicPrefix: 'sightline' }, updateIntervalMs: 0, rules: zoneRules(), ...overrides });
  const app = createAlertApp(config, testLogger(), { now: clock.now });
  let stopped = false;
  t.after(() => (stopped ? undefined : app.stop()));
  const stop = app.stop.bind(app);
  Object.assign(app, { stop: async () => ((stopped = true), stop()) });
  await app.start();
  await waitUntil('the alert service is ready', () => app.bus.ready());
  const { bus, events } = await testClient(t, brokerUrl);
  return { app, bus, events, clock, dataDir, url: brokerUrl, config };
}

const put = (app: AlertApp, zone: unknown, id = 'door', headers: Record<string, string> = {}) =>
  app.http.inject({ method: 'PUT', url: `/rules/${id}/zone`, payload: { zone }, headers });
const getZone = async (app: AlertApp, id = 'door') => (await app.http.inject({ method: 'GET', url: `/rules/${id}/zone` })).json();

/** A person standing at (x, y) on cam1, in a few detections messages, then a moment for any alert to come through. */
async function personStands(s: Setup, x: number, y: number): Promise<void> {
  for (let i = 0; i < 3; i++) await s.bus.publish(channels.detections, { camera: 'cam1' }, detections('cam1', [personAt(x, y)]));
  await sleep(150);
}
const zoneAlerts = (events: AlertEvent[]) => events.filter((e) => e.alert.type === 'person-in-zone').map((e) => e.type);

test('GET /rules lists the rules with their ids; GET /rules/:id/zone answers a zone rule, 404 for no rule, 409 for a rule without a zone, 400 for a bad id', async (t) => {
  const s = await setup(t);
  const listed = await s.app.http.inject({ method: 'GET', url: '/rules' });
  assert.equal(listed.statusCode, 200);
  const { rules: all } = listed.json() as { rules: Array<{ id: string; type: string; zone?: unknown }> };
  assert.deepEqual(
    all.map((rule) => [rule.id, rule.type]),
    [
      ['door', 'person-in-zone'],
      ['cams', 'camera-offline'],
      ['weights', 'weight-mismatch'],
    ],
  );
  assert.deepEqual(all[0]!.zone, points(LEFT));
  assert.deepEqual(await getZone(s.app), { rule: 'door', camera: 'cam1', zone: points(LEFT) });

  const answers: Array<[string, number, RegExp]> = [
    ['/rules/nope/zone', 404, /^no rule nope$/],
    ['/rules/cams/zone', 409, /^rule cams is a camera-offline rule: only person-in-zone rules have a zone$/],
    ['/rules/..%2Fdoor/zone', 400, /^id: must be 1-64 characters/],
    [`/rules/${'x'.repeat(65)}/zone`, 400, /^id: /],
  ];
  for (const [url, status, message] of answers) {
    for (const method of ['GET', 'PUT'] as const) {
      const response = await s.app.http.inject({ method, url, ...(method === 'PUT' ? { payload: { zone: RIGHT } } : {}) });
      assert.equal(response.statusCode, status, `${method} ${url}`);
      assert.match(response.json().message, message, `${method} ${url}`);
    }
  }
  assert.deepEqual((await getZone(s.app)).zone, points(LEFT), 'nothing changed');
});

test('PUT /rules/:id/zone: the next detections use it (a person inside the new zone raises person-in-zone, outside does not); one it leaves out clears', async (t) => {
  const s = await setup(t);
  await personStands(s, 0.8, 0.9);
  assert.deepEqual(zoneAlerts(s.events), [], 'on the right, outside the rules file zone');

  const changed = await put(s.app, RIGHT);
  assert.equal(changed.statusCode, 200, changed.body);
  assert.deepEqual(changed.json(), { rule: 'door', camera: 'cam1', zone: points(RIGHT) });
  const listed = (await s.app.http.inject({ method: 'GET', url: '/rules' })).json() as { rules: Array<{ id: string; zone?: unknown }> };
  assert.deepEqual(listed.rules.find((rule) => rule.id === 'door')!.zone, points(RIGHT), 'GET /rules shows the zone in use');

  await personStands(s, 0.2, 0.9);
  assert.deepEqual(zoneAlerts(s.events), [], 'on the left, in the old zone only');
  await personStands(s, 0.8, 0.9);
  await waitUntil('the person on the right raises person-in-zone', () => zoneAlerts(s.events).includes('new'));
  const raised = s.events.find((e) => e.type === 'new')!;
  assert.equal(raised.alert.rule, 'door');
  assert.equal(raised.alert.camera, 'cam1');

  // Back to the left: the person on the right is now outside, so the zone is clear and the alert ends after clearSeconds.
  assert.equal((await put(s.app, LEFT)).statusCode, 200);
  await personStands(s, 0.8, 0.9);
  s.clock.advance(3000);
  await waitUntil('the alert ends', () => zoneAlerts(s.events).includes('end'));
  assert.equal(s.events.find((e) => e.type === 'end')!.alert.id, raised.alert.id);
});

test('a zone PUT survives a restart: a new app on the same data dir uses it over the rules file; a rule now on another camera does not', async (t) => {
  const first = await setup(t);
  assert.equal((await put(first.app, RIGHT)).statusCode, 200);
  await first.app.stop();
  const saved = JSON.parse(readFileSync(path.join(first.dataDir, ZONES_FILE), 'utf8'));
  assert.deepEqual(saved.zones.door.zone, points(RIGHT));
  assert.equal(saved.zones.door.camera, 'cam1');
  assert.equal(
    first.config.rules[0]!.type === 'person-in-zone' && first.config.rules[0]!.zone[0]!.x,
    0,
    'the app changed its own rules, not the configuration it was given',
  );

  // A fresh configuration, as a restart reads it: the rules file says the left half.
  const second = await setup(t, {}, first.dataDir, first.url);
  assert.deepEqual((await getZone(second.app)).zone, points(RIGHT));
  await personStands(second, 0.2, 0.9);
  assert.deepEqual(zoneAlerts(second.events), [], 'outside the saved zone');
  await personStands(second, 0.8, 0.9);
  await waitUntil('inside the saved zone', () => zoneAlerts(second.events).includes('new'));
  await second.app.stop();

  // The rule now watches another camera: a zone drawn on the old one's frame would watch the wrong place.
  const third = await setup(t, { rules: zoneRules('cam2') }, first.dataDir, first.url);
  assert.deepEqual(await getZone(third.app), { rule: 'door', camera: 'cam2', zone: points(LEFT) });
});

test('PUT /rules/:id/zone refuses every invalid or hostile body with the reason, and nothing changes', async (t) => {
  const s = await setup(t);
  const json = { 'content-type': 'application/json' };
  const right = JSON.stringify(RIGHT);
  // Bodies as a client sends them: JSON text.
  const cases: Array<[string, { payload?: string; headers?: Record<string, string> }, number, RegExp]> = [
    ['two points', { payload: '{"zone": [[0, 0], [1, 1]]}' }, 400, /^zone: needs at least 3 points$/],
    ['65 points', { payload: JSON.stringify({ zone: Array.from({ length: 65 }, (_, i) => [i / 65, (i % 2) / 2]) }) }, 400, /has more than 64 points/],
    ['out of range', { payload: '{"zone": [[0, 0], [1.5, 0], [1, -1]]}' }, 400, /^zone\.1\.x: x must be 0-1; zone\.2\.y: y must be 0-1$/],
    ['strings', { payload: '{"zone": [["0", 0], [1, 0], [1, 1]]}' }, 400, /^zone\.0\.x: x must be a number$/],
    ['infinity', { payload: '{"zone": [[0, 0], [1e999, 0], [1, 1]]}' }, 400, /^zone\.1\.x: x must be a number$/],
    ['NaN (not JSON)', { payload: '{"zone": [[0, 0], [NaN, 0], [1, 1]]}' }, 400, /not valid JSON/],
    ['a bow tie', { payload: '{"zone": [[0, 0], [1, 1], [1, 0], [0, 1]]}' }, 400, /^zone: edges 0-1 and 2-3 cross or touch/],
    ['a figure of eight', { payload: '{"zone": [[0, 0], [0.5, 0.5], [1, 0], [1, 1], [0.5, 0.5], [0, 1]]}' }, 400, /cross or touch/],
    ['on one line', { payload: '{"zone": [[0, 0], [0.5, 0.5], [1, 1]]}' }, 400, /^zone: encloses no area/],
    ['a repeated point', { payload: '{"zone": [[0, 0], [1, 0], [1, 0], [0, 1]]}' }, 400, /^zone: points 1 and 2 are the same point/],
    ['a closed ring', { payload: '{"zone": [[0, 0], [1, 0], [0, 1], [0, 0]]}' }, 400, /^zone: the last point repeats the first/],
    ['a point with an extra key', { payload: '{"zone": [[0, 0], {"x": 1, "y": 0, "z": 1}, [0, 1]]}' }, 400, /^zone\.1: must be a point/],
    ['an extra key', { payload: `{"zone": ${right}, "dwellSeconds": 0}` }, 400, /^unknown key "dwellSeconds"/],
    ['the zone missing', { payload: '{}' }, 400, /^zone: must be a list of points$/],
    ['a bare list', { payload: right }, 400, /^the body must be \{"zone"/],
    ['prototype pollution', { payload: `{"zone": ${right}, "__proto__": {"zone": 1}}` }, 400, /not valid JSON/],
    ['an empty body', { payload: '' }, 400, /empty/],
    ['over 16 KiB', { payload: `{"zone": ${right}, "pad": "${' '.repeat(17_000)}"}` }, 413, /too large/i],
    ['text/plain', { payload: `{"zone": ${right}}`, headers: { 'content-type': 'text/plain' } }, 415, /takes a JSON body/],
    ['a form', { payload: 'zone=0,0,1,0,0,1', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, /takes a JSON body/],
    ['no body', { headers: {} }, 415, /not no Content-Type/],
  ];
  for (const [what, { payload, headers = json }, status, message] of cases) {
    const response = await s.app.http.inject({ method: 'PUT', url: '/rules/door/zone', headers, ...(payload === undefined ? {} : { payload }) });
    assert.equal(response.statusCode, status, `${what}: ${response.body.slice(0, 300)}`);
    const body = response.json() as { error?: unknown; message?: unknown };
    assert.equal(typeof body.error, 'string', what);
    assert.match(String(body.message), message, what);
  }
  assert.deepEqual((await getZone(s.app)).zone, points(LEFT));
  assert.equal(existsSync(path.join(s.dataDir, ZONES_FILE)), false, 'nothing saved');
  await personStands(s, 0.2, 0.9);
  await waitUntil('the rules file zone still raises', () => zoneAlerts(s.events).includes('new'));
});

test('the rule routes need the HTTP token when one is configured, like every other route', async (t) => {
  const s = await setup(t, { http: { host: '127.0.0.1', port: 0, token: TOKEN } });
  for (const authorization of [undefined, 'Bearer wrong-token-0123456789abcdefghijklmnop', TOKEN, `Basic ${TOKEN}`]) {
    const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
    for (const url of ['/rules', '/rules/door/zone']) assert.equal((await s.app.http.inject({ method: 'GET', url, headers })).statusCode, 401, `GET ${url}`);
    const write = await put(s.app, RIGHT, 'door', headers);
    assert.equal(write.statusCode, 401, `PUT with ${authorization}`);
    assert.match(write.json().message, /Authorization: Bearer/);
  }
  const authorized = { authorization: `Bearer ${TOKEN}` };
  assert.deepEqual((await s.app.http.inject({ method: 'GET', url: '/rules/door/zone', headers: authorized })).json().zone, points(LEFT), 'nothing changed');
  const write = await put(s.app, RIGHT, 'door', authorized);
  assert.equal(write.statusCode, 200);
  assert.deepEqual(write.json().zone, points(RIGHT));
});

test('a zone that cannot be saved is not applied: 500 with the reason; a saved zones file that is not ours stops the start', async (t) => {
  const s = await setup(t);
  // A folder in the file's place: the rename over it fails, as a full or read-only disk would.
  mkdirSync(path.join(s.dataDir, ZONES_FILE, 'in-the-way'), { recursive: true });
  const refused = await put(s.app, RIGHT);
  assert.equal(refused.statusCode, 500);
  assert.equal(refused.json().error, 'not saved');
  assert.match(refused.json().message, /^the zone could not be saved, so nothing changed: /);
  assert.deepEqual((await getZone(s.app)).zone, points(LEFT));
  await personStands(s, 0.8, 0.9);
  assert.deepEqual(zoneAlerts(s.events), [], 'the right half is still outside');
  await s.app.stop();

  const dataDir = tempDir(t);
  writeFileSync(path.join(dataDir, ZONES_FILE), '{"zones": {"door": {"camera": "cam1", "zone": [[0, 0], [1, 1], [1, 0], [0, 1]], "updatedAt": 1}}}');
  const app = createAlertApp(makeConfig(dataDir, { rules: zoneRules() }), testLogger());
  t.after(() => app.stop());
  await assert.rejects(app.start(), (err: unknown) => err instanceof ZonesFileError && /zones\.door\.zone: edges 0-1 and 2-3 cross/.test(err.message));
});

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { ZonesFileError } from '@sightline/kit';
import { sleep, startTestBroker, waitUntil } from '@sightline/kit/testing';
import { channels, WHOLE_FRAME, type Scan } from '@sightline/schemas';
import { createCheckoutApp, ZONES_FILE, type CheckoutApp } from '../src/app.ts';
import type { CheckoutConfig } from '../src/config.ts';
import { Clock, connectPeer, laneConfig, sendFrames, silentLogger, startApp, tempDir, testConfig, type Peer } from './helpers.ts';

const TOKEN = 'zones-token-0123456789abcdefghijklmnopqrstuv';

/** The left half of the frame. */
const LEFT = [
  [0, 0],
  [0.5, 0],
  [0.5, 1],
  [0, 1],
];
const leftAsPoints = LEFT.map(([x, y]) => ({ x, y }));

interface Setup {
  app: CheckoutApp;
  peer: Peer;
  clock: Clock;
  scans: Scan[];
  dataDir: string;
  url: string;
  config: CheckoutConfig;
}

async function setup(t: TestContext, overrides: Partial<CheckoutConfig> = {}, dataDir = tempDir(t)): Promise<Setup> {
  const broker = await startTestBroker(t);
  const clock = new Clock();
  const config = testConfig(dataDir, broker.url, { lanes: [laneConfig({ scale: false })], ...overrides });
  const peer = await connectPeer(t, broker.url);
  const scans = await peer.collect(channels.scan);
  const app = await startApp(t, config, { now: clock.now });
  return { app, peer, clock, scans, dataDir, url: broker.url, config };
}

const put = (app: CheckoutApp, zone: unknown, lane = 'lane-1', headers: Record<string, string> = {}) =>
  app.runtime.http.inject({ method: 'PUT', url: `/lanes/${lane}/zone`, payload: { zone }, headers });
const getZone = async (app: CheckoutApp, lane = 'lane-1') => (await app.runtime.http.inject({ method: 'GET', url: `/lanes/${lane}/zone` })).json();

/** Frames enough to scan anything in the zone, then a moment for a scan to come through the broker. */
async function show(s: Setup, objects: Parameters<typeof sendFrames>[3], frames = 4): Promise<void> {
  await sendFrames(s.peer, s.clock, frames, objects);
  await sleep(150);
}

test('PUT /lanes/:lane/zone: the next frames use it (outside is no longer scanned, inside is; a scan under way outside stops); GET answers it', async (t) => {
  const s = await setup(t);
  assert.deepEqual(await getZone(s.app), { lane: 'lane-1', camera: 'demo', zone: WHOLE_FRAME });

  // The whole frame: the right half scans.
  await show(s, [{ label: 'cake', at: [0.8, 0.5] }], 3);
  await waitUntil('the cake on the right is scanned', () => s.scans.length === 1);
  // A sandwich on the right, two frames of three: its scan is under way when the zone changes.
  await sendFrames(s.peer, s.clock, 2, [{ label: 'sandwich', at: [0.8, 0.3] }]);

  const changed = await put(s.app, LEFT);
  assert.equal(changed.statusCode, 200, changed.body);
  assert.deepEqual(changed.json(), { lane: 'lane-1', camera: 'demo', zone: leftAsPoints });
  assert.deepEqual(await getZone(s.app), { lane: 'lane-1', camera: 'demo', zone: leftAsPoints });

  await show(s, [
    { label: 'sandwich', at: [0.8, 0.3] },
    { label: 'donut', at: [0.8, 0.6] },
  ]);
  assert.deepEqual(
    s.scans.map((scan) => scan.product.sku),
    ['BAKERY-CAKE'],
    'nothing on the right scans any more, the sandwich under way included',
  );
  await show(s, [{ label: 'donut', at: [0.2, 0.6] }]);
  await waitUntil('the donut on the left is scanned', () => s.scans.length === 2);
  assert.equal(s.scans[1]!.product.sku, 'BAKERY-DONUT');
  // A box whose centre is just outside the edge, though most of the box is inside, is outside.
  await show(s, [{ label: 'hot dog', at: [0.52, 0.5] }]);
  assert.equal(s.scans.length, 2);

  const status = (await s.app.runtime.http.inject({ method: 'GET', url: '/lanes' })).json() as { lanes: Array<{ inZone: string[] }> };
  assert.deepEqual(status.lanes[0]!.inZone, [], 'what the zone no longer covers is not in it');
});

test('a zone PUT survives a restart: a new app on the same data dir uses it over the lanes file; a lane now on another camera does not', async (t) => {
  const first = await setup(t);
  const triangle = [
    [0, 0],
    [0.6, 0],
    [0, 0.6],
  ];
  assert.equal((await put(first.app, triangle)).statusCode, 200);
  await first.app.stop();
  const saved = JSON.parse(readFileSync(path.join(first.dataDir, ZONES_FILE), 'utf8'));
  assert.deepEqual(Object.keys(saved.zones), ['lane-1']);
  assert.equal(saved.zones['lane-1'].camera, 'demo');
  assert.deepEqual(first.config.lanes[0]!.zone, WHOLE_FRAME, 'the app changed its own lanes, not the configuration it was given');

  // A fresh configuration, as a restart reads it: the lanes file says the whole frame.
  const second = await setup(t, {}, first.dataDir);
  assert.deepEqual(
    (await getZone(second.app)).zone,
    triangle.map(([x, y]) => ({ x, y })),
  );
  await show(second, [{ label: 'cake', at: [0.5, 0.5] }]);
  assert.equal(second.scans.length, 0, 'outside the saved zone');
  await show(second, [{ label: 'cake', at: [0.2, 0.2] }]);
  await waitUntil('inside the saved zone', () => second.scans.length === 1);
  await second.app.stop();

  // The lane now watches another camera: a zone drawn on the old one's frame would watch the wrong place.
  const third = await setup(t, { lanes: [laneConfig({ scale: false, camera: 'cam-9' })] }, first.dataDir);
  assert.deepEqual(await getZone(third.app), { lane: 'lane-1', camera: 'cam-9', zone: WHOLE_FRAME });
});

test('PUT /lanes/:lane/zone refuses every invalid or hostile body with the reason, and nothing changes', async (t) => {
  const s = await setup(t);
  const http = s.app.runtime.http;
  const json = { 'content-type': 'application/json' };
  const left = JSON.stringify(LEFT);
  // Bodies as a client sends them: JSON text.
  const cases: Array<[string, { payload?: string; headers?: Record<string, string>; url?: string }, number, RegExp]> = [
    ['two points', { payload: '{"zone": [[0, 0], [1, 1]]}' }, 400, /^zone: needs at least 3 points$/],
    ['65 points', { payload: JSON.stringify({ zone: Array.from({ length: 65 }, (_, i) => [i / 65, (i % 2) / 2]) }) }, 400, /has more than 64 points/],
    ['out of range', { payload: '{"zone": [[0, 0], [1.5, 0], [1, -1]]}' }, 400, /^zone\.1\.x: x must be 0-1; zone\.2\.y: y must be 0-1$/],
    ['strings', { payload: '{"zone": [["0", 0], [1, 0], [1, 1]]}' }, 400, /^zone\.0\.x: x must be a number$/],
    ['infinity', { payload: '{"zone": [[0, 0], [1e999, 0], [1, 1]]}' }, 400, /^zone\.1\.x: x must be a number$/],
    ['NaN (not JSON)', { payload: '{"zone": [[0, 0], [NaN, 0], [1, 1]]}' }, 400, /not valid JSON/],
    ['a bow tie', { payload: '{"zone": [[0, 0], [1, 1], [1, 0], [0, 1]]}' }, 400, /^zone: edges 0-1 and 2-3 cross or touch/],
    ['on one line', { payload: '{"zone": [[0, 0], [0.5, 0.5], [1, 1]]}' }, 400, /^zone: encloses no area/],
    ['a repeated point', { payload: '{"zone": [[0, 0], [1, 0], [1, 0], [0, 1]]}' }, 400, /^zone: points 1 and 2 are the same point/],
    ['a closed ring', { payload: '{"zone": [[0, 0], [1, 0], [0, 1], [0, 0]]}' }, 400, /^zone: the last point repeats the first/],
    ['a point of three numbers', { payload: '{"zone": [[0, 0], [1, 0, 0], [0, 1]]}' }, 400, /^zone\.1: must be a point/],
    ['a point with an extra key', { payload: '{"zone": [[0, 0], {"x": 1, "y": 0, "z": 1}, [0, 1]]}' }, 400, /^zone\.1: must be a point/],
    ['nested arrays', { payload: `{"zone": ${'['.repeat(200)}${']'.repeat(200)}}` }, 400, /must be a point/],
    ['an extra key', { payload: `{"zone": ${left}, "camera": "cam-2"}` }, 400, /^unknown key "camera"/],
    ['the zone missing', { payload: '{}' }, 400, /^zone: must be a list of points$/],
    ['a string zone', { payload: '{"zone": "all"}' }, 400, /^zone: must be a list of points$/],
    ['a bare list', { payload: left }, 400, /^the body must be \{"zone"/],
    ['null', { payload: 'null' }, 400, /^the body must be \{"zone"/],
    ['prototype pollution', { payload: `{"zone": ${left}, "__proto__": {"zone": 1}}` }, 400, /not valid JSON/],
    ['not JSON', { payload: '{"zone": [[0, 0], ' }, 400, /not valid JSON/],
    ['an empty body', { payload: '' }, 400, /empty/],
    ['over 16 KiB', { payload: `{"zone": ${left}, "pad": "${' '.repeat(17_000)}"}` }, 413, /too large/i],
    ['over 16 KiB of whitespace', { payload: `{"zone": ${left}${' '.repeat(17_000)}}` }, 413, /too large/i],
    ['text/plain', { payload: `{"zone": ${left}}`, headers: { 'content-type': 'text/plain' } }, 415, /takes a JSON body/],
    ['a form', { payload: 'zone=0,0,1,0,0,1', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, /takes a JSON body/],
    ['no body', { headers: {} }, 415, /not no Content-Type/],
    ['a bad lane id', { payload: `{"zone": ${left}}`, url: '/lanes/..%2Flane-1/zone' }, 400, /bad lane id/],
    ['an unknown lane', { payload: `{"zone": ${left}}`, url: '/lanes/lane-7/zone' }, 404, /unknown lane "lane-7": this checkout serves lane-1/],
  ];
  for (const [what, { payload, headers = json, url = '/lanes/lane-1/zone' }, status, message] of cases) {
    const response = await http.inject({ method: 'PUT', url, headers, ...(payload === undefined ? {} : { payload }) });
    assert.equal(response.statusCode, status, `${what}: ${response.body.slice(0, 300)}`);
    const body = response.json() as { error?: unknown; message?: unknown };
    assert.equal(typeof body.error, 'string', what);
    assert.match(String(body.message), message, what);
  }
  assert.deepEqual((await getZone(s.app)).zone, WHOLE_FRAME);
  assert.equal(existsSync(path.join(s.dataDir, ZONES_FILE)), false, 'nothing saved');
  await show(s, [{ label: 'cake', at: [0.9, 0.9] }]);
  await waitUntil('the whole frame still scans', () => s.scans.length === 1);
});

test('the zone routes need the HTTP token when one is configured, like every other route', async (t) => {
  const s = await setup(t, { http: { host: '127.0.0.1', port: 0, token: TOKEN } });
  const http = s.app.runtime.http;
  for (const authorization of [undefined, 'Bearer wrong-token-0123456789abcdefghijklmnop', TOKEN, `Basic ${TOKEN}`]) {
    const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
    const read = await http.inject({ method: 'GET', url: '/lanes/lane-1/zone', headers });
    assert.equal(read.statusCode, 401, `GET with ${authorization}`);
    const write = await put(s.app, LEFT, 'lane-1', headers);
    assert.equal(write.statusCode, 401, `PUT with ${authorization}`);
    assert.match(write.json().message, /Authorization: Bearer/);
  }
  const authorized = { authorization: `Bearer ${TOKEN}` };
  assert.deepEqual((await http.inject({ method: 'GET', url: '/lanes/lane-1/zone', headers: authorized })).json().zone, WHOLE_FRAME, 'nothing changed');
  const write = await put(s.app, LEFT, 'lane-1', authorized);
  assert.equal(write.statusCode, 200);
  assert.deepEqual(write.json().zone, leftAsPoints);
});

test('a zone that cannot be saved is not applied: 500 with the reason; a saved zones file that is not ours stops the start', async (t) => {
  const s = await setup(t);
  // A folder in the file's place: the rename over it fails, as a full or read-only disk would.
  mkdirSync(path.join(s.dataDir, ZONES_FILE, 'in-the-way'), { recursive: true });
  const refused = await put(s.app, LEFT);
  assert.equal(refused.statusCode, 500);
  assert.equal(refused.json().error, 'not saved');
  assert.match(refused.json().message, /^the zone could not be saved, so nothing changed: /);
  assert.deepEqual((await getZone(s.app)).zone, WHOLE_FRAME);
  await show(s, [{ label: 'cake', at: [0.9, 0.5] }]);
  await waitUntil('the whole frame still scans', () => s.scans.length === 1);
  await s.app.stop();

  const dataDir = tempDir(t);
  writeFileSync(path.join(dataDir, ZONES_FILE), '{"zones": {"lane-1": {"camera": "demo", "zone": [[0, 0], [1, 1], [1, 0], [0, 1]], "updatedAt": 1}}}');
  const app = createCheckoutApp(testConfig(dataDir, s.url), silentLogger);
  t.after(() => app.stop());
  await assert.rejects(app.start(), (err: unknown) => err instanceof ZonesFileError && /zones\.lane-1\.zone: edges 0-1 and 2-3 cross/.test(err.message));
});

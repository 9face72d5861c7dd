import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import type { ContainerClient } from '@azure/storage-blob';
import { blobName } from '../src/blob.ts';
import { createSyncApp } from '../src/app.ts';
import { KeptList, type KeptEntry } from '../src/kept.ts';
import { detectionsFor, publisher, startApp, startAzurite, startTestBroker, tempDir, testConfig, testLogger, waitUntil } from './helpers.ts';

const TOKEN = 'kept-images-token-0123456789abcdefghijk';
const auth = { authorization: `Bearer ${TOKEN}` };

interface Listed extends KeptEntry {
  url: string;
}
interface Listing {
  kept: Listed[];
  remembered: number;
  complete: boolean;
}

test('GET /kept lists what sync kept and GET /kept/<name> hands the JPEG over: from the outbox while it waits, from blob storage once uploaded, after a restart too', async (t) => {
  const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
  const dir = tempDir(t);
  const config = testConfig(broker.url, dir, azurite.connectionString, { SIGHTLINE_HTTP_TOKEN: TOKEN });
  const first = createSyncApp(config, testLogger());
  await first.start();
  let firstStopped = false;
  t.after(() => (firstStopped ? undefined : first.stop()));
  const http = first.runtime.http;
  const pub = await publisher(t, broker.url);
  await waitUntil('ready', async () => (await http.inject({ url: '/readyz' })).statusCode === 200, 5000);

  // Today, so a restart finds them in blob storage (it lists today's and yesterday's folders).
  const t0 = Date.now() - 60_000;
  const sent = new Map<number, Buffer>();
  const plan: Array<[number, Array<[string, number]>]> = [
    [
      0,
      [
        ['unknown-product', 0.55],
        ['person', 0.4],
      ],
    ],
    [1, [['orange', 0.95]]],
    [2, [['orange', 0.97]]],
  ];
  for (const [seq, objects] of plan) {
    sent.set(seq, await pub.frame('lane1', seq, t0 + seq * 100));
    await pub.detections(detectionsFor('lane1', seq, t0 + seq * 100, objects));
  }
  await pub.alert('lane1', 2, t0 + 200);
  await waitUntil('two uploaded', () => first.stats().uploaded === 2, 10_000);

  assert.equal((await http.inject({ url: '/kept' })).statusCode, 401, 'the token is asked for, as on every route');
  const all = (await http.inject({ url: '/kept', headers: auth })).json<Listing>();
  assert.equal(all.complete, true);
  assert.deepEqual(
    all.kept.map((k) => [k.seq, k.reason, k.state]),
    [
      [2, 'alert', 'uploaded'],
      [0, 'uncertain', 'uploaded'],
    ],
    'newest first',
  );
  const uncertain = (await http.inject({ url: '/kept?reason=uncertain&camera=lane1&limit=10', headers: auth })).json<Listing>();
  assert.equal(uncertain.kept.length, 1);
  const entry = uncertain.kept[0]!;
  const name = blobName('lane1', t0, 0);
  assert.deepEqual(entry, {
    name,
    camera: 'lane1',
    seq: 0,
    capturedAt: t0,
    reason: 'uncertain',
    label: 'unknown-product',
    score: 0.55,
    labels: ['unknown-product', 'person'],
    model: { id: 'test-model', version: '7' },
    state: 'uploaded',
    url: `/kept/${name}`,
  });
  assert.deepEqual((await http.inject({ url: '/kept?camera=elsewhere', headers: auth })).json<Listing>().kept, []);

  // Uploaded: read back from blob storage, byte for byte.
  const image = await http.inject({ url: entry.url, headers: auth });
  assert.equal(image.statusCode, 200, image.body);
  assert.equal(image.headers['content-type'], 'image/jpeg');
  assert.ok(image.rawPayload.equals(sent.get(0)!));
  // Percent-encoded levels are the same name.
  const encoded = await http.inject({ url: `/kept/${name.split('/').map(encodeURIComponent).join('%2F')}`, headers: auth });
  assert.equal(encoded.statusCode, 200, encoded.body);

  const refusals: Array<[string, string, number, RegExp]> = [
    ['a name sync never wrote', `/kept/${blobName('lane1', t0, 99)}`, 404, /no kept image named/],
    ['another camera', `/kept/${blobName('lane9', t0, 0)}`, 404, /no kept image/],
    ['climbing, encoded', '/kept/..%2F..%2Fetc%2Fpasswd', 400, /not a kept image name/],
    ['climbing inside a name', '/kept/lane1/2026/01/02/..%2F..%2F1-2.jpg', 400, /not a kept image name/],
    ['from the root', '/kept/%2Fetc%2Fpasswd', 400, /not a kept image name/],
    ['not a jpg', '/kept/lane1/2026/01/02/1-2.png', 400, /not a kept image name/],
    ['empty', '/kept/', 400, /not a kept image name/],
    ['limit 0', '/kept?limit=0', 400, /limit/],
    ['limit 501', '/kept?limit=501', 400, /limit/],
    ['bad reason', '/kept?reason=everything', 400, /reason/],
    ['bad camera', '/kept?camera=a%20b', 400, /camera/],
    ['unknown parameter', '/kept?cursor=1', 400, /cursor/],
  ];
  for (const [what, url, status, message] of refusals) {
    const res = await http.inject({ url, headers: auth });
    assert.equal(res.statusCode, status, `${what}: ${res.body}`);
    assert.match(res.json<{ error: string }>().error, message, what);
  }

  // Dot segments sent as they are (inject, like browsers, would resolve them first).
  const raw = await rawGet(first.runtime.httpPort(), '/kept/lane1/../../../etc/passwd');
  assert.match(raw, /^HTTP\/1\.1 400 /, raw);
  assert.match(raw, /not a kept image name/);

  // Blob storage down: a new uncertain frame waits in the outbox, listed and served from there.
  await azurite.stop();
  sent.set(3, await pub.frame('lane1', 3, t0 + 300));
  await pub.detections(detectionsFor('lane1', 3, t0 + 300, [['orange', 0.5]]));
  // Listed once it is on disk in the outbox (the outbox counts it from the moment it reserves the space).
  await waitUntil('listed, waiting in the outbox', () => first.kept.list({ reason: 'uncertain', limit: 1 })[0]?.seq === 3, 5000);
  assert.equal(first.stats().outbox.images, 1);
  const waiting = (await http.inject({ url: '/kept?reason=uncertain', headers: auth })).json<Listing>().kept[0]!;
  assert.deepEqual([waiting.seq, waiting.state, waiting.label, waiting.score], [3, 'waiting', 'orange', 0.5]);
  const fromOutbox = await http.inject({ url: waiting.url, headers: auth });
  assert.equal(fromOutbox.statusCode, 200, fromOutbox.body);
  assert.ok(fromOutbox.rawPayload.equals(sent.get(3)!));
  const unreachable = await http.inject({ url: entry.url, headers: auth });
  assert.equal(unreachable.statusCode, 503, 'an uploaded image cannot be read back while blob storage is down');
  assert.match(unreachable.json<{ error: string }>().error, /blob storage cannot be reached/);
  await first.stop();
  firstStopped = true;

  // A new start: what waits in the outbox is listed at once, what was uploaded is found in blob storage.
  await azurite.restart();
  const second = await startApp(t, config);
  const again = (await second.runtime.http.inject({ url: '/kept', headers: auth })).json<Listing>();
  assert.equal(again.complete, true);
  assert.deepEqual(
    again.kept.map((k) => k.seq),
    [3, 2, 0],
  );
  assert.deepEqual(
    again.kept.find((k) => k.seq === 0),
    { ...entry, url: entry.url },
  );
  await waitUntil('the waiting one uploaded', () => second.stats().uploaded === 1, 10_000);
  assert.equal((await second.runtime.http.inject({ url: '/kept?reason=uncertain&limit=1', headers: auth })).json<Listing>().kept[0]!.state, 'uploaded');
  const readBack = await second.runtime.http.inject({ url: waiting.url, headers: auth });
  assert.ok(readBack.rawPayload.equals(sent.get(3)!), 'the same bytes once uploaded');
});

test('the kept list is bounded: the oldest accepted go first; an upload under another name and an eviction are followed', () => {
  const list = new KeptList({ maxEntries: 3, container: {} as ContainerClient, logger: testLogger(), now: Date.now, timeoutMs: 1000 });
  const entry = (seq: number): KeptEntry => ({
    name: blobName('lane1', 1_795_000_000_000 + seq, seq),
    camera: 'lane1',
    seq,
    capturedAt: 1_795_000_000_000 + seq,
    reason: 'uncertain',
    label: null,
    score: null,
    labels: [],
    model: null,
    state: 'waiting',
  });
  for (let seq = 0; seq < 5; seq++) list.add(entry(seq));
  assert.equal(list.size, 3);
  assert.deepEqual(
    list.list({ limit: 10 }).map((e) => e.seq),
    [4, 3, 2],
  );
  list.uploaded(entry(3).name, entry(3).name.replace('.jpg', '-0123456789ab.jpg'));
  assert.equal(list.get(entry(3).name), undefined);
  assert.equal(list.list({ limit: 10 }).find((e) => e.seq === 3)!.state, 'uploaded');
  list.remove(entry(4).name);
  assert.deepEqual(
    list.list({ limit: 1 }).map((e) => e.seq),
    [3],
  );
});

/** One GET written on a socket as is, the token with it; the whole answer as text. */
function rawGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.end(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`);
    });
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { channels, type Detections, type ProductState } from '@sightline/schemas';
import { metricValue, startApp, startBroker, tangerineJpeg, testConfig, topics, watch, type Watcher } from './service-helpers.ts';

// The same fruit seen again is ~0.99 similar, another fruit on the same grey at most 0.85.
const THRESHOLD = 0.95;

type Added = { product: { id: string; name: string | null; photos: number }; added: Array<{ source: string; crop: string; box: unknown; url: string }> };

async function frameOf(w: Watcher, camera: string, seq: number, jpeg: Buffer): Promise<Detections> {
  await w.sendFrame(camera, seq, jpeg);
  await w.waitFor(`detections of ${camera} ${seq}`, () => w.of(camera).some((d) => d.seq === seq));
  return w.of(camera).find((d) => d.seq === seq)!;
}

test('frames the lane saw are added to a product by camera and seq: source lane, the object cut out, and the next frame of the scene is the product', async (t) => {
  const broker = await startBroker(t);
  const base = testConfig(broker.url);
  const app = await startApp(t, {
    ...base,
    recentFrames: { perCamera: 3, maxBytes: 64 * 1024 * 1024 },
    recognition: { ...base.recognition, threshold: THRESHOLD },
  });
  const http = app.runtime.http;
  const w = await watch(t, broker.url);
  const { jpeg: tangerine } = await tangerineJpeg();
  const post = (product: string, payload: unknown) => http.inject({ method: 'POST', url: `/products/${product}/photos/from-lane`, payload: payload as object });

  const first = await frameOf(w, 'lane1', 1, tangerine);
  assert.equal(first.objects[0]!.label, 'orange', 'nothing enrolled yet: the detector label');
  const added = await post('clementine', { frames: [{ camera: 'lane1', seq: 1, object: 0 }], name: 'Clementines' });
  assert.equal(added.statusCode, 201, added.body);
  const body = added.json<Added>();
  assert.deepEqual([body.product.id, body.product.name, body.product.photos], ['clementine', 'Clementines', 1]);
  assert.equal(body.added[0]!.source, 'lane');
  assert.equal(body.added[0]!.crop, 'detector');
  assert.deepEqual(body.added[0]!.box, first.objects[0]!.box, "cut to the object's box as the lane saw it");
  assert.equal((await http.inject({ url: body.added[0]!.url })).headers['content-type'], 'image/jpeg');

  // Applied at once: the next frame of the scene is the product.
  const next = (await frameOf(w, 'lane1', 2, tangerine)).objects[0]!;
  assert.equal(next.label, 'clementine');
  assert.equal(next.recognition!.detectorLabel, 'orange');
  assert.ok(next.recognition!.similarity >= THRESHOLD, String(next.recognition!.similarity));

  const photos = () => app.products()!.get('clementine')!.photos.length;

  // A frame never seen and one held: 404 naming the missing one, nothing added.
  const unseen = await post('clementine', {
    frames: [
      { camera: 'lane1', seq: 2 },
      { camera: 'lane1', seq: 999 },
    ],
  });
  assert.equal(unseen.statusCode, 404, unseen.body);
  assert.match(unseen.json<{ error: string }>().error, /frame 2 \(lane1 seq 999\) is no longer held/);
  assert.doesNotMatch(unseen.json<{ error: string }>().error, /seq 2\)/);
  assert.equal(photos(), 1);
  // The ring holds 3 frames of each camera here: seq 2 goes once 3, 4 and 5 came.
  for (const seq of [3, 4, 5]) await frameOf(w, 'lane1', seq, tangerine);
  const aged = await post('clementine', { frames: [{ camera: 'lane1', seq: 2 }] });
  assert.equal(aged.statusCode, 404, aged.body);
  assert.match(aged.json<{ error: string }>().error, /lane1 seq 2\) is no longer held: the last 3 frames of each camera are \(now lane1 seq 3-5\)/);
  assert.equal(photos(), 1);

  // No object named: the one the lane most likely meant (the best-scored one compared). A box: that part.
  const box = { x: 0.25, y: 0.2, width: 0.5, height: 0.6 };
  const two = await post('clementine', {
    frames: [
      { camera: 'lane1', seq: 4 },
      { camera: 'lane1', seq: 5, box },
    ],
  });
  assert.equal(two.statusCode, 201, two.body);
  const [likely, boxed] = two.json<Added>().added;
  assert.deepEqual([likely!.source, likely!.crop, likely!.box], ['lane', 'detector', w.of('lane1').find((d) => d.seq === 4)!.objects[0]!.box]);
  assert.deepEqual([boxed!.source, boxed!.crop, boxed!.box], ['lane', 'box', box]);
  assert.equal(photos(), 3);

  // Hostile input: 400 with the reason, nothing added.
  const frame = (extra: object) => ({ camera: 'lane1', seq: 5, ...extra });
  const refusals: Array<[string, string, unknown, number, RegExp]> = [
    ['bad camera id', 'clementine', { frames: [{ camera: '../lane1', seq: 5 }] }, 400, /frames\[0\]\.camera|camera/],
    ['negative seq', 'clementine', { frames: [{ camera: 'lane1', seq: -1 }] }, 400, /seq/],
    ['fractional seq', 'clementine', { frames: [{ camera: 'lane1', seq: 1.5 }] }, 400, /seq/],
    ['21 frames', 'clementine', { frames: Array.from({ length: 21 }, () => frame({})) }, 400, /frames/],
    ['no frames', 'clementine', { frames: [] }, 400, /frames/],
    [
      'object out of range',
      'clementine',
      { frames: [frame({ object: 5 })] },
      400,
      /frame 1 \(lane1 seq 5\): object 5 does not exist; the frame has \d+ objects? \(0-\d+\)/,
    ],
    ['negative object', 'clementine', { frames: [frame({ object: -1 })] }, 400, /object/],
    ['box outside', 'clementine', { frames: [frame({ box: { x: 0.9, y: 0.9, width: 0.5, height: 0.5 } })] }, 400, /the box must lie inside the frame/],
    ['box without area', 'clementine', { frames: [frame({ box: { x: 0.1, y: 0.1, width: 0, height: 0.5 } })] }, 400, /have an area/],
    ['box past 1', 'clementine', { frames: [frame({ box: { x: 0, y: 0, width: 2, height: 0.5 } })] }, 400, /box/],
    ['camera without seq', 'clementine', { frames: [{ camera: 'lane1' }] }, 400, /needs both camera and seq/],
    ['recent and kept at once', 'clementine', { frames: [frame({ kept: 'lane1/2026/01/02/1-2.jpg' })] }, 400, /not both/],
    ['kept name climbing', 'clementine', { frames: [{ kept: '../../etc/passwd' }] }, 400, /kept image name/],
    ['unknown field', 'clementine', { frames: [frame({ url: 'http://example.com/x.jpg' })] }, 400, /url/],
    ['not a list', 'clementine', { frames: 'all' }, 400, /frames/],
    ['bad product id', '..%2Fetc', { frames: [frame({})] }, 400, /bad path/],
    ['a good frame beside a bad one', 'clementine', { frames: [frame({}), frame({ object: 7 })] }, 400, /frame 2 \(lane1 seq 5\): object 7/],
    [
      'kept, and no sync configured',
      'clementine',
      { frames: [frame({}), { kept: 'lane1/2026/01/02/1795000000001-1.jpg' }] },
      503,
      /SIGHTLINE_INFERENCE_SYNC_URL/,
    ],
  ];
  for (const [what, product, payload, status, message] of refusals) {
    const res = await post(product, payload);
    assert.equal(res.statusCode, status, `${what}: ${res.body}`);
    assert.match(res.json<{ error: string }>().error, message, what);
  }
  const text = await http.inject({ method: 'POST', url: '/products/clementine/photos/from-lane', headers: { 'content-type': 'text/plain' }, payload: 'seq 5' });
  assert.equal(text.statusCode, 415);
  assert.equal(photos(), 3, 'nothing refused was added');
  assert.deepEqual(
    app
      .products()!
      .list()
      .map((p) => p.id),
    ['clementine'],
  );
  assert.ok((await http.inject({ url: '/openapi.json' })).json<{ paths: Record<string, unknown> }>().paths['/products/{id}/photos/from-lane']);
});

test('over MQTT: add-from-lane adds recent frames, and a refusal names the frame on the state topic', async (t) => {
  const broker = await startBroker(t);
  const app = await startApp(t, testConfig(broker.url));
  const w = await watch(t, broker.url);
  const states: ProductState[] = [];
  w.client.on('message', (topic, payload) => {
    if (topics.match(channels.productState, topic)) states.push(channels.productState.codec.decode(payload));
  });
  await w.client.subscribeAsync(topics.topic(channels.productState, {}), { qos: 1 });
  await w.waitFor('the retained product state', () => states.length > 0);
  const send = (command: object) => w.client.publishAsync(topics.topic(channels.productCommand, {}), Buffer.from(JSON.stringify(command)), { qos: 1 });
  const { jpeg } = await tangerineJpeg();
  await frameOf(w, 'till-2', 40, jpeg);
  await frameOf(w, 'till-2', 41, jpeg);

  await send({
    action: 'add-from-lane',
    product: 'clementine',
    name: 'Clementines',
    frames: [
      { camera: 'till-2', seq: 40, object: 0 },
      { camera: 'till-2', seq: 41 },
    ],
  });
  await w.waitFor('two photos', () => states.at(-1)?.products[0]?.photos === 2);
  assert.deepEqual(states.at(-1)!.last, { action: 'add-from-lane', product: 'clementine', outcome: 'done' });
  assert.deepEqual(
    app
      .products()!
      .get('clementine')!
      .photos.map((p) => [p.source, p.crop]),
    [
      ['lane', 'detector'],
      ['lane', 'detector'],
    ],
  );
  assert.equal(app.products()!.get('clementine')!.name, 'Clementines');

  await send({
    action: 'add-from-lane',
    product: 'clementine',
    frames: [
      { camera: 'till-2', seq: 41 },
      { camera: 'till-2', seq: 7 },
    ],
  });
  await w.waitFor('the refusal', () => states.at(-1)?.last?.outcome === 'refused');
  assert.match(states.at(-1)!.last!.error!, /frame 2 \(till-2 seq 7\) is no longer held/);
  assert.equal(states.at(-1)!.products[0]!.photos, 2, 'nothing was added');

  // Hostile commands never reach the store (the bus drops what does not decode).
  await send({ action: 'add-from-lane', product: 'clementine', frames: Array.from({ length: 21 }, () => ({ camera: 'till-2', seq: 41 })) });
  await send({ action: 'add-from-lane', product: 'clementine', frames: [{ camera: 'till-2', seq: -4 }] });
  await send({ action: 'remove-product', product: 'still-listening' });
  await w.waitFor('the service still answers', () => states.at(-1)?.last?.product === 'still-listening');
  assert.equal(app.products()!.get('clementine')!.photos.length, 2);
});

test('a camera no longer served takes its recent frames with it', async (t) => {
  const broker = await startBroker(t);
  let clock = 1_000_000;
  const app = await startApp(t, { ...testConfig(broker.url), cameraIdleMs: 60_000 }, { now: () => clock });
  const w = await watch(t, broker.url);
  const { jpeg } = await tangerineJpeg();
  await frameOf(w, 'quiet', 1, jpeg);
  assert.deepEqual(app.recentFrames.cameras(), ['quiet']);
  clock += 61_000;
  await frameOf(w, 'busy', 1, jpeg);
  assert.deepEqual(app.recentFrames.cameras(), ['busy'], 'the quiet camera was forgotten, its frames with it');
  assert.equal(await metricValue(app, 'sightline_inference_recent_frames', {}), 1);
  assert.equal(await metricValue(app, 'sightline_inference_recent_frames_bytes', {}), app.recentFrames.bytes);
  assert.ok(app.recentFrames.bytes > jpeg.length);
  const res = await app.runtime.http.inject({ method: 'POST', url: '/products/x/photos/from-lane', payload: { frames: [{ camera: 'quiet', seq: 1 }] } });
  assert.equal(res.statusCode, 404);
  assert.match(res.json<{ error: string }>().error, /quiet seq 1\) is no longer held: .*\(now nothing of quiet\)/);
});

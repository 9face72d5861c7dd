import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiKeyCredentials } from '@azure/ms-rest-js';
import { PredictionAPIClient } from '@azure/cognitiveservices-customvision-prediction';
import sharp from 'sharp';
import { channels, UNKNOWN_PRODUCT_LABEL, type ProductState } from '@sightline/schemas';
import { COCO_LABELS } from '../src/model/coco-labels.ts';
import { emojiScene } from './helpers.ts';
import { startApp, startBroker, tangerineJpeg, testConfig, topics, watch } from './service-helpers.ts';

/** An emoji on grey as a JPEG frame. */
async function sceneJpeg(codepoint: string): Promise<Buffer> {
  const scene = await emojiScene(codepoint);
  return sharp(scene.rgb, { raw: { width: scene.width, height: scene.height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

function form(
  files: Buffer[],
  fields: Record<string, string> = {},
  boundary = 'sightline-test-boundary',
): { payload: Buffer; headers: Record<string, string> } {
  const parts = [
    ...Object.entries(fields).map(([name, value]) => Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`)),
    ...files.map((data, i) =>
      Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="photo"; filename="p${i}.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
        data,
        Buffer.from('\r\n'),
      ]),
    ),
    Buffer.from(`--${boundary}--\r\n`),
  ];
  return { payload: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

// Similarity needed in these tests: the same fruit seen again is ~0.99, another fruit on the same
// grey is at most 0.85 (measured), so 0.95 separates them with room on both sides.
const THRESHOLD = 0.95;

test('a product taught over HTTP from a photo names the objects of later frames; others become unknown-product', async (t) => {
  const broker = await startBroker(t);
  const app = await startApp(t, testConfig(broker.url, { recognition: { ...testConfig(broker.url).recognition, threshold: THRESHOLD } }));
  const http = app.runtime.http;
  const w = await watch(t, broker.url);
  const { jpeg: tangerine } = await tangerineJpeg();
  const banana = await sceneJpeg('1f34c');

  // Before any product: the detector's own labels, no recognition.
  await w.sendFrame('lane1', 1, tangerine);
  await w.waitFor('detections of frame 1', () => w.of('lane1').some((d) => d.seq === 1));
  const plain = w.of('lane1').find((d) => d.seq === 1)!;
  assert.equal(plain.objects[0]!.label, 'orange');
  assert.equal(plain.objects[0]!.recognition, undefined);
  assert.equal(plain.timings.recognitionMs, undefined);

  const { payload, headers } = form([tangerine], { name: 'Clementines' });
  const added = await http.inject({ method: 'POST', url: '/products/clementine/photos', headers, payload });
  assert.equal(added.statusCode, 201, added.body);
  const body = added.json<{
    product: { id: string; photos: number; name: string };
    added: Array<{ id: string; crop: string; box: object | null; url: string }>;
  }>();
  assert.deepEqual([body.product.id, body.product.photos, body.product.name], ['clementine', 1, 'Clementines']);
  assert.equal(body.added[0]!.crop, 'detector');
  assert.ok(body.added[0]!.box !== null, 'the detector found the fruit and the photo was cut to it');
  const stored = await http.inject({ url: body.added[0]!.url });
  assert.equal(stored.statusCode, 200);
  assert.equal(stored.headers['content-type'], 'image/jpeg');
  assert.equal((await sharp(stored.rawPayload).metadata()).format, 'jpeg');

  // Applied without a restart: the next frame's orange is the product.
  await w.sendFrame('lane1', 2, tangerine);
  await w.waitFor('detections of frame 2', () => w.of('lane1').some((d) => d.seq === 2));
  const named = w.of('lane1').find((d) => d.seq === 2)!.objects[0]!;
  assert.equal(named.label, 'clementine');
  assert.equal(named.recognition!.product, 'clementine');
  assert.equal(named.recognition!.detectorLabel, 'orange');
  assert.ok(named.recognition!.similarity >= THRESHOLD, String(named.recognition!.similarity));
  assert.ok((w.of('lane1').find((d) => d.seq === 2)!.timings.recognitionMs ?? 0) > 0);

  // A fruit nobody taught: unknown-product (the catalog sells none, so checkout says not recognised).
  await w.sendFrame('lane1', 3, banana);
  await w.waitFor('detections of frame 3', () => w.of('lane1').some((d) => d.seq === 3));
  const other = w.of('lane1').find((d) => d.seq === 3)!.objects[0]!;
  assert.equal(other.label, UNKNOWN_PRODUCT_LABEL);
  assert.equal(other.recognition!.product, null);
  // (The detector calls the banana emoji a kite: whatever it says is kept beside the verdict.)
  assert.ok(COCO_LABELS.includes(other.recognition!.detectorLabel), other.recognition!.detectorLabel);

  // Forgotten: back to the detector's label.
  assert.equal((await http.inject({ method: 'DELETE', url: '/products/clementine', payload: {} })).statusCode, 204);
  await w.sendFrame('lane1', 4, tangerine);
  await w.waitFor('detections of frame 4', () => w.of('lane1').some((d) => d.seq === 4));
  assert.equal(w.of('lane1').find((d) => d.seq === 4)!.objects[0]!.label, 'orange');
});

test('the product routes list, rename, remove photos and refuse bad requests with the reason', async (t) => {
  const broker = await startBroker(t);
  const app = await startApp(t, testConfig(broker.url));
  const http = app.runtime.http;
  const { jpeg: tangerine, object } = await tangerineJpeg();

  const made = await http.inject({ method: 'PUT', url: '/products/granny-smith', payload: { name: 'Granny Smith' } });
  assert.equal(made.statusCode, 201);
  assert.equal((await http.inject({ method: 'PUT', url: '/products/granny-smith', payload: { name: 'Granny Smith apples' } })).statusCode, 200);
  const raw = await http.inject({
    method: 'POST',
    url: `/products/granny-smith/photos?box=${[object.x, object.y, object.width, object.height].join(',')}`,
    headers: { 'content-type': 'image/jpeg' },
    payload: tangerine,
  });
  assert.equal(raw.statusCode, 201, raw.body);
  const whole = form([tangerine, tangerine], { crop: 'whole' });
  const two = await http.inject({ method: 'POST', url: '/products/granny-smith/photos', ...whole });
  assert.equal(two.statusCode, 201, two.body);
  const photos = two.json<{ added: Array<{ id: string; crop: string; box: unknown }> }>().added;
  assert.deepEqual(
    photos.map((p) => [p.crop, p.box]),
    [
      ['whole', null],
      ['whole', null],
    ],
  );

  const listed = (await http.inject({ url: '/products' })).json<{
    products: Array<{ id: string; name: string; photos: number }>;
    backbone: string;
    threshold: number;
  }>();
  assert.deepEqual(
    listed.products.map((p) => [p.id, p.name, p.photos]),
    [['granny-smith', 'Granny Smith apples', 3]],
  );
  assert.match(listed.backbone, /^mobilenetv2-140-[0-9a-f]{12}$/);
  assert.equal(listed.threshold, 0.6);
  assert.equal((await http.inject({ method: 'DELETE', url: `/products/granny-smith/photos/${photos[0]!.id}`, payload: {} })).statusCode, 204);
  assert.equal((await http.inject({ url: '/products/granny-smith' })).json<{ photos: unknown[] }>().photos.length, 2);

  type Request = { method?: 'GET' | 'POST' | 'PUT' | 'DELETE'; url: string; headers?: Record<string, string>; payload?: string | Buffer | object };
  const refusals: Array<[string, Request, number, RegExp]> = [
    ['bad id', { method: 'POST', url: '/products/..%2Fetc/photos', headers: { 'content-type': 'image/jpeg' }, payload: tangerine }, 400, /bad path/],
    ['empty body', { method: 'POST', url: '/products/x/photos', headers: { 'content-type': 'image/jpeg' }, payload: Buffer.alloc(0) }, 400, /no photo|empty/i],
    [
      'corrupt',
      { method: 'POST', url: '/products/x/photos', headers: { 'content-type': 'image/jpeg' }, payload: tangerine.subarray(0, 2000) },
      400,
      /cannot be decoded/,
    ],
    ['not an image', { method: 'POST', url: '/products/x/photos', ...form([Buffer.from('%PDF-1.7 hello')]) }, 400, /not a JPEG/],
    ['no file part', { method: 'POST', url: '/products/x/photos', ...form([], { crop: 'whole' }) }, 400, /no file part/],
    ['bad crop', { method: 'POST', url: '/products/x/photos', ...form([tangerine], { crop: 'everything' }) }, 400, /crop must be/],
    ['bad box', { method: 'POST', url: '/products/x/photos', ...form([tangerine], { box: '{"x": 2}' }) }, 400, /box/],
    [
      'box outside',
      { method: 'POST', url: '/products/x/photos?box=0.9,0.9,0.5,0.5', headers: { 'content-type': 'image/jpeg' }, payload: tangerine },
      400,
      /inside the photo/,
    ],
    ['no boundary', { method: 'POST', url: '/products/x/photos', headers: { 'content-type': 'multipart/form-data' }, payload: tangerine }, 400, /boundary/],
    ['21 photos', { method: 'POST', url: '/products/x/photos', ...form(Array.from({ length: 21 }, () => Buffer.from('x'))) }, 413, /at most 20/],
    [
      'over 16 MiB raw',
      { method: 'POST', url: '/products/x/photos', headers: { 'content-type': 'image/jpeg' }, payload: Buffer.alloc(17 * 1024 * 1024) },
      413,
      /exceeds/,
    ],
    ['text body', { method: 'POST', url: '/products/x/photos', headers: { 'content-type': 'text/plain' }, payload: 'hello' }, 415, /./],
    ['bad name', { method: 'PUT', url: '/products/x', payload: { name: 42 } }, 400, /expected/],
    ['unknown product', { url: '/products/nope' }, 404, /no product/],
    ['unknown photo', { url: '/products/granny-smith/photos/000000000000' }, 404, /no photo/],
    ['unknown delete', { method: 'DELETE', url: '/products/nope', payload: {} }, 404, /no product/],
  ];
  for (const [what, request, status, message] of refusals) {
    const res = await http.inject(request);
    assert.equal(res.statusCode, status, `${what}: ${res.body}`);
    if (status !== 415) assert.match(res.json<{ error: string }>().error, message, what);
  }
  assert.deepEqual(
    (await http.inject({ url: '/products' })).json<{ products: Array<{ id: string }> }>().products.map((p) => p.id),
    ['granny-smith'],
    'nothing refused was kept',
  );
  const openapi = (await http.inject({ url: '/openapi.json' })).json<{ paths: Record<string, unknown> }>();
  assert.ok(openapi.paths['/products/{id}/photos'], 'the product routes are described');
});

test('over MQTT: add-photos, remove-photo and remove-product apply at once; the retained state says how the last command went', async (t) => {
  const broker = await startBroker(t);
  const app = await startApp(t, testConfig(broker.url));
  const w = await watch(t, broker.url);
  const states: ProductState[] = [];
  w.client.on('message', (topic, payload) => {
    if (topics.match(channels.productState, topic)) states.push(channels.productState.codec.decode(payload));
  });
  await w.client.subscribeAsync(topics.topic(channels.productState, {}), { qos: 1 });
  await w.waitFor('the retained product state', () => states.length > 0);
  assert.deepEqual(states.at(-1)!.products, []);
  const send = (command: object) => w.client.publishAsync(topics.topic(channels.productCommand, {}), Buffer.from(JSON.stringify(command)), { qos: 1 });

  const { jpeg } = await tangerineJpeg();
  await send({
    action: 'add-photos',
    product: 'clementine',
    name: 'Clementines',
    photos: [{ image: jpeg.toString('base64') }, { image: jpeg.toString('base64'), crop: 'whole' }],
  });
  await w.waitFor('two photos', () => states.at(-1)?.products[0]?.photos === 2);
  assert.deepEqual(states.at(-1)!.last, { action: 'add-photos', product: 'clementine', outcome: 'done' });
  assert.equal(app.products()!.get('clementine')!.photos[0]!.source, 'mqtt');

  await send({ action: 'add-photos', product: 'clementine', photos: [{ image: jpeg.subarray(0, 3000).toString('base64') }] });
  await w.waitFor('the refusal', () => states.at(-1)?.last?.outcome === 'refused');
  assert.match(states.at(-1)!.last!.error!, /cannot be decoded/);
  assert.equal(states.at(-1)!.products[0]!.photos, 2, 'nothing was added');

  const first = app.products()!.get('clementine')!.photos[0]!.id;
  await send({ action: 'remove-photo', product: 'clementine', photo: first });
  await w.waitFor('one photo', () => states.at(-1)?.products[0]?.photos === 1);
  await send({ action: 'remove-product', product: 'clementine' });
  await w.waitFor('no product', () => states.at(-1)?.products.length === 0 && states.at(-1)?.last?.action === 'remove-product');

  // Payloads that do not decode never reach the store (the bus drops them and counts them).
  await send({ action: 'add-photos', product: '../../x', photos: [{ image: 'AAAA' }] });
  await send({ action: 'format-disk' });
  await w.client.publishAsync(topics.topic(channels.productCommand, {}), Buffer.from('{not json'), { qos: 1 });
  await send({ action: 'remove-product', product: 'still-listening' });
  await w.waitFor('the service still answers', () => states.at(-1)?.last?.product === 'still-listening');
  assert.equal(states.at(-1)!.last!.outcome, 'refused');
  assert.deepEqual(app.products()!.list(), []);
});

test("Custom Vision's SDK names an enrolled product like a model label", async (t) => {
  const broker = await startBroker(t);
  const app = await startApp(t, testConfig(broker.url, { recognition: { ...testConfig(broker.url).recognition, threshold: THRESHOLD } }));
  const { jpeg } = await tangerineJpeg();
  const added = await app.runtime.http.inject({ method: 'POST', url: '/products/clementine/photos', headers: { 'content-type': 'image/jpeg' }, payload: jpeg });
  assert.equal(added.statusCode, 201);
  const client = new PredictionAPIClient(
    new ApiKeyCredentials({ inHeader: { 'Prediction-Key': 'unused-on-loopback' } }),
    `http://127.0.0.1:${app.runtime.httpPort()}`,
  );
  const answer = await client.detectImage('5f3c6a2e-0000-4000-8000-000000000001', 'Iteration1', jpeg);
  assert.equal(answer.predictions?.[0]?.tagName, 'clementine');
});

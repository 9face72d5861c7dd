import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { createHttpApp, createLogger } from '@sightline/kit';
import * as ort from '../src/onnxruntime.ts';
import { Registry } from 'prom-client';
import sharp from 'sharp';
import { ImageError, IMAGE_BYTES_LIMIT, predictionApi, type PredictionApiOptions, type PredictResult } from '../src/custom-vision/prediction-api.ts';
import { createDecoder } from '../src/decoders/index.ts';
import { meanColourClassifier } from './onnx-fixtures.ts';

async function build(t: TestContext, options: PredictionApiOptions) {
  const registry = new Registry();
  const app = createHttpApp({ logger: createLogger('inference', 'silent'), registry, notReadyReason: () => null });
  await app.register(predictionApi, options);
  await app.ready();
  t.after(() => app.close());
  return app;
}

const fixed: PredictResult = {
  modelId: 'fruit',
  modelVersion: '3',
  predictions: [
    { classId: 1, label: 'Banana', score: 0.9, box: { x: 0.1, y: 0.2, width: 0.3, height: 0.4 } },
    { classId: 0, label: 'Apple', score: 0.05, box: null },
  ],
};

const png = (r: number, g: number, b: number, size = 40): Promise<Buffer> =>
  sharp({ create: { width: size, height: size, channels: 3, background: { r, g, b } } })
    .png()
    .toBuffer();

function multipart(field: string, data: Buffer, boundary = 'XyZ123'): { payload: Buffer; contentType: string } {
  const payload = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="other"\r\n\r\nhello\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="x.png"\r\nContent-Type: image/png\r\n\r\n`),
    data,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { payload, contentType: `multipart/form-data; boundary=${boundary}` };
}

test('POST /image answers in Custom Vision shape, from octet-stream and from multipart imageData', async (t) => {
  const seen: number[] = [];
  const app = await build(t, { predict: async (image) => (seen.push(image.length), fixed) });
  const image = await png(200, 10, 10);
  const res = await app.inject({ method: 'POST', url: '/image', headers: { 'content-type': 'application/octet-stream' }, payload: image });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  assert.deepEqual(Object.keys(body), ['id', 'project', 'iteration', 'created', 'predictions']);
  assert.match(body.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(new Date(body.created).toISOString(), body.created);
  assert.equal(body.project, 'fruit');
  assert.equal(body.iteration, '3');
  assert.deepEqual(
    body.predictions.map((p: Record<string, unknown>) => Object.keys(p)),
    [
      ['probability', 'tagId', 'tagName', 'boundingBox', 'tagType'],
      ['probability', 'tagId', 'tagName', 'boundingBox', 'tagType'],
    ],
  );
  assert.deepEqual(body.predictions[0].boundingBox, { left: 0.1, top: 0.2, width: 0.3, height: 0.4 });
  assert.equal(body.predictions[0].tagName, 'Banana');
  assert.equal(body.predictions[0].tagType, 'Regular');
  assert.equal(body.predictions[1].boundingBox, null);
  assert.match(body.predictions[0].tagId, /^[0-9a-f-]{36}$/);

  const mp = multipart('imageData', image);
  const res2 = await app.inject({
    method: 'POST',
    url: '/proj/classify/iterations/It1/image',
    headers: { 'content-type': mp.contentType },
    payload: mp.payload,
  });
  assert.equal(res2.statusCode, 200, res2.body);
  const typed = await app.inject({ method: 'POST', url: '/image', headers: { 'content-type': 'image/png' }, payload: image });
  assert.equal(typed.statusCode, 200, typed.body);
  assert.deepEqual(seen, [image.length, image.length, image.length]);
  for (const url of ['/p/classify/iterations/i/image/nostore', '/p/detect/iterations/i/image', '/p/detect/iterations/i/image/nostore']) {
    const r = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/octet-stream' }, payload: image });
    assert.equal(r.statusCode, 200, url);
  }
});

test('errors: empty body 400, over 4 MB 413, wrong content type 415, image errors 400 with code and message, others 500', async (t) => {
  const app = await build(t, {
    predict: async (image) => {
      if (image[0] === 0x42) throw new ImageError('BadRequestImageFormat', 'not an image');
      if (image[0] === 0x43) throw new Error('boom');
      return fixed;
    },
  });
  const post = (payload: Buffer | string, contentType = 'application/octet-stream') =>
    app.inject({ method: 'POST', url: '/image', headers: { 'content-type': contentType }, payload });
  const empty = await post(Buffer.alloc(0));
  assert.equal(empty.statusCode, 400);
  assert.equal(empty.json().code, 'BadRequestImageStream');
  const big = await post(Buffer.alloc(IMAGE_BYTES_LIMIT + 1, 1));
  assert.equal(big.statusCode, 413);
  assert.equal(big.json().code, 'BadRequestImageSizeBytes');
  const json = await post('{"url":"http://x"}', 'application/json');
  assert.equal(json.statusCode, 415);
  const text = await post('hello', 'text/plain');
  assert.equal(text.statusCode, 415);
  const xml = await post('<a/>', 'application/xml');
  assert.equal(xml.statusCode, 415);
  assert.deepEqual(Object.keys(xml.json()), ['code', 'message']);
  const form = await post('imageData=x', 'application/x-www-form-urlencoded');
  assert.deepEqual([form.statusCode, form.json().code], [415, 'UnsupportedMediaType']);
  const untyped = await app.inject({ method: 'POST', url: '/image', payload: Buffer.from('x') });
  assert.deepEqual([untyped.statusCode, untyped.json().code], [415, 'UnsupportedMediaType'], 'a body without a Content-Type');
  const emptyImage = await post(Buffer.alloc(0), 'image/jpeg');
  assert.deepEqual([emptyImage.statusCode, emptyImage.json().code], [400, 'BadRequestImageStream']);
  const bad = await post(Buffer.from('B junk'));
  assert.equal(bad.statusCode, 400);
  assert.deepEqual(bad.json(), { code: 'BadRequestImageFormat', message: 'not an image' });
  const boom = await post(Buffer.from('C'));
  assert.equal(boom.statusCode, 500);
  assert.deepEqual(boom.json(), { code: 'InternalServerError', message: 'the prediction failed' });
  const noField = multipart('nothing', Buffer.from('x'));
  const mpBad = await app.inject({
    method: 'POST',
    url: '/image',
    headers: { 'content-type': noField.contentType.replace('boundary=XyZ123', 'boundary=Other') },
    payload: noField.payload,
  });
  assert.equal(mpBad.statusCode, 400);
});

test('GET /openapi.json describes every route', async (t) => {
  const app = await build(t, { predict: async () => fixed });
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
  assert.equal(doc.openapi, '3.0.3');
  const sdk = ['v3.0', 'v3.1'].flatMap((version) =>
    ['classify', 'detect'].flatMap((kind) =>
      ['image', 'image/nostore', 'url', 'url/nostore'].map(
        (rest) => `/customvision/${version}/prediction/{projectId}/${kind}/iterations/{publishedName}/${rest}`,
      ),
    ),
  );
  assert.deepEqual(
    Object.keys(doc.paths).sort(),
    [
      '/image',
      '/{project}/classify/iterations/{name}/image',
      '/{project}/classify/iterations/{name}/image/nostore',
      '/{project}/detect/iterations/{name}/image',
      '/{project}/detect/iterations/{name}/image/nostore',
      ...sdk,
    ].sort(),
  );
  assert.ok(doc.paths['/image'].post.requestBody.content['multipart/form-data']);
  const byUrl = doc.paths['/customvision/v3.1/prediction/{projectId}/detect/iterations/{publishedName}/url'].post;
  assert.deepEqual(byUrl.requestBody.content['application/json'].schema.required, ['url']);
  assert.ok(byUrl.responses['401']);
  assert.equal(doc.components.securitySchemes.predictionKey.name, 'Prediction-Key');
});

test('end to end: an image through the HTTP route, sharp, a real onnxruntime model and the decoder', async (t) => {
  const SIZE = 32;
  const labels = ['blue', 'green', 'red'];
  const session = await ort.InferenceSession.create(meanColourClassifier(SIZE));
  t.after(() => session.release());
  const decoder = createDecoder({ type: 'custom-vision-classification', output: 'model_output' });
  const predict = async (image: Buffer): Promise<PredictResult> => {
    let rgb: Buffer;
    try {
      rgb = await sharp(image).removeAlpha().resize(SIZE, SIZE, { fit: 'fill' }).raw().toBuffer();
    } catch (err) {
      throw new ImageError('BadRequestImageFormat', `not a readable image (${(err as Error).message})`);
    }
    const input = new Float32Array(3 * SIZE * SIZE);
    const plane = SIZE * SIZE;
    for (let i = 0; i < plane; i++) {
      input[i] = rgb[i * 3 + 2]!; // B
      input[plane + i] = rgb[i * 3 + 1]!; // G
      input[2 * plane + i] = rgb[i * 3]!; // R
    }
    const out = await session.run({ data: new ort.Tensor('float32', input, [1, 3, SIZE, SIZE]) });
    const predictions = decoder.decode(out, {
      labels,
      inputWidth: SIZE,
      inputHeight: SIZE,
      region: { x: 0, y: 0, width: SIZE, height: SIZE },
      scoreThreshold: 0,
      iouThreshold: 0.45,
      maxDetections: 3,
    });
    return { modelId: 'colours', modelVersion: '1', predictions };
  };
  const app = await build(t, { predict });
  for (const [r, g, b, expected] of [
    [220, 30, 20, 'red'],
    [10, 20, 230, 'blue'],
    [20, 200, 30, 'green'],
  ] as const) {
    const res = await app.inject({ method: 'POST', url: '/image', headers: { 'content-type': 'application/octet-stream' }, payload: await png(r, g, b) });
    assert.equal(res.statusCode, 200, res.body);
    const { predictions } = res.json();
    assert.equal(predictions.length, 3);
    assert.equal(predictions[0].tagName, expected);
    assert.ok(predictions[0].probability > 0.99);
    assert.equal(predictions[0].boundingBox, null);
  }
  const notImage = await app.inject({
    method: 'POST',
    url: '/image',
    headers: { 'content-type': 'application/octet-stream' },
    payload: Buffer.from('definitely not a picture'),
  });
  assert.equal(notImage.statusCode, 400);
  assert.equal(notImage.json().code, 'BadRequestImageFormat');
  const full = await png(200, 0, 0, 200);
  const truncated = await app.inject({
    method: 'POST',
    url: '/image',
    headers: { 'content-type': 'application/octet-stream' },
    payload: full.subarray(0, full.length >> 1),
  });
  assert.equal(truncated.statusCode, 400);
});

test('sharp errors thrown by predict unwrapped still answer 400: not an image, truncated, too many pixels', async (t) => {
  const app = await build(t, {
    predict: async (image) => (
      await sharp(image, { limitInputPixels: 100 * 100 })
        .raw()
        .toBuffer(),
      fixed
    ),
  });
  const post = async (payload: Buffer) => app.inject({ method: 'POST', url: '/image', headers: { 'content-type': 'application/octet-stream' }, payload });
  const notImage = await post(Buffer.from('plain words'));
  assert.deepEqual([notImage.statusCode, notImage.json().code], [400, 'BadRequestImageFormat']);
  const huge = await post(await png(1, 2, 3, 200));
  assert.deepEqual([huge.statusCode, huge.json().code], [400, 'BadRequestImageDimensions']);
  const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 9, g: 9, b: 9 } } })
    .jpeg()
    .toBuffer();
  const truncated = await post(jpeg.subarray(0, jpeg.length >> 1));
  assert.equal(truncated.statusCode, 400, truncated.body);
  assert.equal(truncated.json().code, 'BadRequestImageFormat');
});

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { PredictionAPIClient, type PredictionAPIModels } from '@azure/cognitiveservices-customvision-prediction';
import { ApiKeyCredentials, RestError } from '@azure/ms-rest-js';
import { iou } from '../src/decoders/index.ts';
import { fetchImageUrl, isAllowedUrlHost, normaliseUrlHost } from '../src/custom-vision/image-url.ts';
import { IMAGE_BYTES_LIMIT } from '../src/custom-vision/prediction-api.ts';
import type { InferenceApp } from '../src/app.ts';
import { startApp, startBroker, tangerineJpeg, testConfig } from './service-helpers.ts';

// Custom Vision's own prediction SDK as the client, against the service on loopback.

const TOKEN = 'Qm9vdHN0cmFwLXRva2VuLWZvci1zZGstdGVzdHM';
const PROJECT_ID = randomUUID();
const { jpeg, object } = await tangerineJpeg();

const sdk = (app: InferenceApp, key = TOKEN) =>
  new PredictionAPIClient(new ApiKeyCredentials({ inHeader: { 'Prediction-Key': key } }), `http://127.0.0.1:${app.runtime.httpPort()}`);

/** What the SDK threw: a RestError with Custom Vision's code, and the HTTP status. */
async function sdkError(call: Promise<unknown>): Promise<{ statusCode: number | undefined; code: string | undefined; message: string }> {
  const err: unknown = await call.then(
    () => assert.fail('the SDK call succeeded'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof RestError, String(err));
  return { statusCode: err.statusCode, code: err.code, message: err.message };
}

/** A web server on 127.0.0.1 with an image, a 404, a redirect and an endless body; it counts what it is asked. */
async function imageServer(t: TestContext) {
  const requests: string[] = [];
  let endlessSent = 0;
  const server = createServer((request, response) => {
    requests.push(request.url ?? '');
    if (request.url === '/tangerine.jpg') return response.writeHead(200, { 'content-type': 'image/jpeg' }).end(jpeg);
    if (request.url === '/moved') return response.writeHead(302, { location: '/tangerine.jpg' }).end();
    if (request.url === '/declared-huge')
      return response.writeHead(200, { 'content-length': String(IMAGE_BYTES_LIMIT + 1) }).end(Buffer.alloc(IMAGE_BYTES_LIMIT + 1));
    if (request.url === '/endless') return endless(response);
    if (request.url === '/silent') return; // never answers
    response.writeHead(404).end('not here');
  });
  // A JPEG header, then filler for as long as the reader keeps reading (no Content-Length).
  const endless = (response: ServerResponse) => {
    response.writeHead(200, { 'content-type': 'image/jpeg' });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const write = () => {
      while (!response.destroyed && endlessSent < 256 * 1024 * 1024) {
        endlessSent += chunk.length;
        if (!response.write(chunk)) return void response.once('drain', write);
      }
      response.end();
    };
    response.write(jpeg.subarray(0, 200));
    write();
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())).then(() => server.closeAllConnections()));
  const port = (server.address() as AddressInfo).port;
  return { port, requests, endlessSent: () => endlessSent, url: (path: string, host = `127.0.0.1:${port}`) => `http://${host}${path}` };
}

function assertTangerine(answer: PredictionAPIModels.ImagePrediction) {
  assert.equal(answer.project, 'centernet-coco', 'the model that answered, as on the container routes');
  assert.equal(typeof answer.iteration, 'string');
  assert.match(answer.id ?? '', /^[0-9a-f-]{36}$/);
  assert.ok(answer.created instanceof Date && !Number.isNaN(answer.created.getTime()), 'the SDK read created as a date');
  const best = answer.predictions?.[0];
  assert.equal(best?.tagName, 'orange');
  assert.equal(best.tagType, 'Regular');
  assert.ok(best.probability !== undefined && best.probability > 0 && best.probability <= 1);
  const box = best.boundingBox!;
  assert.ok(iou({ x: box.left, y: box.top, width: box.width, height: box.height }, object) > 0.5);
}

test('the SDK predicts with Prediction-Key: detectImage, detectImageWithNoStore, classifyImage (v3.1); v3.0 and the Prediction spelling over plain HTTP', async (t) => {
  const broker = await startBroker(t);
  const app = await startApp(t, testConfig(broker.url, { http: { host: '127.0.0.1', port: 0, token: TOKEN } }));
  const client = sdk(app);
  assertTangerine(await client.detectImage(PROJECT_ID, 'Iteration3', jpeg));
  assertTangerine(await client.detectImageWithNoStore(PROJECT_ID, 'Iteration3', jpeg, { application: 'tests' }));
  assertTangerine(await client.classifyImage(PROJECT_ID, 'Iteration3', jpeg));
  assertTangerine(await client.classifyImageWithNoStore(PROJECT_ID, 'Iteration3', jpeg));

  const base = `http://127.0.0.1:${app.runtime.httpPort()}/customvision`;
  for (const [path, auth] of [
    [`v3.0/Prediction/${PROJECT_ID}/detect/iterations/Iteration3/image`, { 'prediction-key': TOKEN }],
    [`v3.0/prediction/${PROJECT_ID}/classify/iterations/Iteration3/image/nostore`, { authorization: `Bearer ${TOKEN}` }],
    [`v3.1/Prediction/${PROJECT_ID}/detect/iterations/Iteration3/image/nostore`, { 'Prediction-Key': TOKEN }],
  ] as const) {
    const response = await fetch(`${base}/${path}`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: new Uint8Array(jpeg),
    });
    assert.equal(response.status, 200, path);
    const answer = (await response.json()) as Omit<PredictionAPIModels.ImagePrediction, 'created'> & { created: string };
    assertTangerine({ ...answer, created: new Date(answer.created) });
  }
});

test('without the right key the SDK gets 401 Unauthorized; the key is taken only on the SDK routes', async (t) => {
  const broker = await startBroker(t);
  const app = await startApp(t, testConfig(broker.url, { http: { host: '127.0.0.1', port: 0, token: TOKEN } }));
  const wrong = await sdkError(sdk(app, `${TOKEN}x`).detectImage(PROJECT_ID, 'Iteration3', jpeg));
  assert.deepEqual([wrong.statusCode, wrong.code], [401, 'Unauthorized']);
  assert.match(wrong.message, /Prediction-Key/);
  assert.ok(!wrong.message.includes(TOKEN), 'the key is not echoed');
  const keyless = new PredictionAPIClient(
    new ApiKeyCredentials({ inHeader: { 'Ocp-Apim-Subscription-Key': TOKEN } }),
    `http://127.0.0.1:${app.runtime.httpPort()}`,
  );
  const missing = await sdkError(keyless.classifyImageUrl(PROJECT_ID, 'Iteration3', { url: 'http://127.0.0.1/x.jpg' }));
  assert.deepEqual([missing.statusCode, missing.code], [401, 'Unauthorized']);

  const base = `http://127.0.0.1:${app.runtime.httpPort()}`;
  const post = (path: string, headers: Record<string, string>) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/octet-stream' }, body: new Uint8Array(jpeg) });
  const none = await post(`/customvision/v3.1/prediction/${PROJECT_ID}/detect/iterations/Iteration3/image`, {});
  assert.equal(none.status, 401);
  assert.equal(((await none.json()) as { code: string }).code, 'Unauthorized');
  assert.equal((await post('/image', { 'prediction-key': TOKEN })).status, 401, 'the container routes take the bearer token only');
  assert.equal((await post('/image', { authorization: `Bearer ${TOKEN}` })).status, 200);
});

test('image errors reach the SDK as RestErrors with Custom Vision codes: empty, corrupt JPEG, over 4 MB', async (t) => {
  const broker = await startBroker(t);
  const app = await startApp(t, testConfig(broker.url));
  const client = sdk(app);
  const empty = await sdkError(client.detectImage(PROJECT_ID, 'Iteration3', Buffer.alloc(0)));
  assert.deepEqual([empty.statusCode, empty.code], [400, 'BadRequestImageStream']);
  const corrupt = await sdkError(client.detectImageWithNoStore(PROJECT_ID, 'Iteration3', jpeg.subarray(0, 600)));
  assert.deepEqual([corrupt.statusCode, corrupt.code], [400, 'BadRequestImageFormat']);
  // Refused from its size, as on the container routes (413: the body itself is too large).
  const big = await sdkError(client.classifyImage(PROJECT_ID, 'Iteration3', Buffer.concat([jpeg, Buffer.alloc(IMAGE_BYTES_LIMIT)])));
  assert.deepEqual([big.statusCode, big.code], [413, 'BadRequestImageSizeBytes']);
  assertTangerine(await client.detectImage(PROJECT_ID, 'Iteration3', jpeg));
});

test('url routes are off by default: 400 BadRequestImageUrl saying how to turn them on, and nothing is fetched', async (t) => {
  const images = await imageServer(t);
  const broker = await startBroker(t);
  const app = await startApp(t, testConfig(broker.url));
  const off = await sdkError(sdk(app).detectImageUrl(PROJECT_ID, 'Iteration3', { url: images.url('/tangerine.jpg') }));
  assert.deepEqual([off.statusCode, off.code], [400, 'BadRequestImageUrl']);
  assert.match(off.message, /SIGHTLINE_INFERENCE_PREDICTION_URL_HOSTS/);
  const v30 = await fetch(`http://127.0.0.1:${app.runtime.httpPort()}/customvision/v3.0/Prediction/${PROJECT_ID}/classify/iterations/It/url/nostore`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url: images.url('/tangerine.jpg') }),
  });
  assert.equal(v30.status, 400);
  assert.deepEqual(images.requests, []);
});

test('url routes with an allow-list: listed hosts are fetched; other hosts, redirects, 404s, bodies over 4 MB and bad bodies are 400', async (t) => {
  const images = await imageServer(t);
  const broker = await startBroker(t);
  const app = await startApp(t, testConfig(broker.url, { predictionUrlHosts: [`127.0.0.1:${images.port}`] }));
  const client = sdk(app);
  assertTangerine(await client.detectImageUrl(PROJECT_ID, 'Iteration3', { url: images.url('/tangerine.jpg') }));
  assertTangerine(await client.classifyImageUrlWithNoStore(PROJECT_ID, 'Iteration3', { url: images.url('/tangerine.jpg') }));
  assert.deepEqual(images.requests, ['/tangerine.jpg', '/tangerine.jpg']);

  const refusal = async (url: string) => sdkError(client.detectImageUrlWithNoStore(PROJECT_ID, 'Iteration3', { url }));
  // The same server under a name that is not listed, and a port that is not.
  for (const url of [images.url('/tangerine.jpg', `localhost:${images.port}`), images.url('/tangerine.jpg', '127.0.0.1:1')]) {
    const refused = await refusal(url);
    assert.deepEqual([refused.statusCode, refused.code], [400, 'BadRequestImageUrl'], url);
    assert.match(refused.message, /is not a host images are fetched from/);
  }
  assert.equal(images.requests.length, 2, 'nothing fetched from hosts off the list');
  const moved = await refusal(images.url('/moved'));
  assert.deepEqual([moved.statusCode, moved.code], [400, 'BadRequestImageUrl']);
  assert.match(moved.message, /302.*redirects are not followed/);
  const missing = await refusal(images.url('/missing.jpg'));
  assert.deepEqual([missing.statusCode, missing.code, missing.message], [400, 'BadRequestImageUrl', 'the url answered 404']);
  const declared = await refusal(images.url('/declared-huge'));
  assert.deepEqual([declared.statusCode, declared.code], [400, 'BadRequestImageSizeBytes']);
  const endless = await refusal(images.url('/endless'));
  assert.deepEqual([endless.statusCode, endless.code], [400, 'BadRequestImageSizeBytes']);
  assert.ok(images.endlessSent() < 64 * 1024 * 1024, `reading stopped near the limit (${images.endlessSent()} bytes sent)`);
  assert.deepEqual(images.requests.slice(2), ['/moved', '/missing.jpg', '/declared-huge', '/endless'], 'the redirect was not followed');
  const ftp = await refusal(`ftp://127.0.0.1:${images.port}/tangerine.jpg`);
  assert.deepEqual([ftp.statusCode, ftp.code], [400, 'BadRequestImageUrl']);

  const byUrl = `http://127.0.0.1:${app.runtime.httpPort()}/customvision/v3.1/prediction/${PROJECT_ID}/detect/iterations/Iteration3/url`;
  const tooLong = JSON.stringify({ url: images.url(`/${'a'.repeat(70_000)}.jpg`) });
  for (const body of ['', '{}', '{"url":""}', '{"url":5}', '{"url":', '"http://127.0.0.1/"', tooLong]) {
    const response = await fetch(byUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(response.status, body === tooLong ? 413 : 400, body.slice(0, 40));
    assert.equal(((await response.json()) as { code: string }).code, 'BadRequestImageUrl', body.slice(0, 40));
  }
});

test('fetching an image URL gives up after the timeout; allow-list entries are compared as URLs spell hosts', async (t) => {
  const images = await imageServer(t);
  const hosts = new Set([`127.0.0.1:${images.port}`]);
  const started = Date.now();
  await assert.rejects(fetchImageUrl(images.url('/silent'), hosts, 300), { code: 'BadRequestImageUrl', message: /timed out/ });
  assert.ok(Date.now() - started < 5000);

  assert.equal(normaliseUrlHost('Images.Example.COM'), 'images.example.com');
  assert.equal(normaliseUrlHost('127.0.0.1:08080'), '127.0.0.1:8080');
  assert.equal(normaliseUrlHost('[::1]:9000'), '[::1]:9000');
  for (const bad of ['http://x', 'x/y', 'x:0', 'x:70000', 'user@x', '']) assert.throws(() => normaliseUrlHost(bad), Error, bad);
  const listed = new Set(['images.example.com', 'cdn.example.com:8443']);
  assert.ok(isAllowedUrlHost(new URL('https://IMAGES.example.com/a.jpg'), listed));
  assert.ok(isAllowedUrlHost(new URL('http://images.example.com:80/a.jpg'), listed));
  assert.ok(!isAllowedUrlHost(new URL('http://images.example.com:8080/a.jpg'), listed), 'no port listed: the default port only');
  assert.ok(isAllowedUrlHost(new URL('https://cdn.example.com:8443/a.jpg'), listed));
  assert.ok(!isAllowedUrlHost(new URL('https://cdn.example.com/a.jpg'), listed));
  assert.ok(!isAllowedUrlHost(new URL('http://images.example.com.evil.example/a.jpg'), listed));
});

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { iou } from '../src/decoders/index.ts';
import { cvManifest, meanColourClassifier, tempDir, writeExportFolder, zipMapClassifier } from './onnx-fixtures.ts';
import { bombJpeg, startApp, startBroker, tangerineJpeg, testConfig } from './service-helpers.ts';

interface CustomVisionAnswer {
  id: string;
  project: string;
  iteration: string;
  created: string;
  predictions: Array<{
    probability: number;
    tagId: string;
    tagName: string;
    boundingBox: { left: number; top: number; width: number; height: number } | null;
    tagType: string;
  }>;
}

test('the Custom Vision prediction API answers from the running model, as its container would', async (t) => {
  const broker = await startBroker(t);
  const app = await startApp(t, testConfig(broker.url));
  const { jpeg, object } = await tangerineJpeg();
  for (const url of ['/image', '/my-project/detect/iterations/Iteration3/image', '/my-project/detect/iterations/Iteration3/image/nostore']) {
    const res = await app.runtime.http.inject({ method: 'POST', url, headers: { 'content-type': 'application/octet-stream' }, payload: jpeg });
    assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
    const answer = res.json<CustomVisionAnswer>();
    assert.deepEqual(Object.keys(answer).sort(), ['created', 'id', 'iteration', 'predictions', 'project']);
    assert.equal(answer.project, 'centernet-coco');
    assert.ok(!Number.isNaN(Date.parse(answer.created)));
    const best = answer.predictions[0]!;
    assert.equal(best.tagName, 'orange');
    assert.equal(best.tagType, 'Regular');
    const box = best.boundingBox!;
    assert.ok(iou({ x: box.left, y: box.top, width: box.width, height: box.height }, object) > 0.5);
  }

  const empty = await app.runtime.http.inject({
    method: 'POST',
    url: '/image',
    headers: { 'content-type': 'application/octet-stream' },
    payload: Buffer.alloc(0),
  });
  assert.equal(empty.statusCode, 400);
  assert.equal(empty.json<{ code: string }>().code, 'BadRequestImageStream');
  const bomb = await app.runtime.http.inject({
    method: 'POST',
    url: '/image',
    headers: { 'content-type': 'application/octet-stream' },
    payload: await bombJpeg(),
  });
  assert.equal(bomb.statusCode, 413);
  assert.equal(bomb.json<{ code: string }>().code, 'BadRequestImageDimensions');
  const truncated = await app.runtime.http.inject({
    method: 'POST',
    url: '/image',
    headers: { 'content-type': 'application/octet-stream' },
    payload: jpeg.subarray(0, 600),
  });
  assert.equal(truncated.statusCode, 400);
  assert.equal(truncated.json<{ code: string }>().code, 'BadRequestImageFormat');
  const wrongType = await app.runtime.http.inject({ method: 'POST', url: '/image', headers: { 'content-type': 'text/plain' }, payload: 'hello' });
  assert.equal(wrongType.statusCode, 415);
  const openapi = (await app.runtime.http.inject({ url: '/openapi.json' })).json<{ openapi: string; paths: Record<string, unknown> }>();
  assert.match(openapi.openapi, /^3\./);
  for (const route of ['/image', '/{project}/detect/iterations/{name}/image/nostore', '/models', '/models/current']) assert.ok(route in openapi.paths, route);
  // Still serving after all that.
  const again = await app.runtime.http.inject({ method: 'POST', url: '/image', headers: { 'content-type': 'application/octet-stream' }, payload: jpeg });
  assert.equal(again.statusCode, 200);
});

test('a Custom Vision export folder is a model with no descriptor written; the older loss export is refused and the old model keeps serving', async (t) => {
  const broker = await startBroker(t);
  const modelsDir = tempDir(t, 'cv-models');
  const folder = (name: string): string => {
    const dir = path.join(modelsDir, name);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  writeExportFolder(folder('colours'), {
    model: meanColourClassifier(224),
    labels: ['blue', 'green', 'red'],
    manifest: cvManifest('Classification'),
  });
  writeExportFolder(folder('old-export'), {
    model: zipMapClassifier(['blue', 'green', 'red']),
    labels: ['blue', 'green', 'red'],
    manifest: cvManifest('Classification'),
  });
  const app = await startApp(t, testConfig(broker.url, { modelsDir }));
  const listed = await app.runtime.http.inject({ url: '/models' });
  const body = JSON.stringify(listed.json());
  assert.match(body, /"colours"/);
  assert.match(body, /"old-export"/);

  const refused = await app.runtime.http.inject({ method: 'POST', url: '/models/current', payload: { model: 'old-export' } });
  assert.ok(refused.statusCode === 422 || refused.statusCode === 400, refused.body);
  assert.match(refused.body, /older Custom Vision export/);
  assert.equal(app.current()?.id, 'centernet-coco');

  const switched = await app.runtime.http.inject({ method: 'POST', url: '/models/current', payload: { model: 'colours' } });
  assert.equal(switched.statusCode, 200, switched.body);
  const red = await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 220, g: 20, b: 20 } } })
    .jpeg()
    .toBuffer();
  const res = await app.runtime.http.inject({
    method: 'POST',
    url: '/colours/classify/iterations/Iteration1/image',
    headers: { 'content-type': 'application/octet-stream' },
    payload: red,
  });
  assert.equal(res.statusCode, 200, res.body);
  const answer = res.json<CustomVisionAnswer>();
  assert.equal(answer.predictions[0]!.tagName, 'red');
  assert.equal(answer.predictions[0]!.boundingBox, null);
  assert.equal(answer.predictions.length, 3, 'Custom Vision classification answers every tag');
});

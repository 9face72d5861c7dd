import assert from 'node:assert/strict';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { channels, detectionsSchema, encodeFrame } from '@sightline/schemas';
import { iou } from '../src/decoders/index.ts';
import { ensureDefaultModel } from '../src/model/default-model.ts';
import { ImageError } from '../src/pipeline/image.ts';
import { builtinDescriptor, ModelError } from '../src/model/loader.ts';
import { tempDir } from './helpers.ts';
import { bombJpeg, dataDir, greyJpeg, metricValue, sleep, startApp, startBroker, tangerineJpeg, testConfig, watch } from './service-helpers.ts';

test('a frame becomes a detections message: the tangerine is an orange, boxed where it is', async (t) => {
  const broker = await startBroker(t);
  const app = await startApp(t, testConfig(broker.url));
  const w = await watch(t, broker.url);
  const { jpeg, object } = await tangerineJpeg();
  await w.sendFrame('kitchen', 7, jpeg);
  await w.waitFor('detections of kitchen', () => w.of('kitchen').length === 1);
  const [d] = w.of('kitchen');
  assert.ok(detectionsSchema.safeParse(d).success);
  assert.equal(d!.seq, 7);
  assert.equal(d!.capturedAt, 1_795_000_000_007);
  assert.deepEqual([d!.width, d!.height], [640, 480]);
  assert.equal(d!.model.id, 'centernet-coco');
  const best = d!.objects[0];
  assert.ok(best, 'something is detected');
  assert.equal(best.label, 'orange');
  assert.ok(best.score > 0.3 && best.score <= 1, `score ${best.score}`);
  assert.ok(best.box && iou(best.box, object) > 0.5, `box ${JSON.stringify(best.box)} vs ${JSON.stringify(object)}`);
  for (const key of ['decodeMs', 'preprocessMs', 'inferenceMs', 'postprocessMs', 'totalMs'] as const) assert.ok(d!.timings[key] >= 0);
  assert.ok(d!.timings.inferenceMs > 0 && d!.timings.totalMs >= d!.timings.inferenceMs);
  assert.equal(await metricValue(app, 'sightline_inference_frames_total', { camera: 'kitchen' }), 1);
  assert.match(await app.runtime.registry.metrics(), /sightline_inference_stage_seconds_count\{[^}]*stage="inference"[^}]*\} 1\n/);
});

test('latest frame wins: a burst replaces the waiting frame, the drops are counted and nothing queues', async (t) => {
  const broker = await startBroker(t);
  const app = await startApp(t, testConfig(broker.url));
  const w = await watch(t, broker.url);
  const jpeg = await greyJpeg();
  const burst = 12;
  let maxWaiting = 0;
  const probe = setInterval(() => (maxWaiting = Math.max(maxWaiting, app.scheduler.waiting())), 2);
  t.after(() => clearInterval(probe));
  for (let seq = 0; seq < burst; seq++) await w.sendFrame('door', seq, jpeg);
  const accounted = async () =>
    (await metricValue(app, 'sightline_inference_frames_total', { camera: 'door' })) +
    (await metricValue(app, 'sightline_inference_frames_dropped_total', { camera: 'door', reason: 'replaced' }));
  for (let i = 0; i < 500 && (await accounted()) < burst; i++) await sleep(20);
  await app.scheduler.idle();
  await w.waitFor('the last frame is published', () => w.of('door').some((d) => d.seq === burst - 1));
  const published = w.of('door').length;
  const dropped = await metricValue(app, 'sightline_inference_frames_dropped_total', { camera: 'door', reason: 'replaced' });
  assert.equal(published + dropped, burst);
  assert.ok(dropped >= burst / 2, `dropped ${dropped} of ${burst}`);
  assert.ok(maxWaiting <= 1, `at most one frame waits per camera, saw ${maxWaiting}`);
  const seqs = w.of('door').map((d) => d.seq);
  assert.deepEqual(
    seqs,
    [...seqs].sort((a, b) => a - b),
    'published in order',
  );
  assert.match(await app.runtime.registry.metrics(), /sightline_inference_frames_dropped_total\{camera="door",reason="replaced",service="inference"\}/);
});

test('cameras are served fairly: a camera sending 6x more frames gets no more runs', async (t) => {
  const broker = await startBroker(t);
  const app = await startApp(t, testConfig(broker.url));
  const w = await watch(t, broker.url);
  const jpeg = await greyJpeg();
  const until = Date.now() + 2500;
  let seq = 0;
  while (Date.now() < until) {
    for (let i = 0; i < 6; i++) await w.sendFrame('busy', seq * 6 + i, jpeg);
    await w.sendFrame('quiet', seq, jpeg);
    seq++;
    await sleep(25);
  }
  await app.scheduler.idle();
  await sleep(100);
  const busy = w.of('busy').length;
  const quiet = w.of('quiet').length;
  assert.ok(quiet >= 5, `quiet got ${quiet}`);
  assert.ok(Math.abs(busy - quiet) <= 2, `busy ${busy} vs quiet ${quiet}`);
});

test('models switch at run time with no dropped frame; broken models are refused and the old one keeps serving', async (t) => {
  const broker = await startBroker(t);
  const modelsDir = tempDir(t, 'models');
  const onnx = (await ensureDefaultModel(dataDir())).onnxPath;
  const folder = async (name: string, descriptor: object, onnxBytes?: string) => {
    await mkdir(path.join(modelsDir, name));
    await writeFile(path.join(modelsDir, name, 'model.json'), JSON.stringify(descriptor));
    if (onnxBytes === undefined) await copyFile(onnx, path.join(modelsDir, name, 'model.onnx'));
    else await writeFile(path.join(modelsDir, name, 'model.onnx'), onnxBytes);
  };
  const base = builtinDescriptor('2');
  await folder('copy', { ...base, id: 'copy' });
  await folder('junk', { ...base, id: 'junk' }, 'this is not an ONNX file\n');
  await folder('wrong-input', { ...base, id: 'wrong-input', input: { ...base.input, name: 'images' } });
  await folder('wrong-output', { ...base, id: 'wrong-output', decoder: { type: 'centernet', heatmaps: 'heatmap', sizes: 'tower_0/wh' } });
  await mkdir(path.join(modelsDir, 'bad-json'));
  await writeFile(path.join(modelsDir, 'bad-json', 'model.json'), '{ nope');

  const app = await startApp(t, testConfig(broker.url, { modelsDir }));
  const w = await watch(t, broker.url);
  const http = `http://127.0.0.1:${app.runtime.httpPort()}`;
  const post = async (body: unknown) => {
    const res = await fetch(`${http}/models/current`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as { error?: string; fault?: string; current?: { id: string } } };
  };

  const listed = (await (await fetch(`${http}/models`)).json()) as { current: { id: string }; available: string[] };
  assert.equal(listed.current.id, 'centernet-coco');
  assert.deepEqual(listed.available, ['centernet-coco', 'bad-json', 'copy', 'junk', 'wrong-input', 'wrong-output']);

  // Frames one after another (each waits for its detections) while the switch happens.
  const jpeg = await greyJpeg();
  let sent = 0;
  let sending = true;
  const sender = (async () => {
    while (sending) {
      await w.sendFrame('lane1', sent, jpeg);
      sent++;
      const want = sent;
      await w.waitFor(`detections of frame ${want - 1}`, () => w.of('lane1').length >= want);
    }
  })();
  await sleep(300);
  const switched = await post({ model: 'copy' });
  assert.equal(switched.status, 200, JSON.stringify(switched.body));
  assert.equal(switched.body.current?.id, 'copy');
  await sleep(300);
  sending = false;
  await sender;
  const models = w.of('lane1').map((d) => d.model.id);
  assert.equal(models.length, sent, 'every frame got its detections');
  assert.equal(models[0], 'centernet-coco');
  assert.equal(models.at(-1), 'copy');
  assert.deepEqual(
    models,
    [...models].sort((a, b) => (a === b ? 0 : a === 'centernet-coco' ? -1 : 1)),
    'one clean switch',
  );
  assert.equal(await metricValue(app, 'sightline_inference_frames_dropped_total', { camera: 'lane1', reason: 'replaced' }), 0);

  const junk = await post({ model: 'junk' });
  assert.equal(junk.status, 422);
  assert.equal(junk.body.fault, 'not-onnx');
  assert.match(junk.body.error!, /model junk: model\.onnx is not a usable ONNX model/);
  const wrongInput = await post({ model: 'wrong-input' });
  assert.equal(wrongInput.status, 422);
  assert.equal(wrongInput.body.fault, 'input-mismatch');
  assert.match(wrongInput.body.error!, /input "images" is not an input of the ONNX model \(it has: "tower_0\/images"\)/);
  const wrongOutput = await post({ model: 'wrong-output' });
  assert.equal(wrongOutput.status, 422);
  assert.equal(wrongOutput.body.fault, 'output-mismatch');
  const badJson = await post({ model: 'bad-json' });
  assert.equal(badJson.status, 422);
  assert.match(badJson.body.error!, /model\.json is not JSON/);
  assert.equal((await post({ model: 'missing' })).status, 404);
  assert.equal((await post({ nope: 1 })).status, 400);
  assert.equal((await post({ model: '../etc' })).status, 400);
  assert.equal(app.current()?.id, 'copy');

  // The MQTT command: refused, said on the retained state topic, the old model still serving.
  await w.sendCommand({ model: 'junk' });
  await w.waitFor('a refusal on the state topic', () => w.states.some((s) => s.request === 'junk'));
  const refusal = w.states.find((s) => s.request === 'junk')!;
  assert.equal(refusal.model?.id, 'copy');
  assert.match(refusal.error!, /not a usable ONNX model/);
  await w.sendCommand({ model: 'centernet-coco' });
  await w.waitFor('the switch back on the state topic', () => w.states.at(-1)?.model?.id === 'centernet-coco' && w.states.at(-1)?.error === undefined);
  const before = w.of('lane1').length;
  await w.sendFrame('lane1', 1000, jpeg);
  await w.waitFor('a frame after all that', () => w.of('lane1').length === before + 1);
  assert.equal(w.of('lane1').at(-1)?.model.id, 'centernet-coco');
  assert.equal(await metricValue(app, 'sightline_inference_model_switches_total', { outcome: 'refused' }), 6);
});

test('bad frames are counted drops and the service keeps serving', async (t) => {
  const broker = await startBroker(t);
  const app = await startApp(t, testConfig(broker.url));
  const w = await watch(t, broker.url);
  const good = await greyJpeg();
  const frame = encodeFrame(good, { camera: 'cam', seq: 1, capturedAt: 1 });
  await w.sendRaw('cam', Buffer.from('garbage, not a JPEG at all'));
  await w.sendRaw('cam', frame.subarray(0, frame.length - 40));
  await w.sendRaw('cam', good); // a JPEG without metadata
  await w.sendFrame('cam', 2, await bombJpeg());
  const badImages = () => metricValue(app, 'sightline_inference_frames_dropped_total', { camera: 'cam', reason: 'bad-image' });
  for (let i = 0; i < 250 && (await badImages()) < 1; i++) await sleep(20);
  assert.equal(await badImages(), 1, 'the bomb is a counted drop');
  const corrupt = Buffer.from(encodeFrame(good, { camera: 'cam', seq: 3, capturedAt: 3 }));
  corrupt.fill(0x00, corrupt.length - 200, corrupt.length - 2);
  await w.sendRaw('cam', corrupt);
  await w.sendFrame('cam', 4, good);
  await w.waitFor('the good frame', () => w.of('cam').some((d) => d.seq === 4));
  const busDropped = async (reason: string) => metricValue(app, 'sightline_bus_messages_dropped_total', { channel: 'frame', reason });
  assert.equal(await busDropped('not-jpeg'), 2);
  assert.equal(await busDropped('no-metadata'), 1);
  assert.ok(!w.of('cam').some((d) => d.seq === 2), 'the bomb is not decoded');
  assert.equal((await fetch(`http://127.0.0.1:${app.runtime.httpPort()}/readyz`)).status, 200);
});

test('predict(): the hook for HTTP prediction routes takes JPEG, PNG and WebP and refuses bad input clearly', async (t) => {
  const broker = await startBroker(t);
  const app = await startApp(t, testConfig(broker.url));
  const { jpeg } = await tangerineJpeg();
  const sharp = (await import('sharp')).default;
  for (const image of [jpeg, await sharp(jpeg).png().toBuffer(), await sharp(jpeg).webp().toBuffer()]) {
    const result = await app.predict(image);
    assert.equal(result.predictions[0]?.label, 'orange');
    assert.deepEqual([result.width, result.height], [640, 480]);
    assert.equal(result.model.id, 'centernet-coco');
  }
  const fault = async (image: Buffer) => {
    try {
      await app.predict(image);
    } catch (err) {
      assert.ok(err instanceof ImageError, String(err));
      return `${err.status} ${err.fault}`;
    }
    return 'accepted';
  };
  assert.equal(await fault(Buffer.alloc(0)), '400 empty');
  assert.equal(await fault(Buffer.from('GIF89a....')), '415 unsupported-format');
  assert.equal(await fault(jpeg.subarray(0, 600)), '400 corrupt');
  assert.equal(await fault(await bombJpeg()), '413 too-many-pixels');
  assert.equal(channels.detections.retain, false);
});

test('a flood of model switch requests is at most two loads: the latest waits, the ones it replaces are answered 409', async (t) => {
  const broker = await startBroker(t);
  const app = await startApp(t, testConfig(broker.url));
  const switched = () => metricValue(app, 'sightline_inference_model_switches_total', { outcome: 'switched' });
  const before = await switched();
  const outcome = (id: string) =>
    app.switchModel(id).then(
      (info) => `ok ${info.id}`,
      (err: unknown) => (err instanceof ModelError ? `${err.status} ${err.model}` : String(err)),
    );
  const first = outcome('centernet-coco');
  const replaced = [outcome('no-such-model-a'), outcome('no-such-model-b')];
  const flood = Array.from({ length: 20 }, () => outcome('centernet-coco'));
  assert.deepEqual(await Promise.all([first, ...replaced]), ['ok centernet-coco', '409 no-such-model-a', '409 no-such-model-b']);
  assert.deepEqual(new Set(await Promise.all(flood)), new Set(['ok centernet-coco']));
  // The one in progress and the one waiting; the old service loaded the model 21 times.
  assert.equal((await switched()) - before, 2);
});

test('HTTP predictions in progress are bounded: beyond SIGHTLINE_INFERENCE_MAX_PREDICTIONS the caller is told to retry (429)', async (t) => {
  const broker = await startBroker(t);
  const app = await startApp(t, testConfig(broker.url, { maxPredictions: 2 }));
  const { jpeg } = await tangerineJpeg();
  const results = await Promise.all(
    Array.from({ length: 8 }, () =>
      app.runtime.http
        .inject({ method: 'POST', url: '/image', headers: { 'content-type': 'application/octet-stream' }, payload: jpeg })
        .then((r) => r.statusCode),
    ),
  );
  assert.equal(results.filter((s) => s === 200).length >= 2, true, results.join(' '));
  assert.ok(results.includes(429), `all ${results.length} were taken at once: ${results.join(' ')}`);
  assert.ok((await metricValue(app, 'sightline_inference_predictions_refused_total', {})) >= 1);
  // Afterwards, a prediction gets through again.
  const after = await app.runtime.http.inject({ method: 'POST', url: '/image', headers: { 'content-type': 'application/octet-stream' }, payload: jpeg });
  assert.equal(after.statusCode, 200);
});

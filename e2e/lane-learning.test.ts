import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keptImageFetcher } from '@sightline/inference/src/products/kept.ts';
import { startApp as startInference, tangerineJpeg, testConfig as inferenceConfig, watch } from '@sightline/inference/test/service-helpers.ts';
import { startApp as startSync, startAzurite, startTestBroker, testConfig as syncConfig, tempDir, waitUntil } from '../services/sync/test/helpers.ts';

/**
 * Learning from frames sync kept: the real inference service (model and backbone) and the real
 * sync service against Azurite, on one broker, with the shared HTTP token. A frame the lane saw
 * is kept by sync, uploaded, gone from inference's recent frames, and taught to a product by its
 * kept name: inference fetches it from sync's GET /kept/<name>.
 */

const TOKEN = 'lane-learning-token-0123456789abcdefghijk';
const auth = { authorization: `Bearer ${TOKEN}` };

test('a frame sync kept is added to a product by name, and the next frame of the scene is the product', async (t) => {
  const [broker, azurite] = await Promise.all([startTestBroker(t), startAzurite(t)]);
  // Every frame with an object is "uncertain" here, so sync keeps the lane's frame whatever its score.
  const sync = await startSync(
    t,
    syncConfig(broker.url, tempDir(t), azurite.connectionString, {
      SIGHTLINE_HTTP_TOKEN: TOKEN,
      SIGHTLINE_SYNC_UNCERTAIN_MIN: '0',
      SIGHTLINE_SYNC_UNCERTAIN_MAX: '1',
    }),
  );
  await waitUntil('sync subscribed', () => sync.runtime.bus.ready(), 10_000);
  const syncUrl = `http://127.0.0.1:${sync.runtime.httpPort()}`;
  const base = inferenceConfig(broker.url);
  const inference = await startInference(t, {
    ...base,
    http: { ...base.http, token: TOKEN },
    syncUrl,
    // One recent frame per camera: the kept frame is long gone from inference by the time it is taught.
    recentFrames: { perCamera: 1, maxBytes: 64 * 1024 * 1024 },
    recognition: { ...base.recognition, threshold: 0.95 },
  });
  const http = inference.runtime.http;
  const w = await watch(t, broker.url);
  const { jpeg: tangerine } = await tangerineJpeg();

  await w.sendFrame('lane1', 1, tangerine);
  await w.waitFor('detections of frame 1', () => w.of('lane1').some((d) => d.seq === 1));
  assert.equal(w.of('lane1').find((d) => d.seq === 1)!.objects[0]!.label, 'orange');
  await waitUntil('sync kept and uploaded the frame', () => sync.stats().uploaded >= 1, 15_000);
  const listed = await sync.runtime.http.inject({ url: '/kept?reason=uncertain&camera=lane1', headers: auth });
  const kept = listed.json<{ kept: Array<{ name: string; seq: number; state: string; label: string }> }>().kept;
  const entry = kept.find((k) => k.seq === 1)!;
  assert.deepEqual([entry.state, entry.label], ['uploaded', 'orange']);

  await w.sendFrame('lane1', 2, tangerine);
  await w.waitFor('detections of frame 2', () => w.of('lane1').some((d) => d.seq === 2));
  const post = (payload: object) => http.inject({ method: 'POST', url: '/products/clementine/photos/from-lane', headers: auth, payload });
  const gone = await post({ frames: [{ camera: 'lane1', seq: 1 }] });
  assert.equal(gone.statusCode, 404, 'no longer among the recent frames');
  assert.match(gone.json<{ error: string }>().error, /frames sync kept can be added by name/);

  const added = await post({ frames: [{ kept: entry.name }], name: 'Clementines' });
  assert.equal(added.statusCode, 201, added.body);
  const photo = added.json<{ added: Array<{ source: string; crop: string; box: unknown }> }>().added[0]!;
  assert.deepEqual([photo.source, photo.crop], ['lane', 'detector']);
  assert.ok(photo.box !== null, 'cut to the best object the detector finds in the kept image');

  await w.sendFrame('lane1', 3, tangerine);
  await w.waitFor('detections of frame 3', () => w.of('lane1').some((d) => d.seq === 3));
  const named = w.of('lane1').find((d) => d.seq === 3)!.objects[0]!;
  assert.equal(named.label, 'clementine');
  assert.ok(named.recognition!.similarity >= 0.95, String(named.recognition!.similarity));

  // A box given is used as is; a name sync never kept is a 404 and nothing is added (all or none).
  const box = { x: 0.3, y: 0.25, width: 0.4, height: 0.5 };
  const missing = entry.name.replace(/-1\.jpg$/, '-77.jpg');
  const refused = await post({ frames: [{ kept: entry.name, box }, { kept: missing }] });
  assert.equal(refused.statusCode, 404, refused.body);
  assert.match(refused.json<{ error: string }>().error, new RegExp(`frame 2 \\(kept ${missing}\\): the sync service keeps no image named`));
  assert.equal(inference.products()!.get('clementine')!.photos.length, 1);
  const boxed = await post({ frames: [{ kept: entry.name, box }] });
  assert.equal(boxed.statusCode, 201, boxed.body);
  assert.deepEqual(boxed.json<{ added: Array<{ crop: string; box: unknown }> }>().added[0], {
    ...boxed.json<{ added: object[] }>().added[0],
    crop: 'box',
    box,
  });

  // The token matters: sync refuses another one, and inference says so.
  await assert.rejects(keptImageFetcher(syncUrl, 'not-the-token-0123456789abcdefghijklmn')(entry.name), (err: Error & { status?: number }) => {
    assert.equal(err.status, 502);
    assert.match(err.message, /answered 401/);
    return true;
  });
  // Sync gone: 503, nothing added.
  await sync.stop();
  const down = await post({ frames: [{ kept: entry.name }] });
  assert.equal(down.statusCode, 503, down.body);
  assert.match(down.json<{ error: string }>().error, /cannot be reached/);
  assert.equal(inference.products()!.get('clementine')!.photos.length, 2);
});

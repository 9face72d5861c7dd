import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '@sightline/kit';
import { DEFAULT_THREADS, loadInferenceConfig } from '../src/config.ts';

test('defaults: loopback 8083, the built-in model, models under the data dir, all cameras', () => {
  const config = loadInferenceConfig({}, '/srv');
  assert.deepEqual(config.http, { host: '127.0.0.1', port: 8083, allowedHosts: [], token: null });
  assert.equal(config.model, 'centernet-coco');
  assert.equal(config.threads, DEFAULT_THREADS);
  assert.equal(config.dataDir, path.resolve('/srv/.data/inference'));
  assert.equal(config.modelsDir, path.resolve('/srv/.data/inference/models'));
  assert.equal(config.scoreThreshold, undefined);
  assert.equal(config.cameras, null);
  assert.equal(config.maxCameras, 64);
  assert.equal(config.cameraIdleMs, 60_000);
  assert.equal(config.waitingMaxBytes, 64 * 1024 * 1024);
  assert.equal(config.maxPredictions, 4);
  assert.deepEqual(config.predictionUrlHosts, [], 'predicting from URLs is off');
  assert.deepEqual(config.recentFrames, { perCamera: 150, maxBytes: 64 * 1024 * 1024 });
  assert.equal(config.syncUrl, null, 'kept frames are refused until sync is named');
});

test('every setting is read', () => {
  const config = loadInferenceConfig(
    {
      SIGHTLINE_DATA_DIR: '/data',
      SIGHTLINE_INFERENCE_HTTP_HOST: '0.0.0.0',
      SIGHTLINE_INFERENCE_HTTP_PORT: '9000',
      SIGHTLINE_HTTP_TOKEN: 'a-token-of-at-least-32-characters-0123',
      SIGHTLINE_HTTP_ALLOWED_HOSTS: 'inference',
      SIGHTLINE_INFERENCE_MODELS_DIR: 'models',
      SIGHTLINE_INFERENCE_MODEL: 'my-model.v2',
      SIGHTLINE_INFERENCE_THREADS: '1',
      SIGHTLINE_INFERENCE_SCORE_THRESHOLD: '0.4',
      SIGHTLINE_INFERENCE_CAMERAS: 'front, back,front',
      SIGHTLINE_INFERENCE_MAX_CAMERAS: '8',
      SIGHTLINE_INFERENCE_CAMERA_IDLE_SECONDS: '30',
      SIGHTLINE_INFERENCE_WAITING_MAX_BYTES: '8388608',
      SIGHTLINE_INFERENCE_PREDICTION_URL_HOSTS: 'Images.Example.com, 127.0.0.1:8080,[::1]:9000,images.example.com',
      SIGHTLINE_INFERENCE_RECENT_FRAMES: '300',
      SIGHTLINE_INFERENCE_RECENT_FRAMES_MAX_BYTES: '33554432',
      SIGHTLINE_INFERENCE_SYNC_URL: 'http://sync:8088/',
      SIGHTLINE_CAPTURE_FPS: '5',
    },
    '/srv',
  );
  assert.deepEqual(config.http, { host: '0.0.0.0', port: 9000, allowedHosts: ['inference'], token: 'a-token-of-at-least-32-characters-0123' });
  assert.equal(config.modelsDir, path.resolve('/srv/models'));
  assert.equal(config.dataDir, path.resolve('/data/inference'));
  assert.equal(config.model, 'my-model.v2');
  assert.equal(config.threads, 1);
  assert.equal(config.scoreThreshold, 0.4);
  assert.deepEqual(config.cameras, ['front', 'back']);
  assert.equal(config.maxCameras, 8);
  assert.equal(config.cameraIdleMs, 30_000);
  assert.equal(config.waitingMaxBytes, 8 * 1024 * 1024);
  assert.deepEqual(config.predictionUrlHosts, ['images.example.com', '127.0.0.1:8080', '[::1]:9000']);
  assert.deepEqual(config.recentFrames, { perCamera: 300, maxBytes: 32 * 1024 * 1024 });
  assert.equal(config.syncUrl, 'http://sync:8088');
});

test('bad values and unknown settings are all reported at once', () => {
  assert.throws(
    () =>
      loadInferenceConfig({
        SIGHTLINE_INFERENCE_THREADS: '0',
        SIGHTLINE_INFERENCE_SCORE_THRESHOLD: '1.5',
        SIGHTLINE_INFERENCE_MODEL: '../x',
        SIGHTLINE_INFERENCE_HTTP_PORT: 'http',
        SIGHTLINE_INFERENCE_TREADS: '2',
        SIGHTLINE_INFERENCE_MAX_CAMERAS: '0',
        SIGHTLINE_INFERENCE_WAITING_MAX_BYTES: '1024',
        SIGHTLINE_INFERENCE_PREDICTION_URL_HOSTS: 'http://images.example.com',
        SIGHTLINE_INFERENCE_RECENT_FRAMES: '-1',
        SIGHTLINE_INFERENCE_RECENT_FRAMES_MAX_BYTES: '1000',
        SIGHTLINE_INFERENCE_SYNC_URL: 'http://user:secret@sync:8088',
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const text = err.problems.join('\n');
      for (const key of [
        'SIGHTLINE_INFERENCE_THREADS',
        'SIGHTLINE_INFERENCE_SCORE_THRESHOLD',
        'SIGHTLINE_INFERENCE_MODEL',
        'SIGHTLINE_INFERENCE_HTTP_PORT',
        'SIGHTLINE_INFERENCE_TREADS: unknown setting',
        'SIGHTLINE_INFERENCE_MAX_CAMERAS',
        'SIGHTLINE_INFERENCE_WAITING_MAX_BYTES',
        'SIGHTLINE_INFERENCE_PREDICTION_URL_HOSTS: "http://images.example.com" is not host or host:port',
        'SIGHTLINE_INFERENCE_RECENT_FRAMES: must be at least 0',
        'SIGHTLINE_INFERENCE_RECENT_FRAMES_MAX_BYTES: must be at least',
        'SIGHTLINE_INFERENCE_SYNC_URL: must be a plain base URL',
      ]) {
        assert.ok(text.includes(key), `${key} in\n${text}`);
      }
      return true;
    },
  );
  assert.throws(() => loadInferenceConfig({ SIGHTLINE_INFERENCE_CAMERAS: 'ok,not ok' }), /"not ok" is not a camera id/);
  assert.throws(() => loadInferenceConfig({ SIGHTLINE_INFERENCE_PREDICTION_URL_HOSTS: ' , ' }), /PREDICTION_URL_HOSTS: lists no hosts/);
  assert.throws(() => loadInferenceConfig({ SIGHTLINE_INFERENCE_PREDICTION_URL_HOSTS: 'images:99999' }), /the port must be 1-65535/);
  assert.throws(() => loadInferenceConfig({ SIGHTLINE_INFERENCE_SYNC_URL: 'ftp://sync' }), /SYNC_URL: must be an http\(s\) URL/);
  assert.throws(() => loadInferenceConfig({ SIGHTLINE_INFERENCE_SYNC_URL: 'sync:8088' }), /SYNC_URL: must be/);
});

test('a replica id must be one topic level, the heartbeat within its bounds; unset, the service is no replica', () => {
  assert.equal(loadInferenceConfig({}, '/srv').replica, null);
  assert.deepEqual(loadInferenceConfig({ SIGHTLINE_INFERENCE_REPLICA: 'edge-2' }, '/srv').replica, { id: 'edge-2', heartbeatMs: 1000 });
  for (const bad of [
    { SIGHTLINE_INFERENCE_REPLICA: '' },
    { SIGHTLINE_INFERENCE_REPLICA: 'a/b' },
    { SIGHTLINE_INFERENCE_REPLICA: '+' },
    { SIGHTLINE_INFERENCE_REPLICA: 'x'.repeat(500) },
    { SIGHTLINE_INFERENCE_REPLICA: 'edge-1', SIGHTLINE_INFERENCE_REPLICA_HEARTBEAT_MS: '50' },
    { SIGHTLINE_INFERENCE_REPLICA: 'edge-1', SIGHTLINE_INFERENCE_REPLICA_HEARTBEAT_MS: 'soon' },
  ])
    assert.throws(
      () => loadInferenceConfig(bad, '/srv'),
      (err: unknown) => err instanceof ConfigError && /SIGHTLINE_INFERENCE_REPLICA/.test((err as Error).message),
      JSON.stringify(bad),
    );
});

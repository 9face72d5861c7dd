import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { connect, type MqttClient } from 'mqtt';
import sharp from 'sharp';
import { createLogger } from '@sightline/kit';
import { channels, createTopics, encodeFrame, type Detections, type ModelState } from '@sightline/schemas';
import { createInferenceApp, type InferenceApp, type InferenceDeps } from '../src/app.ts';
import { DEFAULT_RECOGNITION_THRESHOLD, type InferenceConfig } from '../src/config.ts';
import { BUILTIN_MODEL_ID } from '../src/model/loader.ts';
import { emojiScene } from './helpers.ts';
import { sleep, startTestBroker, waitUntil } from '@sightline/kit/testing';

export const topics = createTopics('sightline');

export { startTestBroker as startBroker };

/** One data dir per test file: the default model is converted once into it. */
let sharedDataDir: string | undefined;
export function dataDir(): string {
  if (!sharedDataDir) {
    sharedDataDir = mkdtempSync(path.join(tmpdir(), 'sightline-inference-svc-'));
    const dir = sharedDataDir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return sharedDataDir;
}

export function testConfig(url: string, overrides: Partial<InferenceConfig> = {}): InferenceConfig {
  const dir = dataDir();
  return {
    logLevel: 'silent',
    mqtt: { url, topicPrefix: 'sightline', username: undefined, password: undefined, ca: undefined },
    http: { host: '127.0.0.1', port: 0 },
    dataDir: dir,
    modelsDir: path.join(dir, 'models'),
    model: BUILTIN_MODEL_ID,
    threads: 2,
    scoreThreshold: undefined,
    cameras: null,
    maxCameras: 64,
    cameraIdleMs: 60_000,
    waitingMaxBytes: 64 * 1024 * 1024,
    maxPredictions: 4,
    predictionUrlHosts: [],
    recentFrames: { perCamera: 150, maxBytes: 64 * 1024 * 1024 },
    syncUrl: null,
    replica: null,
    // Each app its own products: enrollment is state.
    recognition: {
      productsDir: mkdtempSync(path.join(dir, 'products-')),
      threshold: DEFAULT_RECOGNITION_THRESHOLD,
      maxObjects: 3,
      ignore: ['person'],
      limits: { maxProducts: 1000, maxPhotosPerProduct: 200, maxPhotos: 20_000 },
    },
    ...overrides,
  };
}

export async function startApp(t: TestContext, config: InferenceConfig, deps: InferenceDeps = {}): Promise<InferenceApp> {
  const app = createInferenceApp(config, createLogger('inference', process.env['TEST_LOG_LEVEL'] ?? 'silent'), deps);
  t.after(() => app.stop());
  await app.start();
  await waitUntil('the service is ready', () => app.runtime.bus.ready() && app.current() !== null, 10_000);
  return app;
}

export interface Watcher {
  client: MqttClient;
  detections: Detections[];
  states: ModelState[];
  of(camera: string): Detections[];
  waitFor(what: string, check: () => boolean, timeoutMs?: number): Promise<void>;
  sendFrame(camera: string, seq: number, jpeg: Buffer): Promise<void>;
  sendRaw(camera: string, payload: Buffer): Promise<void>;
  sendCommand(payload: object): Promise<void>;
}

export async function watch(t: TestContext, url: string): Promise<Watcher> {
  const client = connect(url, { protocolVersion: 4, clientId: `test-${Math.random().toString(16).slice(2)}` });
  t.after(() => client.endAsync(true));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  const detections: Detections[] = [];
  const states: ModelState[] = [];
  client.on('message', (topic, payload) => {
    if (topics.match(channels.detections, topic)) detections.push(channels.detections.codec.decode(payload));
    else if (topics.match(channels.modelState, topic)) states.push(channels.modelState.codec.decode(payload));
  });
  await client.subscribeAsync([topics.filter(channels.detections), topics.topic(channels.modelState, {})], { qos: 1 });
  return {
    client,
    detections,
    states,
    of: (camera) => detections.filter((d) => d.camera === camera),
    waitFor: (what, check, timeoutMs = 10_000) => waitUntil(what, check, timeoutMs),
    async sendFrame(camera, seq, jpeg) {
      await client.publishAsync(topics.topic(channels.frame, { camera }), encodeFrame(jpeg, { camera, seq, capturedAt: 1_795_000_000_000 + seq }), { qos: 0 });
    },
    async sendRaw(camera, payload) {
      await client.publishAsync(topics.topic(channels.frame, { camera }), payload, { qos: 0 });
    },
    async sendCommand(payload) {
      await client.publishAsync(topics.topic(channels.modelCommand, {}), Buffer.from(JSON.stringify(payload)), { qos: 1 });
    },
  };
}

export { sleep, waitUntil };

/** The tangerine emoji scene as a JPEG, with where the fruit is. */
export async function tangerineJpeg(): Promise<{ jpeg: Buffer; object: { x: number; y: number; width: number; height: number } }> {
  const scene = await emojiScene('1f34a');
  const jpeg = await sharp(scene.rgb, { raw: { width: scene.width, height: scene.height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
  return { jpeg, object: scene.object };
}

export async function greyJpeg(width = 320, height = 240): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 100, g: 120, b: 140 } } })
    .jpeg()
    .toBuffer();
}

/** A small JPEG whose header claims width x height (a decompression bomb, in a few hundred bytes). */
export async function bombJpeg(width = 20000, height = 20000): Promise<Buffer> {
  const jpeg = Buffer.from(await greyJpeg(16, 16));
  for (let i = 2; i < jpeg.length - 9; i++) {
    if (jpeg[i] === 0xff && (jpeg[i + 1] === 0xc0 || jpeg[i + 1] === 0xc2)) {
      jpeg.writeUInt16BE(height, i + 5);
      jpeg.writeUInt16BE(width, i + 7);
      return jpeg;
    }
  }
  throw new Error('no SOF marker');
}

export async function metricValue(app: InferenceApp, name: string, labels: Record<string, string>): Promise<number> {
  const metric = await app.runtime.registry.getSingleMetric(name)?.get();
  const value = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l));
  return value?.value ?? 0;
}

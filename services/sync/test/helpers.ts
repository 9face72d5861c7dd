import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import sharp from 'sharp';
import { connect, type MqttClient } from 'mqtt';
import { createLogger, type Logger } from '@sightline/kit';
import { channels, createTopics, FRAME_COMMENT_TAG, type Detections } from '@sightline/schemas';
import { createSyncApp, type SyncApp, type SyncDeps } from '../src/app.ts';
// Azurite's account lives with Azurite; a path, not a dependency, so the sync image does not carry Azurite.
import { azuriteConnectionString } from '../../../infra/azurite/account.ts';
import { loadSyncConfig, type SyncConfig } from '../src/config.ts';

export { sleep, startTestBroker, waitUntil } from '@sightline/kit/testing';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SYNC_DIR = path.resolve(here, '..');
const AZURITE_BIN = path.join(SYNC_DIR, 'node_modules/.bin/azurite-blob');

export function tempDir(t: TestContext, name = 'sync'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `sightline-${name}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function testLogger(): Logger {
  return createLogger('sync', process.env.TEST_LOG_LEVEL ?? 'silent');
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface Azurite {
  port: number;
  connectionString: string;
  running(): boolean;
  stop(): Promise<void>;
  /** Starts again on the same port with the same storage folder. */
  restart(): Promise<void>;
  service(): BlobServiceClient;
}

async function launch(location: string, port: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    AZURITE_BIN,
    ['--skipApiVersionCheck', '--disableTelemetry', '--silent', '--location', location, '--blobHost', '127.0.0.1', '--blobPort', String(port)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const bound = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`azurite did not start: ${output}`)), 20_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`azurite exited with ${code}: ${output}`));
    });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return { child, port: bound };
}

async function kill(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await exited;
}

/** A real Azurite blob service on an ephemeral loopback port, stopped when the test ends. */
export async function startAzurite(t: TestContext): Promise<Azurite> {
  const location = tempDir(t, 'azurite');
  let { child, port } = await launch(location, 0);
  const connectionString = azuriteConnectionString('127.0.0.1', port);
  t.after(() => kill(child, 'SIGKILL'));
  return {
    port,
    connectionString,
    running: () => child.exitCode === null && child.signalCode === null,
    stop: () => kill(child),
    async restart() {
      await kill(child);
      ({ child } = await launch(location, port));
    },
    service: () => BlobServiceClient.fromConnectionString(connectionString),
  };
}

export function testEnv(brokerUrl: string, dataDir: string, connectionString: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SIGHTLINE_MQTT_URL: brokerUrl,
    SIGHTLINE_DATA_DIR: dataDir,
    SIGHTLINE_SYNC_CONNECTION_STRING: connectionString,
    SIGHTLINE_SYNC_HTTP_PORT: '0',
    SIGHTLINE_SYNC_CONTAINER: 'frames',
    SIGHTLINE_SYNC_RETRY_MIN_SECONDS: '0.1',
    SIGHTLINE_SYNC_RETRY_MAX_SECONDS: '0.5',
    SIGHTLINE_SYNC_START_TIMEOUT_SECONDS: '2',
    SIGHTLINE_SYNC_UPLOAD_TIMEOUT_SECONDS: '3',
    SIGHTLINE_SYNC_SAMPLES_PER_HOUR: '0',
    // Most tests are about the outbox and the store: every uncertain frame its own image, none
    // compared, no daily budget. The selection tests turn these back on.
    SIGHTLINE_SYNC_EVENT_MAX_SECONDS: '0',
    SIGHTLINE_SYNC_DUPLICATE_WINDOW_SECONDS: '0',
    SIGHTLINE_SYNC_DAILY_IMAGES: '1000000',
    SIGHTLINE_SYNC_DAILY_BYTES: String(1024 ** 4),
    ...extra,
  };
}

export function testConfig(brokerUrl: string, dataDir: string, connectionString: string, extra: Record<string, string> = {}): SyncConfig {
  return loadSyncConfig(testEnv(brokerUrl, dataDir, connectionString, extra), dataDir);
}

export async function startApp(t: TestContext, config: SyncConfig, deps: SyncDeps = {}): Promise<SyncApp> {
  const app = createSyncApp(config, testLogger(), deps);
  await app.start();
  t.after(() => app.stop());
  return app;
}

const BASE_JPEG = channels.frame.example.jpeg;

/** BASE_JPEG grown to about `bytes` with comment segments of random bytes (still a valid JPEG). */
function paddedJpeg(bytes: number): Buffer {
  if (bytes <= BASE_JPEG.length) return BASE_JPEG;
  const segments: Buffer[] = [];
  for (let left = bytes - BASE_JPEG.length; left > 4; left -= 65_000) {
    const data = randomBytes(Math.min(64_000, left - 4));
    const head = Buffer.from([0xff, 0xfe, 0, 0]);
    head.writeUInt16BE(data.length + 2, 2);
    segments.push(head, data);
  }
  return Buffer.concat([BASE_JPEG.subarray(0, 2), ...segments, BASE_JPEG.subarray(2)]);
}

/** A frame as capture publishes it: a real JPEG with its metadata; unique bytes per camera/seq/time. */
export function frameJpeg(camera: string, seq: number, capturedAt: number, bytes = 0): Buffer {
  return channels.frame.codec.encode({ meta: { camera, seq, capturedAt, width: 1, height: 1 }, jpeg: paddedJpeg(bytes) });
}

/** A frame whose metadata no Sightline encoder would write (a hostile publisher's), stamped by hand. */
export function unvalidatedFrameJpeg(meta: Record<string, unknown>): Buffer {
  const text = Buffer.from(`${FRAME_COMMENT_TAG}${JSON.stringify(meta)}`);
  const comment = Buffer.concat([Buffer.from([0xff, 0xfe, (text.length + 2) >> 8, (text.length + 2) & 0xff]), text]);
  return Buffer.concat([BASE_JPEG.subarray(0, 2), comment, BASE_JPEG.subarray(2)]);
}

export function detectionsFor(camera: string, seq: number, capturedAt: number, objects: Array<[string, number]>): Detections {
  return {
    camera,
    seq,
    capturedAt,
    width: 1,
    height: 1,
    model: { id: 'test-model', version: '7' },
    objects: objects.map(([label, score]) => ({ label, score, box: null })),
    timings: { decodeMs: 1, preprocessMs: 1, inferenceMs: 1, postprocessMs: 1, totalMs: 4 },
  };
}

/**
 * A camera's picture of a grey counter, with a coloured square on it when `square` is given, and
 * sensor noise (+-6 levels) drawn from `seed`: two seeds are two shots of the same scene.
 */
export async function sceneJpeg(seed: number, square?: { left: number; top: number; size: number }): Promise<Buffer> {
  const width = 320;
  const height = 240;
  const pixels = Buffer.alloc(width * height * 3);
  let state = seed * 7919 + 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside = square !== undefined && x >= square.left && x < square.left + square.size && y >= square.top && y < square.top + square.size;
      const colour = inside ? [230, 120, 20] : [128, 128, 128];
      for (let c = 0; c < 3; c++) {
        state = (state * 1_103_515_245 + 12_345) & 0x7fffffff;
        pixels[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, colour[c]! + Math.round(((state / 0x7fffffff) * 2 - 1) * 6)));
      }
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 80 })
    .toBuffer();
}

export interface Publisher {
  client: MqttClient;
  frame(camera: string, seq: number, capturedAt: number, bytes?: number): Promise<Buffer>;
  /** A frame holding the given JPEG (a scene, not the 1-pixel stand-in); resolves with what was sent. */
  picture(camera: string, seq: number, capturedAt: number, jpeg: Buffer): Promise<Buffer>;
  scan(camera: string, seq: number, label: string, id: string): Promise<void>;
  raw(camera: string, payload: Buffer): Promise<void>;
  detections(d: Detections): Promise<void>;
  alert(camera: string, seq: number, capturedAt: number, id?: string, type?: 'new' | 'update' | 'end'): Promise<void>;
}

export async function publisher(t: TestContext, url: string): Promise<Publisher> {
  const topics = createTopics('sightline');
  const client = connect(url, { protocolVersion: 4, reconnectPeriod: 200, clientId: `test-pub-${Math.random().toString(16).slice(2)}` });
  t.after(() => client.endAsync(true));
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  const send = (topic: string, payload: Buffer, qos: 0 | 1) => client.publishAsync(topic, payload, { qos }).then(() => undefined);
  return {
    client,
    async frame(camera, seq, capturedAt, bytes) {
      const jpeg = frameJpeg(camera, seq, capturedAt, bytes);
      await send(topics.topic(channels.frame, { camera }), jpeg, 1);
      return jpeg;
    },
    async picture(camera, seq, capturedAt, jpeg) {
      const payload = channels.frame.codec.encode({ meta: { camera, seq, capturedAt, width: 320, height: 240 }, jpeg });
      await send(topics.topic(channels.frame, { camera }), payload, 1);
      return payload;
    },
    scan: (camera, seq, label, id) =>
      send(
        topics.topic(channels.scan, { lane: 'lane-1' }),
        channels.scan.codec.encode({ ...channels.scan.example, id, camera, seq, capturedAt: Date.now(), product: { ...channels.scan.example.product, label } }),
        1,
      ),
    raw: (camera, payload) => send(topics.topic(channels.frame, { camera }), payload, 1),
    detections: (d) => send(topics.topic(channels.detections, { camera: d.camera }), channels.detections.codec.encode(d), 1),
    alert: (camera, seq, capturedAt, id = `a-${seq}`, type = 'new') =>
      send(
        topics.topic(channels.alerts, {}),
        channels.alerts.codec.encode({
          type,
          alert: {
            id,
            type: 'person-in-zone',
            rule: 'door',
            severity: 'warning',
            camera,
            message: 'Person in zone',
            firstSeen: capturedAt,
            lastSeen: capturedAt,
            count: 1,
            snapshot: { camera, seq, capturedAt },
            state: 'active',
          },
        }),
        1,
      ),
  };
}

export interface StoredBlob {
  name: string;
  sha256: string;
  size: number;
  metadata: Record<string, string>;
  tags: Record<string, string>;
}

export async function listBlobs(container: ContainerClient): Promise<StoredBlob[]> {
  const out: StoredBlob[] = [];
  if (!(await container.exists())) return out;
  for await (const item of container.listBlobsFlat({ includeMetadata: true, includeTags: true })) {
    const bytes = await container.getBlobClient(item.name).downloadToBuffer();
    out.push({ name: item.name, sha256: sha256(bytes), size: bytes.length, metadata: item.metadata ?? {}, tags: item.tags ?? {} });
  }
  return out;
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export async function metric(app: SyncApp, name: string, labels: Record<string, string> = {}): Promise<number> {
  const values = (await app.runtime.registry.getSingleMetric(name)?.get())?.values ?? [];
  return values.filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)).reduce((sum, v) => sum + v.value, 0);
}

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { connect, type MqttClient } from 'mqtt';
import { createLogger, type Logger } from '@sightline/kit';
import { channels, createTopics, decodeFrame, type Frame } from '@sightline/schemas';
import { createCaptureApp, type CaptureApp, type CaptureDeps } from '../src/app.ts';
import type { CameraConfig, CaptureConfig } from '../src/config.ts';
import { bundledFfmpeg, systemFfmpeg } from '../src/ffmpeg.ts';
import { qscaleFromQuality, type Source } from '../src/sources.ts';
import { sleep, startTestBroker, waitUntil } from '@sightline/kit/testing';

export const SYSTEM_FFMPEG = systemFfmpeg() ?? '/usr/bin/ffmpeg';
export const BUNDLED_FFMPEG = bundledFfmpeg()!;

export { startTestBroker as startBroker };

export interface ReceivedFrame {
  frame: Frame;
  topic: string;
  receivedAt: number;
}

export interface FrameSubscriber {
  client: MqttClient;
  frames: ReceivedFrame[];
  of(camera: string): ReceivedFrame[];
  /** Resolves once `count` frames of `camera` arrived, or rejects after `timeoutMs`. */
  waitFor(camera: string, count: number, timeoutMs: number): Promise<ReceivedFrame[]>;
}

export async function subscribeFrames(t: TestContext, url: string, prefix = 'sightline'): Promise<FrameSubscriber> {
  const topics = createTopics(prefix);
  const client = connect(url, { protocolVersion: 4, reconnectPeriod: 200, clientId: `test-sub-${Math.random().toString(16).slice(2)}` });
  t.after(() => client.endAsync(true));
  const frames: ReceivedFrame[] = [];
  client.on('message', (topic, payload) => {
    if (topics.match(channels.frame, topic) === null) return;
    frames.push({ frame: decodeFrame(payload), topic, receivedAt: Date.now() });
  });
  client.on('connect', () => client.subscribe(topics.filter(channels.frame, {}), { qos: 0 }));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => client.subscribe(topics.filter(channels.frame, {}), { qos: 0 }, (err) => (err ? reject(err) : resolve())));
  });
  const of = (camera: string) => frames.filter((f) => f.frame.meta.camera === camera);
  return {
    client,
    frames,
    of,
    async waitFor(camera, count, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (of(camera).length < count) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} frames of ${camera}: got ${of(camera).length}`);
        await sleep(50);
      }
      return of(camera);
    },
  };
}

export { sleep, waitUntil };

export function tempDir(t: TestContext, name = 'capture'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `sightline-${name}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function ffmpegRun(file: string, args: string[], timeoutMs = 30_000): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'buffer' }, (err, _stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stderr: stderr.toString() });
    });
  });
}

/** Runs ffmpeg and returns its stdout bytes. */
export function ffmpegOutput(file: string, args: string[], timeoutMs = 30_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024, encoding: 'buffer' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}: ${stderr.toString()}`));
      else resolve(stdout);
    });
  });
}

export function camera(id: string, source: Source, overrides: Partial<CameraConfig> = {}): CameraConfig {
  const quality = overrides.quality ?? 60;
  return { id, source, fps: 5, width: 320, height: 240, quality, qscale: qscaleFromQuality(quality), motion: null, ...overrides };
}

export function testConfig(brokerUrl: string, dataDir: string, cameras: CameraConfig[], overrides: Partial<CaptureConfig> = {}): CaptureConfig {
  return {
    logLevel: 'silent',
    mqtt: { url: brokerUrl, topicPrefix: 'sightline' },
    http: { host: '127.0.0.1', port: 0 },
    dataDir,
    ffmpegPath: undefined,
    stallSeconds: 10,
    statusHeartbeatSeconds: 30,
    cameras,
    ...overrides,
  };
}

export function testLogger(): Logger {
  return createLogger('capture', process.env['TEST_LOG_LEVEL'] ?? 'silent');
}

export async function startApp(t: TestContext, config: CaptureConfig, deps: CaptureDeps = {}): Promise<CaptureApp> {
  const app = createCaptureApp(config, testLogger(), { backoff: { initialMs: 300, maxMs: 2000 }, ...deps });
  t.after(() => app.stop());
  await app.start();
  return app;
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createLogger, type Logger } from '@sightline/kit';
import { startTestBroker, waitUntil } from '@sightline/kit/testing';
import { connect } from 'mqtt';
import { channels, createBus, createTopics, type Audio, type Bus, type Speech } from '@sightline/schemas';
import { createTtsApp, type TtsDeps } from '../src/app.ts';
import { loadTtsConfig, type TtsConfig } from '../src/config.ts';
import { createOfflineVoice, ProviderError, type OfflineVoice, type SpeechProvider, type Synthesis, type SynthesisRequest } from '@sightline/voice';

export { BANANA, laneEvent, scan } from '@sightline/voice/testing';

export const FIXTURE_CATALOG = join(import.meta.dirname, 'fixtures', 'catalog.yaml');

export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'sightline-tts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface CapturedLogs {
  logger: Logger;
  lines: Array<Record<string, unknown>>;
  text(): string;
}

/** A real pino logger writing into memory, to check what is (and is not) logged. */
export function captureLogs(level = 'debug'): CapturedLogs {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const logger = createLogger('tts', level, {
    write(line: string) {
      raw.push(line);
      lines.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  return { logger, lines, text: () => raw.join('') };
}

/** One offline voice for a whole test file: the engine is loaded once per process anyway. */
let shared: OfflineVoice | undefined;
export function offlineVoice(): OfflineVoice {
  shared ??= createOfflineVoice();
  return shared;
}

/**
 * A provider that answers after a delay with a short tone: stands in for a cloud voice that is
 * slow (the "slower than budget" path) or one whose answers must be told apart from espeak's.
 */
export function slowProvider(options: { name?: string; delayMs: number | ((text: string) => number); fail?: string }): SpeechProvider & { calls: string[] } {
  const calls: string[] = [];
  return {
    name: options.name ?? 'slow',
    soundKey: 'tone/16000',
    calls,
    voiceFor: (locale) => (['en-US', 'es-ES', 'fr-FR'].includes(locale) ? `tone-${locale}` : null),
    voices: () => ['en-US', 'es-ES', 'fr-FR'].map((locale) => ({ locale, voice: `tone-${locale}` })),
    synthesize({ text, locale, signal }: SynthesisRequest): Promise<Synthesis> {
      calls.push(text);
      const delay = typeof options.delayMs === 'function' ? options.delayMs(text) : options.delayMs;
      return new Promise((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        if (!['en-US', 'es-ES', 'fr-FR'].includes(locale)) return reject(new ProviderError('slow', `no voice for ${locale}`));
        const timer = setTimeout(() => {
          if (options.fail) return reject(new ProviderError('slow', options.fail));
          const samples = Buffer.alloc(1600 * 2);
          for (let i = 0; i < 1600; i++) samples.writeInt16LE(Math.round(8000 * Math.sin(i / 5)), i * 2);
          resolve({ pcm: { samples, format: { sampleRate: 16000, channels: 1 } }, voice: `tone-${locale}` });
        }, delay);
        signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(signal.reason);
        });
      });
    },
    async close() {},
  };
}

/** A tool on the bus: what tts says (audio and speech) is collected; `raw` publishes anything. */
export interface Peer {
  bus: Bus;
  raw(topic: string, payload: string | Buffer): Promise<void>;
  audio: Array<{ lane: string; value: Audio }>;
  speech: Array<{ lane: string; value: Speech }>;
}

export async function connectPeer(t: TestContext, url: string): Promise<Peer> {
  const client = connect(url, { protocolVersion: 4, reconnectPeriod: 200, clientId: `peer-${Math.random().toString(16).slice(2)}` });
  t.after(() => client.endAsync(true));
  const bus = createBus({ client, topics: createTopics('sightline'), logger: { warn() {}, error() {}, debug() {} } });
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  const peer: Peer = {
    bus,
    raw: (topic, payload) => new Promise((resolve, reject) => client.publish(topic, payload, { qos: 1 }, (err) => (err ? reject(err) : resolve()))),
    audio: [],
    speech: [],
  };
  await bus.subscribe(channels.audio, {}, (value, { lane }) => void peer.audio.push({ lane, value }));
  await bus.subscribe(channels.speech, {}, (value, { lane }) => void peer.speech.push({ lane, value }));
  return peer;
}

/** The settings the tests share: a fresh data dir, the fixture catalog, no pre-render. */
export function testConfig(t: TestContext, url: string, env: NodeJS.ProcessEnv = {}): TtsConfig {
  return loadTtsConfig({
    SIGHTLINE_MQTT_URL: url,
    SIGHTLINE_TTS_HTTP_PORT: '0',
    SIGHTLINE_DATA_DIR: tempDir(t),
    SIGHTLINE_TTS_CATALOG_FILE: FIXTURE_CATALOG,
    SIGHTLINE_TTS_PRERENDER: 'false',
    ...env,
  });
}

/** tts on a real broker, ready, with a peer on the bus and its logs and metrics at hand. */
export async function startApp(t: TestContext, env: NodeJS.ProcessEnv = {}, deps: TtsDeps = {}) {
  const broker = await startTestBroker(t);
  const logs = captureLogs();
  const app = createTtsApp(testConfig(t, broker.url, env), logs.logger, { offline: offlineVoice(), ...deps });
  t.after(() => app.stop());
  await app.start();
  await waitUntil('tts is ready', async () => (await app.runtime.http.inject({ url: '/readyz' })).statusCode === 200);
  const peer = await connectPeer(t, broker.url);
  const metrics = async () => (await app.runtime.http.inject({ url: '/metrics' })).body;
  const metric = async (pattern: RegExp) => Number(pattern.exec(await metrics())?.[1] ?? 0);
  return { app, peer, logs, broker, metrics, metric };
}

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { connect, type MqttClient } from 'mqtt';
import { createLogger } from '@sightline/kit';
import { startTestBroker, waitUntil } from '@sightline/kit/testing';
import {
  channels,
  createBus,
  createTopics,
  parseWav,
  pcmDurationMs,
  type Bus,
  type ControlCommand,
  type ControlResult,
  type LaneCommand,
  type LaneEvent,
  type Pcm,
  type Scan,
  type Speech,
} from '@sightline/schemas';
import { createSpeakerApp, FileSink, loadSpeakerConfig, type FallbackAnnouncer, type SpeakerApp, type SpeakerConfig, type SpeakerDeps } from '../src/index.ts';
import { tone } from './tones.ts';
import type { CleanupScope } from './pulse-server.ts';

export const silentLogger = createLogger('speaker', 'silent');

export function tempDir(t: CleanupScope): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'speaker-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A folder for an app's file output. It is removed by `cleanUp`, which the test registers after
 * the app: after hooks run in order, and a file output still playing would make the folder again.
 */
export function outputDir(): { dir: string; cleanUp: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'speaker-test-'));
  return { dir, cleanUp: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A config as main.ts would load it, from these settings on top of a broker URL. */
export function testConfig(brokerUrl: string, settings: Record<string, string> = {}): SpeakerConfig {
  return loadSpeakerConfig({ SIGHTLINE_MQTT_URL: brokerUrl, SIGHTLINE_SPEAKER_HTTP_PORT: '0', ...settings });
}

export async function startApp(t: TestContext, config: SpeakerConfig, deps: SpeakerDeps = {}): Promise<SpeakerApp> {
  const app = createSpeakerApp(config, silentLogger, deps);
  t.after(() => app.stop());
  await app.start();
  return app;
}

/** The test's side of the bus: what checkout and tts would publish. */
export interface Peer {
  client: MqttClient;
  bus: Bus;
  scan(lane: string, id: string, at?: number): Promise<Scan>;
  /** Publishes a tone as an utterance about `sourceId`. */
  say(lane: string, options: SayOptions): Promise<Speech>;
  raw(topic: string, payload: Buffer | string, retain?: boolean): Promise<void>;
  tts(state: 'online' | 'offline'): Promise<void>;
  /** A shopper's control, as the keypad, the screen or an integrator sends it. */
  control(lane: string, command: LaneCommand, extra?: Omit<ControlCommand, 'command'>): Promise<void>;
  /** A lane event as checkout sends it (`total`, `session-ended`...). */
  event(event: LaneEvent): Promise<void>;
  /** Every control result and every control command seen on the bus since connecting, in order. */
  results: ControlResult[];
  commands: Array<ControlCommand & { lane: string }>;
}

export interface SayOptions {
  frequency: number;
  ms: number;
  sourceId: string;
  sourceAt?: number;
  kind?: Speech['source']['kind'];
  /** For `kind: 'control'`: the command the feedback answers. */
  command?: string;
  part?: { index: number; count: number };
  interruptible?: boolean;
  id?: string;
  locale?: string;
  sampleRate?: number;
}

let counter = 0;

export function scanOf(lane: string, id: string, at: number, locale = 'en-US'): Scan {
  return {
    id,
    lane,
    locale,
    at,
    camera: 'demo',
    seq: 1,
    capturedAt: at - 100,
    product: { sku: 'FRUIT-ORANGE', label: 'orange', name: 'Oranges', spoken: { one: 'orange' } },
    confidence: 0.9,
    pricing: 'unit',
    quantity: 1,
    weightGrams: null,
    unitPriceMinor: 55,
    priceMinor: 55,
    currency: 'USD',
    basket: { id: 'basket-1', count: 1, totalMinor: 55 },
  } as Scan;
}

export function speechOf(lane: string, options: SayOptions): Speech {
  const at = options.sourceAt ?? Date.now();
  return {
    id: options.id ?? `utt-${++counter}`,
    lane,
    at,
    source: { kind: options.kind ?? 'scan', id: options.sourceId, at, ...(options.command !== undefined ? { command: options.command } : {}) },
    ...(options.part !== undefined ? { part: options.part } : {}),
    text: `tone ${options.frequency}`,
    locale: options.locale ?? 'en-US',
    provider: 'espeak',
    voice: 'en-us',
    cached: false,
    synthMs: 1,
    durationMs: options.ms,
    interruptible: options.interruptible ?? true,
  } as Speech;
}

export async function connectPeer(t: TestContext, url: string): Promise<Peer> {
  const client = await new Promise<MqttClient>((resolve, reject) => {
    const c = connect(url, { protocolVersion: 4, reconnectPeriod: 0 });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
  t.after(() => client.endAsync(true));
  const topics = createTopics('sightline');
  const bus = createBus({ client, topics, logger: silentLogger });
  const results: ControlResult[] = [];
  const commands: Array<ControlCommand & { lane: string }> = [];
  await bus.subscribe(channels.laneControlResult, {}, (result) => {
    results.push(result);
  });
  await bus.subscribe(channels.laneControl, {}, (command, { lane }) => {
    commands.push({ ...command, lane });
  });
  return {
    client,
    bus,
    results,
    commands,
    async control(lane, command, extra = {}) {
      await bus.publish(channels.laneControl, { lane }, { command, ...extra });
    },
    async event(event) {
      await bus.publish(channels.laneEvent, { lane: event.lane }, event);
    },
    async scan(lane, id, at = Date.now()) {
      const scan = scanOf(lane, id, at);
      await bus.publish(channels.scan, { lane }, scan);
      return scan;
    },
    async say(lane, options) {
      const meta = speechOf(lane, options);
      const rate = options.sampleRate ?? 22050;
      await bus.publish(
        channels.audio,
        { lane },
        { meta, pcm: { samples: tone(options.frequency, options.ms, rate), format: { sampleRate: rate, channels: 1 } } },
      );
      return meta;
    },
    async raw(topic, payload, retain = false) {
      await client.publishAsync(topic, payload, { qos: 1, retain });
    },
    async tts(state) {
      await bus.publish(channels.availability, { service: 'tts' }, state);
    },
  };
}

async function values(app: SpeakerApp, name: string) {
  const metric = app.runtime.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  return (await metric.get()).values as Array<{ value: number; labels: Record<string, unknown>; metricName?: string }>;
}

/** A counter's value summed over the series matching `labels`. */
export async function metricValue(app: SpeakerApp, name: string, labels: Record<string, string> = {}): Promise<number> {
  return (await values(app, name))
    .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}

/** How many observations a histogram holds, and their sum. */
export async function histogram(app: SpeakerApp, name: string): Promise<{ count: number; sum: number }> {
  const all = await values(app, name);
  const pick = (suffix: string) => all.filter((v) => v.metricName === `${name}${suffix}`).reduce((sum, v) => sum + v.value, 0);
  return { count: pick('_count'), sum: pick('_sum') };
}

export interface FileSpeaker {
  app: SpeakerApp;
  peer: Peer;
  dir: string;
  /** `lane kind id` of each clip played so far, in order. */
  played(): string[];
}

/**
 * A speaker on a fresh test broker playing to the file output (a real output whose result is a
 * folder listing: one WAV per clip, in playing order), ready, with a peer to talk to it.
 */
export async function fileSpeaker(
  t: TestContext,
  settings: Record<string, string> = {},
  options: { realtime?: boolean; announcer?: FallbackAnnouncer; maxFiles?: number } = {},
): Promise<FileSpeaker> {
  const broker = await startTestBroker(t);
  const { dir, cleanUp } = outputDir();
  const sink = new FileSink({ dir, maxFiles: options.maxFiles ?? 10_000, maxBytes: 500_000_000, realtime: options.realtime ?? true });
  // The output's folder is also the config's, so headset outputs (made from the config) go in folders under it.
  const app = await startApp(t, testConfig(broker.url, { SIGHTLINE_SPEAKER_OUTPUT: 'file', SIGHTLINE_SPEAKER_FILE_DIR: dir, ...settings }), {
    sink,
    ...(options.announcer ? { announcer: options.announcer } : {}),
  });
  t.after(cleanUp);
  const peer = await connectPeer(t, broker.url);
  await waitUntil('ready', async () => (await app.runtime.http.inject({ url: '/readyz' })).statusCode === 200, 5000);
  const played = () =>
    readdirSync(dir)
      .filter((n) => n.endsWith('.wav'))
      .sort()
      .map((n) =>
        n
          .replace(/\.wav$/, '')
          .split('_')
          .slice(1)
          .join(' '),
      );
  return { app, peer, dir, played };
}

export interface PlayedClip extends Pcm {
  /** `lane kind id`, as `played()` lists it. */
  name: string;
  durationMs: number;
}

/** The clips the file output wrote to `dir`, in playing order, with their samples. */
export function clipsIn(dir: string): PlayedClip[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.endsWith('.wav'))
    .sort()
    .map((n) => {
      const { pcm } = parseWav(readFileSync(path.join(dir, n)));
      const name = n
        .replace(/\.wav$/, '')
        .split('_')
        .slice(1)
        .join(' ');
      return { name, ...pcm, durationMs: pcmDurationMs(pcm) };
    });
}

/** The level of 16-bit PCM, dB relative to full scale (RMS). */
export function levelDb(samples: Buffer | Int16Array): number {
  const values =
    samples instanceof Int16Array
      ? samples
      : new Int16Array(samples.buffer.slice(samples.byteOffset, samples.byteOffset + samples.length - (samples.length % 2)));
  let sum = 0;
  for (const v of values) sum += v * v;
  return 10 * Math.log10(sum / Math.max(1, values.length) / 32768 ** 2);
}

/**
 * `pnpm bench:speech`: how long a shopper waits to hear a scan. The dev stack's broker, checkout,
 * tts (offline voice) and speaker run as `pnpm start` runs them, the speaker playing to a private
 * PulseAudio null sink whose monitor is recorded. The bench plays camera and scale: it publishes
 * a settled weight, then the detections messages that make a scan; the clock runs from publishing
 * the detections message that completes the scan to the first audio sample on the sink, timed
 * when the monitor recording hands that sample over (10 ms recorder latency: a little late, never
 * early).
 *
 * - uncached: every scan says a new sentence (a new weight, so a new price);
 * - cached: the same scan again, so its sentence comes from the audio cache;
 * - earcon: the acknowledgement tone the speaker plays on the scan itself;
 * - floor: `pacat` playing a WAV straight to the same sink, spawned by the bench: the least any
 *   announcement can cost here. Ratios against it are less noisy than absolute times.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { buildWav, channels, createTopics, type Detections, type Speech } from '@sightline/schemas';
import { startPulseServer, type PulseServer, type Recording } from '@sightline/speaker/testing';
import { launchStack, type LaunchedStack } from './launch.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const topics = createTopics();
const LANE = 'lane-1';
const CAMERA = 'demo';
/** A sample above this (of 32767) is sound, not the null sink's silence. */
const SOUND = 200;

const cleanups: Array<() => unknown> = [];
const scope = { after: (fn: () => unknown) => void cleanups.push(fn) };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** The wall-clock time of the first sound on the sink after `since` (epoch ms), or null. */
function firstSoundAfter(recording: Recording, since: number): number | null {
  const start = Math.max(0, Math.floor(((since - recording.timeAt(0)) / 1000) * recording.sampleRate));
  const samples = recording.samples(start);
  for (let i = 0; i < samples.length; i++) if (Math.abs(samples[i]!) > SOUND) return recording.arrivedAt(start + i);
  return null;
}

async function waitForSound(recording: Recording, since: number, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const at = firstSoundAfter(recording, since);
    if (at !== null) return at;
    if (Date.now() > deadline) throw new Error(`no sound on the sink within ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** Waits until the sink has been silent for `quietMs`. */
async function waitForSilence(recording: Recording, quietMs = 400, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const window = Math.round((quietMs / 1000) * recording.sampleRate);
  for (;;) {
    const tail = recording.samples(Math.max(0, recording.mark() - window));
    if (tail.length === window && tail.every((s) => Math.abs(s) <= SOUND)) return;
    if (Date.now() > deadline) throw new Error('the sink never went quiet');
    await sleep(50);
  }
}

interface Stack {
  mqttPort: number;
  login: LaunchedStack['login'];
  stop(): Promise<void>;
}

async function startStack(pulse: PulseServer, dataDir: string, extra: Record<string, string>): Promise<Stack> {
  const stack = await launchStack(dataDir, {
    SIGHTLINE_LOG_LEVEL: 'warn',
    SIGHTLINE_STACK_SERVICES: 'broker,checkout,tts,speaker',
    // The bench is the scale.
    SIGHTLINE_CHECKOUT_SCALE_SIMULATOR: 'false',
    SIGHTLINE_SPEAKER_OUTPUT: 'pulse',
    SIGHTLINE_SPEAKER_PULSE_SERVER: pulse.server,
    SIGHTLINE_SPEAKER_PULSE_DEVICE: pulse.sink,
    ...extra,
  });
  return {
    mqttPort: stack.mqttPort,
    login: stack.login,
    async stop() {
      process.kill(stack.pid, 'SIGINT');
      await Promise.race([stack.exited, sleep(10_000)]);
      stack.kill();
    },
  };
}

/** Plays the camera (as the inference service would publish) and the scale (as an integrator's adapter). */
class Shopper {
  private seq = 0;
  private readonly camera: MqttClient;
  private readonly scale: MqttClient;
  constructor(camera: MqttClient, scale: MqttClient) {
    this.camera = camera;
    this.scale = scale;
  }

  private detections(objects: Detections['objects']): Detections {
    const now = Date.now();
    return {
      camera: CAMERA,
      seq: this.seq++,
      capturedAt: now,
      width: 640,
      height: 480,
      model: { id: 'centernet-coco', version: '1' },
      objects,
      timings: { decodeMs: 0, preprocessMs: 0, inferenceMs: 0, postprocessMs: 0, totalMs: 0 },
    };
  }

  async frame(objects: Detections['objects']): Promise<void> {
    const topic = topics.topic(channels.detections, { camera: CAMERA });
    await this.camera.publishAsync(topic, channels.detections.codec.encode(this.detections(objects)), { qos: 0 });
  }

  async weigh(grams: number): Promise<void> {
    const topic = topics.topic(channels.weight, { lane: LANE });
    await this.scale.publishAsync(topic, channels.weight.codec.encode({ grams, stable: true }), { qos: 0 });
  }

  /** Places an orange of `grams` and returns the time the completing detections message left. */
  async placeOrange(grams: number, frames: number): Promise<number> {
    await this.weigh(grams);
    await sleep(50);
    const orange = [{ label: 'orange', score: 0.5, box: { x: 0.35, y: 0.3, width: 0.3, height: 0.4 } }];
    for (let i = 1; i < frames; i++) {
      await this.frame(orange);
      await sleep(200);
    }
    const sentAt = Date.now();
    await this.frame(orange);
    return sentAt;
  }

  /** Takes the item away long enough for the next one to count as new. */
  async clear(): Promise<void> {
    await this.weigh(0);
    for (let i = 0; i < 8; i++) {
      await this.frame([]);
      await sleep(200);
    }
  }
}

interface Sample {
  ms: number;
  speech?: Speech;
}

async function measure(stack: Stack, recording: Recording, rounds: number, weights: (round: number) => number, label: string): Promise<Sample[]> {
  const client = await connectAsync(`mqtt://127.0.0.1:${stack.mqttPort}`, { protocolVersion: 4 });
  const speeches: Speech[] = [];
  await client.subscribeAsync(topics.filter(channels.speech, { lane: LANE }), { qos: 1 });
  client.on('message', (_topic, payload) => speeches.push(channels.speech.codec.decode(payload)));
  const url = `mqtt://127.0.0.1:${stack.mqttPort}`;
  const camera = await connectAsync(url, { protocolVersion: 4, ...stack.login('inference') });
  const scale = await connectAsync(url, { protocolVersion: 4, ...stack.login('operator') });
  const shopper = new Shopper(camera, scale);
  await shopper.clear();
  const samples: Sample[] = [];
  for (let round = 0; round < rounds; round++) {
    await waitForSilence(recording);
    const before = speeches.length;
    const sentAt = await shopper.placeOrange(weights(round), 3);
    const heardAt = await waitForSound(recording, sentAt);
    await waitForSilence(recording);
    samples.push({ ms: heardAt - sentAt, speech: speeches.slice(before).find((s) => s.source.kind === 'scan') });
    process.stdout.write(`\r${label}: ${round + 1}/${rounds}`);
    await shopper.clear();
  }
  process.stdout.write('\n');
  await Promise.all([client.endAsync(), camera.endAsync(), scale.endAsync()]);
  return samples;
}

/** The floor: a WAV straight into the sink with pacat, from spawning it to the first sound. */
async function measureFloor(pulse: PulseServer, recording: Recording, rounds: number): Promise<number[]> {
  const tone = Buffer.alloc(pulse.sampleRate * 2 * 0.3);
  for (let i = 0; i < tone.length / 2; i++) tone.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / pulse.sampleRate)), i * 2);
  const wav = buildWav(tone, { sampleRate: pulse.sampleRate, channels: 1 });
  const out: number[] = [];
  for (let round = 0; round < rounds; round++) {
    await waitForSilence(recording, 200);
    const sentAt = Date.now();
    const player = spawn('pacat', [`--server=${pulse.server}`, `--device=${pulse.sink}`, '--file-format=wav', '--latency-msec=30'], {
      env: pulse.env,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    player.stdin!.end(wav);
    out.push((await waitForSound(recording, sentAt)) - sentAt);
    await new Promise((resolve) => player.once('exit', resolve));
  }
  return out;
}

function row(name: string, values: number[], floor: number): string {
  const p50 = percentile(values, 50);
  const p95 = percentile(values, 95);
  return `| ${name} | ${values.length} | ${p50.toFixed(0)} | ${p95.toFixed(0)} | ${(p95 / floor).toFixed(1)} |`;
}

try {
  const pulse = await startPulseServer(scope, { sampleRate: 22050 });
  const recording = await pulse.record();
  const floor = await measureFloor(pulse, recording, 10);
  const floorP95 = percentile(floor, 95);

  const dataDir = mkdtempSync(join(tmpdir(), 'sightline-bench-speech-'));
  scope.after(() => rmSync(dataDir, { recursive: true, force: true }));

  // Speech without the earcon, so the first sound is the sentence itself.
  let stack = await startStack(pulse, dataDir, { SIGHTLINE_SPEAKER_EARCON: 'false' });
  // Every round a new weight (150 g, 160 g, ...): a new price, a sentence never said before.
  const uncached = await measure(stack, recording, ROUNDS, (round) => 150 + 10 * round, 'uncached');
  // One more at a weight not used above, then the same scan again and again.
  const cached = (await measure(stack, recording, ROUNDS + 1, () => 137, 'cached')).slice(1);
  await stack.stop();

  stack = await startStack(pulse, dataDir, { SIGHTLINE_SPEAKER_EARCON: 'true' });
  const earcon = await measure(stack, recording, Math.min(ROUNDS, 10), (round) => 300 + 10 * round, 'earcon');
  await stack.stop();

  const uncachedMs = uncached.map((s) => s.ms);
  const cachedMs = cached.map((s) => s.ms);
  const cacheHits = cached.filter((s) => s.speech?.cached).length;
  const uncachedHits = uncached.filter((s) => s.speech?.cached).length;
  const synth = uncached.map((s) => s.speech?.synthMs ?? Number.NaN).filter((n) => !Number.isNaN(n));
  console.log('');
  console.log(`From the detections message that completes a scan to the first sample on the PulseAudio null sink (offline voice, ${ROUNDS} rounds each).`);
  console.log('');
  console.log('| path | n | p50 ms | p95 ms | p95 / floor p95 |');
  console.log('|---|---|---|---|---|');
  console.log(row('floor: pacat straight to the sink', floor, floorP95));
  console.log(
    row(
      'earcon (acknowledgement tone)',
      earcon.map((s) => s.ms),
      floorP95,
    ),
  );
  console.log(row('speech, cached sentence', cachedMs, floorP95));
  console.log(row('speech, uncached sentence', uncachedMs, floorP95));
  console.log('');
  console.log(`tts synthesis of the uncached sentences: p50 ${percentile(synth, 50).toFixed(0)} ms, p95 ${percentile(synth, 95).toFixed(0)} ms`);
  console.log(`cache: ${cacheHits}/${cached.length} cached rounds were cache hits; ${uncachedHits}/${uncached.length} uncached rounds were (should be 0)`);
  const cachedP95 = percentile(cachedMs, 95);
  const uncachedP95 = percentile(uncachedMs, 95);
  console.log(
    `goals: cached p95 ${cachedP95.toFixed(0)} ms (goal <= 250): ${cachedP95 <= 250 ? 'met' : 'NOT met'}; uncached p95 ${uncachedP95.toFixed(0)} ms (goal <= 600): ${uncachedP95 <= 600 ? 'met' : 'NOT met'}`,
  );
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}

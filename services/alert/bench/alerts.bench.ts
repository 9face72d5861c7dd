/**
 * How many detections messages per second the rule engine evaluates against 10 restricted zones
 * (in process, engine and SQLite store only; no MQTT), beside the baseline every subscriber pays
 * for the same messages anyway: decoding and validating them with the detections channel codec.
 * Run: pnpm bench:alerts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { createLogger } from '@sightline/kit';
import { channels, type Detections } from '@sightline/schemas';
import { RuleEngine } from '../src/engine.ts';
import { createAlertMetrics } from '../src/metrics.ts';
import { ruleSchema } from '../src/rules.ts';
import { AlertStore } from '../src/store.ts';

const seconds = Number(process.env['BENCH_SECONDS'] ?? 3);
const dir = mkdtempSync(path.join(tmpdir(), 'sightline-alert-bench-'));
const store = new AlertStore(dir);
const rules = Array.from({ length: 10 }, (_, i) =>
  ruleSchema.parse({
    id: `zone-${i}`,
    type: 'person-in-zone',
    camera: 'cam1',
    dwellSeconds: 1,
    zone: [
      [i / 10, 0.5],
      [(i + 1) / 10, 0.5],
      [(i + 1) / 10, 1],
      [(i + 0.5) / 10, 0.8],
      [i / 10, 1],
    ],
  }),
);
let events = 0;
const registry = new Registry();
const engine = new RuleEngine({
  rules,
  store,
  metrics: createAlertMetrics(registry, () => new Map()),
  logger: createLogger('alert', 'silent'),
  publish: () => void events++,
  updateIntervalMs: 5000,
  expireSeconds: 600,
  self: 'alert',
});

// 64 prepared messages of 6 objects each; about a third have a person standing in some zone.
const messages: Detections[] = Array.from({ length: 64 }, (_, m) => ({
  camera: 'cam1',
  seq: m,
  capturedAt: 1_800_000_000_000 + m,
  width: 640,
  height: 480,
  model: { id: 'bench', version: '1' } as unknown as Detections['model'],
  objects: Array.from({ length: 6 }, (_, o) => {
    const x = ((m * 7 + o * 13) % 100) / 100;
    const inZone = m % 3 === 0 && o === 0;
    return {
      label: o % 2 === 0 ? 'person' : 'bag',
      score: 0.6 + (o % 4) / 10,
      box: { x: Math.min(x, 0.9), y: inZone ? 0.5 : 0.1, width: 0.08, height: inZone ? 0.4 : 0.3 },
    };
  }),
  timings: { decodeMs: 1, preprocessMs: 1, inferenceMs: 1, postprocessMs: 1, totalMs: 4 },
}));

// Baseline: the bus's decode and validation of the same messages, as a subscriber receives them.
const payloads = messages.map((message) => channels.detections.codec.encode(message));
let decoded = 0;
const decodeStart = performance.now();
const decodeDeadline = decodeStart + seconds * 1000;
while (performance.now() < decodeDeadline) {
  for (let i = 0; i < 1000; i++) channels.detections.codec.decode(payloads[decoded++ % payloads.length]!);
}
const decodeRate = decoded / ((performance.now() - decodeStart) / 1000);

let n = 0;
const start = performance.now();
const deadline = start + seconds * 1000;
while (performance.now() < deadline) {
  for (let i = 0; i < 1000; i++) engine.onDetections(messages[n++ % messages.length]!);
  engine.tick();
}
const elapsed = (performance.now() - start) / 1000;
const rate = n / elapsed;
console.log(
  `engine only: ${n} detections messages (6 objects each) against 10 restricted zones in ${elapsed.toFixed(2)} s = ${Math.round(rate)} messages/s (${Math.round(rate * 10)} rule evaluations/s); ${events} alert events, ${store.count()} alerts stored`,
);
console.log(`baseline, decoding and validating the same messages (channels.detections codec): ${Math.round(decodeRate)} messages/s`);
console.log(`rule engine cost per message vs its decode: ${(decodeRate / rate).toFixed(2)} (below 1: the rules cost less than receiving the message)`);
store.close();
rmSync(dir, { recursive: true, force: true });

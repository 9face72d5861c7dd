/**
 * Measures what the tts service costs (not a test): espeak-ng WASM start-up, a scan sentence
 * uncached vs from the memory and disk caches, and whole sentences vs cached pieces joined with
 * silence. Run: `pnpm bench:tts` (prints a table; about 20 s on 2 cores).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@sightline/kit';
import { channels, type Scan } from '@sightline/schemas';
import { createOfflineVoice, sentenceFor } from '@sightline/voice';
import { AudioCache } from '../src/cache.ts';
import { Narrator } from '../src/narrator.ts';

const ROUNDS = 15;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const p90 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.9)]!;
const rows: Array<[string, string]> = [];
const row = (what: string, values: number[]) =>
  rows.push([what, `median ${median(values).toFixed(1)} ms, p90 ${p90(values).toFixed(1)} ms (n=${values.length})`]);

const voice = createOfflineVoice();
const { initMs, warmUpMs } = await voice.init();
rows.push(['espeak-ng WASM init (import + instantiate + voice list)', `${initMs.toFixed(1)} ms`]);
rows.push(['warm-up in init (2 sentences while the WASM code is optimised)', `${warmUpMs.toFixed(1)} ms`]);
{
  const t = performance.now();
  await voice.synthesize({ text: 'You scanned an orange, 0.18 kilograms, 55 cents.', locale: 'en-US' });
  rows.push(['first scan sentence after init', `${(performance.now() - t).toFixed(1)} ms`]);
  const es = performance.now();
  await voice.synthesize({ text: 'Has escaneado una naranja, 0,18 kilogramos, 55 céntimos.', locale: 'es-ES' });
  rows.push(['first es-ES sentence after init', `${(performance.now() - es).toFixed(1)} ms`]);
}

const dir = mkdtempSync(join(tmpdir(), 'tts-measure-'));
const logger = createLogger('tts', 'silent');
const fresh = () => new AudioCache({ memoryBytes: 64 * 1024 * 1024, disk: { dir: join(dir, String(Math.random())), maxBytes: 256 * 1024 * 1024 } });
const scanAt = (i: number, spoken: string): Scan => ({
  ...channels.scan.example,
  product: { ...channels.scan.example.product, spoken: { one: spoken } },
  weightGrams: 150 + i * 7,
  priceMinor: 40 + i * 13,
});

// Whole sentence, never seen before (the price differs each time).
{
  const cache = fresh();
  await cache.load();
  const n = new Narrator({ primary: voice, offline: voice, budgetMs: 1500, cache, logger });
  const uncached: number[] = [];
  const memory: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const { text, locale } = sentenceFor(scanAt(i, 'banana'));
    let t = performance.now();
    await n.render(text, locale);
    uncached.push(performance.now() - t);
    t = performance.now();
    await n.render(text, locale);
    memory.push(performance.now() - t);
  }
  row('scan sentence, whole, uncached (espeak)', uncached);
  row('scan sentence, whole, memory cache hit', memory);
  const cold = new AudioCache({ memoryBytes: 64 * 1024 * 1024, disk: { dir: cache.disk!.dir, maxBytes: 256 * 1024 * 1024 } });
  await cold.load();
  const fromDisk = new Narrator({ primary: voice, offline: voice, budgetMs: 1500, cache: cold, logger });
  const disk: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const { text, locale } = sentenceFor(scanAt(i, 'banana'));
    const t = performance.now();
    await fromDisk.render(text, locale);
    disk.push(performance.now() - t);
  }
  row('scan sentence, whole, disk cache hit (after restart)', disk);
}

// Pieces: the product opening pre-rendered, the weight and price pieces new each time.
{
  const cache = fresh();
  await cache.load();
  const n = new Narrator({ primary: voice, offline: voice, budgetMs: 1500, cache, logger });
  await n.render('You scanned an orange,', 'en-US');
  const split: number[] = [];
  const splitAllCached: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const sentence = sentenceFor(scanAt(i, 'orange'));
    let t = performance.now();
    await n.renderPieces(sentence.parts, sentence.text, sentence.locale);
    split.push(performance.now() - t);
    t = performance.now();
    await n.renderPieces(sentence.parts, sentence.text, sentence.locale);
    splitAllCached.push(performance.now() - t);
  }
  row('scan sentence, pieces, product piece cached, numbers uncached', split);
  row('scan sentence, pieces, all pieces cached', splitAllCached);
}

// A typical lane event fully pre-rendered.
{
  const cache = fresh();
  await cache.load();
  const n = new Narrator({ primary: voice, offline: voice, budgetMs: 1500, cache, logger });
  const text = 'Item not recognised, please try again.';
  const t = performance.now();
  await n.render(text, 'en-US');
  rows.push(['fixed sentence ("Item not recognised..."), uncached', `${(performance.now() - t).toFixed(1)} ms`]);
}

rmSync(dir, { recursive: true, force: true });
const width = Math.max(...rows.map(([what]) => what.length));
for (const [what, value] of rows) console.log(`${what.padEnd(width)}  ${value}`);

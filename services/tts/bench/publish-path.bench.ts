/**
 * What tts spends per clip between the audio and the bus (not a test): a scan sentence rendered
 * from the memory cache (as pre-rendered and repeated sentences are), its metadata made, and the
 * audio payload encoded as the bus publishes it; once whole, once as three cached pieces joined.
 * The synthesis itself (10-50 ms) and the broker are left out: they do not change with the format.
 *
 *   node services/tts/bench/publish-path.bench.ts [rounds, default 2000]
 */
import { createLogger } from '@sightline/kit';
import { channels, type Speech } from '@sightline/schemas';
import { createOfflineVoice, sentenceFor } from '@sightline/voice';
import { AudioCache } from '../src/cache.ts';
import { Narrator, type Rendered } from '../src/narrator.ts';

const ROUNDS = Number(process.argv[2] ?? 2000);
const stat = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => (sorted[Math.floor(q * sorted.length)]! * 1000).toFixed(1);
  return `median ${at(0.5)} µs, p90 ${at(0.9)} µs`;
};

const voice = createOfflineVoice();
await voice.init();
const cache = new AudioCache({ memoryBytes: 64 * 1024 * 1024, disk: null });
const narrator = new Narrator({ primary: voice, offline: voice, budgetMs: 1500, cache, logger: createLogger('tts', 'silent') });
const example = channels.scan.example;
const sentence = sentenceFor({ ...example, product: { ...example.product, spoken: { one: 'orange' } }, weightGrams: 190, priceMinor: 63 });
const meta = (rendered: Rendered): Speech => ({
  id: 'utterance',
  lane: 'lane-1',
  at: Date.now(),
  source: { kind: 'scan', id: 'scan', at: Date.now() },
  text: sentence.text,
  locale: sentence.locale,
  provider: rendered.provider,
  voice: rendered.voice,
  cached: rendered.cached,
  synthMs: 0,
  durationMs: Math.round(rendered.durationMs),
  interruptible: true,
});
await narrator.render(sentence.text, sentence.locale);
for (const part of sentence.parts) await narrator.render(part, sentence.locale);

async function once(pieces: boolean): Promise<{ ms: number; bytes: number }> {
  const started = performance.now();
  const rendered = pieces ? await narrator.renderPieces(sentence.parts, sentence.text, sentence.locale) : await narrator.render(sentence.text, sentence.locale);
  const payload = channels.audio.codec.encode({ meta: meta(rendered), pcm: rendered.pcm });
  return { ms: performance.now() - started, bytes: payload.length };
}

for (const pieces of [false, true]) {
  for (let i = 0; i < 200; i++) await once(pieces);
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const result = await once(pieces);
    times.push(result.ms);
    bytes = result.bytes;
  }
  console.log(`tts render (memory cache hit${pieces ? ', 3 pieces joined' : ''}) -> audio payload: ${stat(times)} (${bytes} bytes)`);
}

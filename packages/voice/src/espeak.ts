import type { ESpeakNGWorker } from '@echogarden/espeak-ng-emscripten';
import { toPlainText } from '@sightline/schemas';
import { DEFAULT_PROSODY, ProviderError, type Prosody, type SpeechProvider, type Synthesis, type SynthesisRequest, type VoiceInfo } from './provider.ts';
import { MAX_SENTENCE_CHARS } from './sentences.ts';

/**
 * The offline voice: espeak-ng compiled to WebAssembly (`@echogarden/espeak-ng-emscripten`,
 * GPL-3.0, used unmodified and only through this file, behind the `SpeechProvider` interface). Needs nothing but the npm package: no
 * network, no system espeak. The engine (about 24 MB of voice data) is loaded once per process,
 * on first use, and shared by every offline voice.
 */

/** espeak-ng voice per locale; any other locale is refused (the caller falls back to its default). */
export const ESPEAK_VOICES: Readonly<Record<string, string>> = {
  'en-US': 'gmw/en-US',
  'en-GB': 'gmw/en',
  'es-ES': 'roa/es',
  'es-MX': 'roa/es-419',
  'fr-FR': 'roa/fr',
  'de-DE': 'gmw/de',
  'it-IT': 'roa/it',
  'nl-NL': 'gmw/nl',
  'pt-PT': 'roa/pt',
  'pt-BR': 'roa/pt-BR',
};

const NORMAL_WPM = 175;

export interface OfflineVoiceOptions {
  prosody?: Prosody;
  /** Voices for locales, replacing or adding to ESPEAK_VOICES. */
  voices?: ReadonlyMap<string, string> | Record<string, string>;
}

export interface OfflineVoice extends SpeechProvider {
  /** Loads the engine now (otherwise the first synthesis does) and checks the configured voices. */
  init(): Promise<{ initMs: number; warmUpMs: number }>;
}

let engine: Promise<{ worker: ESpeakNGWorker; initMs: number; warmUpMs: number; voiceIds: Set<string> }> | undefined;

function loadEngine() {
  engine ??= (async () => {
    const started = performance.now();
    const { default: createModule } = await import('@echogarden/espeak-ng-emscripten');
    const module = await createModule();
    const worker = new module.eSpeakNGWorker();
    const voiceIds = new Set(worker.list_voices().map((v) => v.identifier));
    const initMs = performance.now() - started;
    // The first sentences run before the WASM code is optimised (about 1 s for the first one on
    // 2 cores); spend that at start, not on the first shopper.
    const warming = performance.now();
    worker.set_voice('gmw/en-US');
    for (const text of ['You scanned a banana, 0.42 kilograms, 83 cents.', 'Your total is 12 dollars 40 for 5 items.']) worker.synthesize(text, () => 0);
    return { worker, voiceIds, initMs, warmUpMs: performance.now() - warming };
  })();
  engine.catch(() => {
    engine = undefined;
  });
  return engine;
}

export const ESPEAK_SAMPLE_RATE = 22050;

/**
 * Creates the offline espeak-ng voice. Cheap: nothing is loaded until `init()` or the first
 * `synthesize()`. Synthesis runs on the calling thread (about 100-200 ms per short sentence).
 */
export function createOfflineVoice(options: OfflineVoiceOptions = {}): OfflineVoice {
  const prosody = options.prosody ?? DEFAULT_PROSODY;
  const voices = new Map(Object.entries(ESPEAK_VOICES));
  const extra = options.voices instanceof Map ? options.voices : new Map(Object.entries(options.voices ?? {}));
  for (const [locale, voice] of extra) voices.set(locale, voice);
  const wpm = Math.round(Math.min(450, Math.max(80, (NORMAL_WPM * prosody.ratePercent) / 100)));
  const pitch = Math.round(Math.min(99, Math.max(0, 50 + prosody.pitchPercent / 2)));
  let checked = false;

  async function ready() {
    const loaded = await loadEngine();
    if (!checked) {
      const unknown = [...voices].filter(([, id]) => !loaded.voiceIds.has(id)).map(([locale, id]) => `${locale}=${id}`);
      if (unknown.length > 0) throw new ProviderError('espeak', `espeak-ng has no voice ${unknown.join(', ')}`);
      checked = true;
    }
    return loaded;
  }

  return {
    name: 'espeak',
    soundKey: `wpm=${wpm};pitch=${pitch};pcm16/${ESPEAK_SAMPLE_RATE}/mono`,
    voiceFor: (locale) => voices.get(locale) ?? null,
    voices: (): VoiceInfo[] => [...voices].map(([locale, voice]) => ({ locale, voice })),
    async init() {
      const loaded = await ready();
      return { initMs: loaded.initMs, warmUpMs: loaded.warmUpMs };
    },
    async synthesize({ text, locale, signal }: SynthesisRequest): Promise<Synthesis> {
      const voice = voices.get(locale);
      if (voice === undefined) throw new ProviderError('espeak', `no espeak-ng voice for locale ${locale}`);
      const { worker } = await ready();
      signal?.throwIfAborted();
      const plain = toPlainText(text, MAX_SENTENCE_CHARS);
      if (plain === '') throw new ProviderError('espeak', 'nothing to say: the text is empty');
      // One engine, many voices: the voice and prosody are set before every sentence.
      if (worker.set_voice(voice) !== 0) throw new ProviderError('espeak', `espeak-ng refused voice ${voice}`);
      worker.set_rate(wpm);
      worker.set_pitch(pitch);
      const chunks: Buffer[] = [];
      worker.synthesize(plain, (samples) => {
        if (samples && samples.length > 0) chunks.push(Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength));
        return 0;
      });
      const samples = Buffer.concat(chunks);
      if (samples.length === 0) throw new ProviderError('espeak', 'espeak-ng produced no audio');
      return { pcm: { samples, format: { sampleRate: ESPEAK_SAMPLE_RATE, channels: 1 } }, voice };
    },
    async close() {},
  };
}

import type { Logger } from '@sightline/kit';
import { pcmDurationMs, type Pcm } from '@sightline/schemas';
import { ProviderError, type SpeechProvider } from '@sightline/voice';
import { cacheKey, type AudioCache } from './cache.ts';
import type { TtsMetrics } from './metrics.ts';

/** A sentence's audio and where it came from. */
export interface Rendered {
  pcm: Pcm;
  provider: string;
  voice: string;
  cached: boolean;
  synthMs: number;
  durationMs: number;
  fallback?: { from: string; reason: string };
}

export interface NarratorOptions {
  /** The configured provider (Azure, or the offline voice itself). */
  primary: SpeechProvider;
  /** The voice that speaks when the primary fails or is too slow. */
  offline: SpeechProvider;
  /** How long the primary may take before the offline voice speaks instead. */
  budgetMs: number;
  cache: AudioCache;
  logger: Logger;
  metrics?: TtsMetrics;
  /** Silence between cached pieces of a split sentence. */
  pieceGapMs?: number;
  now?: () => number;
}

class BudgetExceeded extends Error {
  constructor(ms: number) {
    super(`no audio within the ${ms} ms budget`);
    this.name = 'BudgetExceeded';
  }
}

/**
 * Turns text into audio: cache first, then the configured provider within its time budget, then
 * the offline voice. It never returns silence while the offline voice works.
 */
export class Narrator {
  readonly #o: NarratorOptions;
  readonly #log: Logger;
  constructor(options: NarratorOptions) {
    this.#o = options;
    this.#log = options.logger.child({ module: 'narrator' });
  }

  /** True when some provider can speak this locale. */
  speaks(locale: string): boolean {
    return this.#o.primary.voiceFor(locale) !== null || this.#o.offline.voiceFor(locale) !== null;
  }

  async render(text: string, locale: string): Promise<Rendered> {
    const { primary, offline } = this.#o;
    const started = performance.now();
    if (primary !== offline && primary.voiceFor(locale) !== null) {
      const fromCache = await this.#cached(primary, text, locale);
      if (fromCache) return fromCache;
      try {
        return await this.#synthesize(primary, text, locale, this.#o.budgetMs, started);
      } catch (err) {
        const reason = err instanceof BudgetExceeded ? 'timeout' : 'error';
        const message = (err as Error).message.slice(0, 480);
        this.#o.metrics?.fallbacks.inc({ from: primary.name, reason });
        this.#log.warn({ from: primary.name, reason, detail: message, locale }, `${primary.name} failed, the offline voice speaks instead`);
        const rendered = await this.#offline(text, locale, started);
        return { ...rendered, fallback: { from: primary.name, reason: `${reason}: ${message}` } };
      }
    }
    return this.#offline(text, locale, started);
  }

  /**
   * Renders pieces separately (each cached on its own) and joins them with short silences. Falls
   * back to the whole sentence when the pieces do not come out in one format (mixed providers).
   */
  async renderPieces(parts: string[], text: string, locale: string): Promise<Rendered> {
    if (parts.length < 2) return this.render(text, locale);
    const started = performance.now();
    const pieces: Rendered[] = [];
    for (const part of parts) pieces.push(await this.render(part, locale));
    const first = pieces[0]!;
    const { format } = first.pcm;
    if (
      pieces.some(
        (piece) => piece.provider !== first.provider || piece.pcm.format.sampleRate !== format.sampleRate || piece.pcm.format.channels !== format.channels,
      )
    ) {
      return this.render(text, locale);
    }
    const gap = Buffer.alloc(Math.round(((this.#o.pieceGapMs ?? 120) / 1000) * format.sampleRate) * format.channels * 2);
    const pcm = { samples: Buffer.concat(pieces.flatMap((piece, i) => (i === 0 ? [piece.pcm.samples] : [gap, piece.pcm.samples]))), format };
    const cached = pieces.every((piece) => piece.cached);
    const fallback = pieces.find((piece) => piece.fallback)?.fallback;
    return {
      pcm,
      provider: first.provider,
      voice: first.voice,
      cached,
      synthMs: cached ? 0 : performance.now() - started,
      durationMs: pcmDurationMs(pcm),
      ...(fallback ? { fallback } : {}),
    };
  }

  async #offline(text: string, locale: string, started: number): Promise<Rendered> {
    const { offline } = this.#o;
    if (offline.voiceFor(locale) === null) throw new ProviderError(offline.name, `no voice speaks ${locale}`);
    return (await this.#cached(offline, text, locale)) ?? this.#synthesize(offline, text, locale, 0, started);
  }

  #key(provider: SpeechProvider, text: string, locale: string): { key: string; voice: string } {
    const voice = provider.voiceFor(locale)!;
    return { key: cacheKey({ provider: provider.name, voice, locale, soundKey: provider.soundKey, text }), voice };
  }

  async #cached(provider: SpeechProvider, text: string, locale: string): Promise<Rendered | undefined> {
    const { key, voice } = this.#key(provider, text, locale);
    const pcm = await this.#o.cache.get(key);
    if (!pcm) return undefined;
    return { pcm, provider: provider.name, voice, cached: true, synthMs: 0, durationMs: pcmDurationMs(pcm) };
  }

  async #synthesize(provider: SpeechProvider, text: string, locale: string, budgetMs: number, started: number): Promise<Rendered> {
    const { key } = this.#key(provider, text, locale);
    const t0 = performance.now();
    let result;
    if (budgetMs > 0) {
      const controller = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const overBudget = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const err = new BudgetExceeded(budgetMs);
          controller.abort(err);
          reject(err);
        }, budgetMs);
      });
      try {
        result = await Promise.race([provider.synthesize({ text, locale, signal: controller.signal }), overBudget]);
      } finally {
        clearTimeout(timer);
      }
    } else {
      result = await provider.synthesize({ text, locale });
    }
    this.#o.metrics?.synthesisSeconds.observe({ provider: provider.name }, (performance.now() - t0) / 1000);
    await this.#o.cache.set(key, result.pcm).catch((err: unknown) => this.#log.warn({ err }, 'could not store audio in the cache'));
    return {
      pcm: result.pcm,
      provider: provider.name,
      voice: result.voice,
      cached: false,
      synthMs: performance.now() - started,
      durationMs: pcmDurationMs(result.pcm),
    };
  }
}

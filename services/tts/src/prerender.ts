import { setImmediate as yieldToEvents } from 'node:timers/promises';
import type { Catalog } from '@sightline/schemas';
import { fixedSentences, isSupportedLocale, productPhrases } from '@sightline/voice';
import type { TtsMetrics } from './metrics.ts';
import type { Narrator } from './narrator.ts';

/** At about 100 ms a phrase, this many take a few minutes of one core; a bigger catalog is cut. */
export const MAX_PRERENDER_PHRASES = 3000;

/** What is worth rendering before the first shopper: per-event fixed sentences, then product phrases. */
export function prerenderPhrases(catalog: Catalog | null, defaultLocale: string): Array<{ text: string; locale: string }> {
  const locales = (catalog?.locales ?? [defaultLocale]).filter(isSupportedLocale);
  const phrases: Array<{ text: string; locale: string }> = [];
  const seen = new Set<string>();
  const add = (text: string, locale: string) => {
    const key = `${locale}\n${text}`;
    if (seen.has(key) || text === '') return;
    seen.add(key);
    phrases.push({ text, locale });
  };
  for (const locale of locales) for (const text of fixedSentences(locale)) add(text, locale);
  for (const product of catalog?.products ?? []) {
    for (const locale of locales) {
      const spoken = product.spoken?.[locale] ?? (product.name[locale] ? { one: product.name[locale] } : undefined);
      if (spoken) for (const text of productPhrases(locale, spoken)) add(text, locale);
    }
  }
  return phrases.slice(0, MAX_PRERENDER_PHRASES);
}

export interface PrerenderOptions {
  narrator: Narrator;
  catalog: Catalog | null;
  defaultLocale: string;
  signal: AbortSignal;
  metrics?: TtsMetrics;
}

/** Renders the phrases one at a time, letting live announcements in between. */
export async function prerender({ narrator, catalog, defaultLocale, signal, metrics }: PrerenderOptions) {
  const phrases = prerenderPhrases(catalog, defaultLocale);
  const started = performance.now();
  let rendered = 0;
  let cached = 0;
  let failed = 0;
  for (const { text, locale } of phrases) {
    if (signal.aborted) break;
    await yieldToEvents();
    try {
      const result = await narrator.render(text, locale);
      if (result.cached) cached += 1;
      else rendered += 1;
      metrics?.prerendered.inc();
    } catch {
      failed += 1;
    }
  }
  return { phrases: phrases.length, rendered, cached, failed, ms: Math.round(performance.now() - started) };
}

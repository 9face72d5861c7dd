import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CacheEvents } from './cache.ts';

export type TtsMetrics = ReturnType<typeof createTtsMetrics>;

export function createTtsMetrics(registry: Registry) {
  const registers = [registry];
  const cacheHits = new Counter({ name: 'sightline_tts_cache_hits_total', help: 'Audio served from the cache', labelNames: ['tier'], registers });
  const cacheMisses = new Counter({ name: 'sightline_tts_cache_misses_total', help: 'Audio not in any cache tier (synthesised)', registers });
  const cacheEvictions = new Counter({
    name: 'sightline_tts_cache_evictions_total',
    help: 'Cached audio dropped to stay under the size cap',
    labelNames: ['tier'],
    registers,
  });
  const cacheEvents: CacheEvents = {
    hit: (tier) => cacheHits.inc({ tier }),
    miss: () => cacheMisses.inc(),
    evicted: (tier, count) => cacheEvictions.inc({ tier }, count),
  };
  let cacheSizes = () => ({ memory: 0, disk: 0 });
  new Gauge({
    name: 'sightline_tts_cache_bytes',
    help: 'Bytes of audio held by each cache tier',
    labelNames: ['tier'],
    registers,
    collect() {
      const sizes = cacheSizes();
      this.set({ tier: 'memory' }, sizes.memory);
      this.set({ tier: 'disk' }, sizes.disk);
    },
  });
  return {
    cacheEvents,
    measureCache(sizes: () => { memory: number; disk: number }) {
      cacheSizes = sizes;
    },
    announcements: new Counter({
      name: 'sightline_tts_announcements_total',
      help: 'Announcements published (audio and speech)',
      labelNames: ['kind'],
      registers,
    }),
    failures: new Counter({
      name: 'sightline_tts_announcement_failures_total',
      help: 'Announcements that could not be synthesised or published',
      labelNames: ['stage'],
      registers,
    }),
    dropped: new Counter({
      name: 'sightline_tts_announcements_dropped_total',
      help: 'Announcements not rendered: overflow (lane queue full), coalesced (a newer total replaced it), evicted (too many lanes or bytes waiting), shutdown',
      labelNames: ['reason'],
      registers,
    }),
    unsupportedLocale: new Counter({
      name: 'sightline_tts_unsupported_locale_total',
      help: 'Events in a locale without templates, said in the default locale',
      registers,
    }),
    fallbacks: new Counter({
      name: 'sightline_tts_fallbacks_total',
      help: 'Sentences the offline voice spoke because the configured provider failed or was too slow',
      labelNames: ['from', 'reason'],
      registers,
    }),
    synthesisSeconds: new Histogram({
      name: 'sightline_tts_synthesis_seconds',
      help: 'Time to synthesise one sentence or piece (cache misses only)',
      labelNames: ['provider'],
      buckets: [0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3, 6],
      registers,
    }),
    prerendered: new Counter({ name: 'sightline_tts_prerendered_total', help: 'Phrases rendered into the cache at start', registers }),
    speakRequests: new Counter({ name: 'sightline_tts_speak_requests_total', help: 'POST /speak requests', labelNames: ['outcome'], registers }),
  };
}

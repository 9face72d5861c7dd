import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createRuntime, type Logger, type Runtime } from '@sightline/kit';
import { channels, localeSchema, type LaneEvent, type Scan, type Speech } from '@sightline/schemas';
import { createAzureProvider } from './azure.ts';
import { AudioCache } from './cache.ts';
import type { TtsConfig } from './config.ts';
import { createOfflineVoice, type OfflineVoice } from './espeak.ts';
import { createTtsMetrics, type TtsMetrics } from './metrics.ts';
import { Narrator, type Rendered } from './narrator.ts';
import { prerender } from './prerender.ts';
import type { SpeechProvider } from './provider.ts';
import { MAX_SENTENCE_CHARS, sentenceFor, SUPPORTED_LOCALES, type Sentence } from './sentences.ts';

export interface TtsDeps {
  /** The offline voice (default: espeak-ng WASM with the configured prosody and voices). */
  offline?: OfflineVoice;
  /** The configured provider (default: Azure when configured, else the offline voice). */
  primary?: SpeechProvider;
  now?: () => number;
}

export interface TtsApp {
  readonly runtime: Runtime;
  readonly narrator: Narrator;
  readonly cache: AudioCache;
  readonly metrics: TtsMetrics;
  /** Resolves when the start-up pre-render is done (or at once when there is none). */
  prerendered(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

interface Job {
  sentence: Sentence;
  source: Speech['source'];
  lane: string;
}

/**
 * The tts service: scans and lane events in, a sentence per event spoken into a WAV, published
 * on the lane's `audio` (WAV with metadata) and `speech` (metadata) channels, in arrival order per
 * lane. Plus `POST /speak` and `GET /voices` next to the kit's health and metrics routes.
 */
export function createTtsApp(config: TtsConfig, logger: Logger, deps: TtsDeps = {}): TtsApp {
  const now = deps.now ?? Date.now;
  const log = logger.child({ module: 'tts' });
  const offline = deps.offline ?? createOfflineVoice({ prosody: config.prosody, voices: config.espeakVoices });
  const primary =
    deps.primary ??
    (config.azure
      ? createAzureProvider({
          key: config.azure.key,
          ...(config.azure.region !== undefined ? { region: config.azure.region } : {}),
          ...(config.azure.endpoint !== undefined ? { endpoint: config.azure.endpoint } : {}),
          prosody: config.prosody,
          voices: config.azure.voices,
        })
      : offline);
  let voiceReady = false;
  const runtime = createRuntime({
    service: 'tts',
    logger,
    mqtt: config.mqtt,
    http: config.http,
    notReadyReason: () => (voiceReady ? null : 'the offline voice is still loading'),
  });
  const metrics = createTtsMetrics(runtime.registry);
  const cache = new AudioCache({
    memoryBytes: config.memoryCacheBytes,
    disk: config.diskCacheBytes > 0 ? { dir: join(config.dataDir, 'audio-cache'), maxBytes: config.diskCacheBytes } : null,
    events: metrics.cacheEvents,
  });
  metrics.measureCache(() => ({ memory: cache.memory.bytes, disk: cache.disk?.bytes ?? 0 }));
  const narrator = new Narrator({
    primary,
    offline,
    budgetMs: config.azure?.budgetMs ?? 1500,
    cache,
    logger,
    metrics,
  });

  const lanes = new Map<string, Job[]>();
  const running = new Set<Promise<void>>();
  let stopping = false;
  let prerendering: Promise<void> = Promise.resolve();
  const prerenderAbort = new AbortController();

  function render(sentence: Sentence): Promise<Rendered> {
    return config.splitScans && sentence.kind === 'scan' ? narrator.renderPieces(sentence.parts, sentence.text, sentence.locale) : narrator.render(sentence.text, sentence.locale);
  }

  async function announce(job: Job): Promise<void> {
    const { sentence, lane, source } = job;
    let rendered: Rendered;
    try {
      rendered = await render(sentence);
    } catch (err) {
      metrics.failures.inc({ stage: 'synthesis' });
      log.error({ err, lane, kind: source.kind, id: source.id }, 'no voice could say the sentence');
      return;
    }
    const meta: Speech = {
      id: randomUUID(),
      lane,
      at: now(),
      source,
      text: sentence.text,
      locale: sentence.locale,
      provider: rendered.provider,
      voice: rendered.voice,
      cached: rendered.cached,
      ...(rendered.fallback ? { fallback: rendered.fallback } : {}),
      synthMs: Math.round(rendered.synthMs * 10) / 10,
      durationMs: Math.round(rendered.durationMs),
      interruptible: sentence.interruptible,
    };
    try {
      await runtime.bus.publish(channels.audio, { lane }, { meta, wav: rendered.wav });
      await runtime.bus.publish(channels.speech, { lane }, meta);
      metrics.announcements.inc({ kind: source.kind });
      log.debug({ lane, kind: source.kind, provider: meta.provider, cached: meta.cached, synthMs: meta.synthMs }, 'announced');
    } catch (err) {
      metrics.failures.inc({ stage: 'publish' });
      log.warn({ err, lane, kind: source.kind, id: source.id }, 'could not publish the announcement');
    }
  }

  /** One worker per lane: a slow sentence delays the lane's next one instead of overtaking it. */
  async function drain(lane: string, queue: Job[]): Promise<void> {
    while (queue.length > 0) {
      await announce(queue[0]!);
      queue.shift();
    }
    lanes.delete(lane);
  }

  function enqueue(job: Job): void {
    if (stopping) return;
    let queue = lanes.get(job.lane);
    if (queue === undefined) {
      queue = [job];
      lanes.set(job.lane, queue);
      const worker = drain(job.lane, queue).catch((err: unknown) => log.error({ err, lane: job.lane }, 'lane worker failed'));
      running.add(worker);
      void worker.finally(() => running.delete(worker));
      return;
    }
    // queue[0] is being spoken; past the limit, the oldest waiting interruptible one goes.
    if (queue.length > config.laneQueue) {
      const victim = queue.findIndex((queued, index) => index > 0 && queued.sentence.interruptible);
      if (victim > 0) {
        const [dropped] = queue.splice(victim, 1);
        metrics.dropped.inc();
        log.warn({ lane: job.lane, kind: dropped?.source.kind, id: dropped?.source.id }, 'lane queue full: dropped the oldest waiting announcement');
      } else if (job.sentence.interruptible) {
        metrics.dropped.inc();
        log.warn({ lane: job.lane, kind: job.source.kind, id: job.source.id }, 'lane queue full of totals: dropped the new announcement');
        return;
      }
    }
    queue.push(job);
  }

  function onEvent(event: Scan | LaneEvent, lane: string): void {
    if (event.lane !== lane) log.debug({ lane, payloadLane: event.lane }, 'payload names another lane; the topic wins');
    const sentence = sentenceFor(event, { defaultLocale: config.defaultLocale });
    if (sentence.unsupportedLocale !== undefined) {
      metrics.unsupportedLocale.inc();
      log.warn(
        { lane, locale: sentence.unsupportedLocale, using: sentence.locale, supported: SUPPORTED_LOCALES },
        `no sentences for locale ${sentence.unsupportedLocale}: speaking ${sentence.locale} instead`,
      );
    }
    enqueue({ sentence, lane, source: { kind: sentence.kind, id: event.id, at: event.at } });
  }

  registerRoutes(runtime, narrator, metrics, primary, offline, config.defaultLocale);

  return {
    runtime,
    narrator,
    cache,
    metrics,
    prerendered: () => prerendering,
    async start() {
      await cache.load();
      const { initMs, warmUpMs } = await offline.init();
      voiceReady = true;
      log.info({ initMs: Math.round(initMs), warmUpMs: Math.round(warmUpMs), provider: primary.name, budgetMs: primary === offline ? undefined : (config.azure?.budgetMs ?? 1500) }, `offline voice ready; speaking with ${primary.name}`);
      await runtime.start();
      runtime.bus.subscribe(channels.scan, {}, (scan, { lane }) => onEvent(scan, lane)).catch((err: unknown) => log.error({ err }, 'cannot subscribe to scans'));
      runtime.bus.subscribe(channels.laneEvent, {}, (event, { lane }) => onEvent(event, lane)).catch((err: unknown) => log.error({ err }, 'cannot subscribe to lane events'));
      if (config.prerender) {
        if (config.catalog === null) log.warn({ file: config.catalogFile }, 'no catalog file: only the fixed sentences are pre-rendered');
        prerendering = prerender({ narrator, catalog: config.catalog, defaultLocale: config.defaultLocale, signal: prerenderAbort.signal, metrics })
          .then((result) => log.info(result, 'pre-render done'))
          .catch((err: unknown) => log.warn({ err }, 'pre-render stopped'));
      }
    },
    async stop() {
      stopping = true;
      prerenderAbort.abort();
      // the sentence being spoken finishes; the ones waiting are not worth delaying the stop for
      for (const queue of lanes.values()) queue.splice(1);
      await prerendering;
      await Promise.allSettled([...running]);
      await runtime.stop();
      await Promise.allSettled([primary.close(), offline.close()]);
    },
  };
}

function registerRoutes(runtime: Runtime, narrator: Narrator, metrics: TtsMetrics, primary: SpeechProvider, offline: SpeechProvider, defaultLocale: string): void {
  const markup = /[<>&{}\\\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
  runtime.http.post('/speak', async (request, reply) => {
    const fail = (code: number, outcome: string, error: string) => {
      metrics.speakRequests.inc({ outcome });
      return reply.code(code).send({ error });
    };
    const body = request.body as Record<string, unknown> | null;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return fail(400, 'invalid', 'the body must be a JSON object {"text": "...", "locale": "en-US"}');
    const unknown = Object.keys(body).filter((key) => key !== 'text' && key !== 'locale');
    if (unknown.length > 0) return fail(400, 'invalid', `unknown field${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
    const { text, locale = defaultLocale } = body;
    if (typeof text !== 'string' || text.trim() === '') return fail(400, 'invalid', 'text must be a non-empty string');
    if (text.length > MAX_SENTENCE_CHARS) return fail(413, 'too-long', `text is ${text.length} characters; at most ${MAX_SENTENCE_CHARS}`);
    if (markup.test(text)) return fail(400, 'markup', 'text must be plain: no markup (< > & { } \\) or control characters');
    if (typeof locale !== 'string' || !localeSchema.safeParse(locale).success) return fail(400, 'bad-locale', 'locale must be a locale like en-US or es-ES');
    if (!narrator.speaks(locale)) return fail(400, 'bad-locale', `no voice for locale ${locale}; voices: ${offline.voices().map((v) => v.locale).join(', ')}`);
    const rendered = await narrator.render(text.replace(/\s+/g, ' ').trim(), locale);
    metrics.speakRequests.inc({ outcome: 'ok' });
    reply.header('content-type', 'audio/wav');
    reply.header('x-speech-provider', rendered.provider);
    reply.header('x-speech-voice', rendered.voice);
    reply.header('x-speech-cached', String(rendered.cached));
    reply.header('x-speech-synth-ms', String(Math.round(rendered.synthMs)));
    if (rendered.fallback) reply.header('x-speech-fallback', `${rendered.fallback.from}: ${rendered.fallback.reason}`.replace(/[^\x20-\x7e]/g, ' ').slice(0, 300));
    return reply.send(rendered.wav);
  });
  runtime.http.get('/voices', async () => ({
    provider: primary.name,
    fallback: primary === offline ? null : offline.name,
    defaultLocale,
    sentenceLocales: SUPPORTED_LOCALES,
    locales: [...new Set([...primary.voices(), ...offline.voices()].map((v) => v.locale))].sort(),
    voices: [...new Set(primary === offline ? [primary] : [primary, offline])].flatMap((p) => p.voices().map((v) => ({ provider: p.name, ...v }))),
  }));
}

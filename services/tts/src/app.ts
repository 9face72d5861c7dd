import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { BoundedMap, createRuntime, type Logger, type Runtime } from '@sightline/kit';
import { buildWav, channels, localeSchema, plainTextSchema, type ControlResult, type LaneEvent, type Scan, type Speech } from '@sightline/schemas';
import {
  createOfflineVoice,
  MAX_SENTENCE_CHARS,
  sentenceFor,
  SUPPORTED_LOCALES,
  type OfflineVoice,
  type Sentence,
  type SpeechProvider,
} from '@sightline/voice';
import { createAzureProvider } from './azure.ts';
import { AudioCache } from './cache.ts';
import type { TtsConfig } from './config.ts';
import { createTtsMetrics, type TtsMetrics } from './metrics.ts';
import { Narrator, type Rendered } from './narrator.ts';
import { prerender } from './prerender.ts';

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

/** A lane's announcements waiting to be rendered; `busy` while one of them is. */
interface LaneQueue {
  lane: string;
  waiting: Job[];
  busy: boolean;
}

type DropReason = 'overflow' | 'coalesced' | 'evicted' | 'shutdown';

/** Bytes a waiting job holds, roughly: its text twice (whole and in parts), UTF-16. */
const jobBytes = (job: Job) => 256 + 4 * job.sentence.text.length;

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
  // A scan made while tts restarts must still be said: a persistent session under a fixed client
  // id makes the broker keep the lanes' scans and events meanwhile (the speaker drops what has
  // gone stale by the time it arrives).
  const runtime = createRuntime({
    service: 'tts',
    logger,
    mqtt: config.mqtt,
    mqttSession: { clientId: config.clientId },
    http: config.http,
    notReadyReason: () => (voiceReady ? null : 'the offline voice is still loading'),
  });
  const metrics = createTtsMetrics(runtime.registry);
  const cache = new AudioCache({
    memoryBytes: config.memoryCacheBytes,
    disk: config.diskCacheBytes > 0 ? { dir: join(config.dataDir, 'audio-cache'), maxBytes: config.diskCacheBytes } : null,
    events: metrics.cacheEvents,
    memory: { registry: runtime.registry, logger: log },
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

  let stopping = false;
  let inFlight = 0;
  const idleWaiters: Array<() => void> = [];
  let prerendering: Promise<void> = Promise.resolve();
  const prerenderAbort = new AbortController();

  function drop(job: Job, reason: DropReason): void {
    metrics.dropped.inc({ reason });
    // Evictions are logged (throttled) by the map; a replaced total is the rule working.
    log[reason === 'overflow' ? 'warn' : 'debug']({ lane: job.lane, kind: job.source.kind, id: job.source.id, reason }, 'announcement dropped');
  }

  /**
   * Lanes with announcements waiting or being rendered: made-up lane ids cannot grow it past
   * MAX_LANES (the lane used least recently goes, with what it had waiting). Drained lanes leave.
   */
  const queues = new BoundedMap<string, LaneQueue>({
    name: 'tts-lane-queues',
    maxEntries: config.maxLanes,
    maxBytes: config.maxQueuedBytes,
    sizeOf: (queue) => 256 + queue.waiting.reduce((sum, job) => sum + jobBytes(job), 0),
    registry: runtime.registry,
    logger: log,
    onEvict: (_lane, queue) => {
      for (const job of queue.waiting.splice(0)) drop(job, 'evicted');
    },
  });

  function render(sentence: Sentence): Promise<Rendered> {
    return config.splitScans && sentence.kind === 'scan'
      ? narrator.renderPieces(sentence.parts, sentence.text, sentence.locale)
      : narrator.render(sentence.text, sentence.locale);
  }
  /** A sentence said part by part (a receipt, a read-out) is one audio message per part, in order. */
  async function announce(job: Job): Promise<void> {
    const { sentence } = job;
    if (!sentence.perPart) return announcePiece(job, sentence.text, () => render(sentence));
    const count = sentence.parts.length;
    for (const [index, text] of sentence.parts.entries()) {
      if (stopping) return;
      await announcePiece(job, text, () => narrator.render(text, sentence.locale), { index, count });
    }
  }

  async function announcePiece(job: Job, text: string, rendering: () => Promise<Rendered>, part?: Speech['part']): Promise<void> {
    const { sentence, lane, source } = job;
    let rendered: Rendered;
    try {
      rendered = await rendering();
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
      text,
      locale: sentence.locale,
      provider: rendered.provider,
      voice: rendered.voice,
      cached: rendered.cached,
      ...(rendered.fallback ? { fallback: rendered.fallback } : {}),
      synthMs: Math.round(rendered.synthMs * 10) / 10,
      durationMs: Math.round(rendered.durationMs),
      interruptible: sentence.interruptible,
      ...(part ? { part } : {}),
    };
    try {
      await runtime.bus.publish(channels.audio, { lane }, { meta, pcm: rendered.pcm });
      await runtime.bus.publish(channels.speech, { lane }, meta);
      metrics.announcements.inc({ kind: source.kind });
      log.debug({ lane, kind: source.kind, provider: meta.provider, cached: meta.cached, synthMs: meta.synthMs }, 'announced');
    } catch (err) {
      metrics.failures.inc({ stage: 'publish' });
      log.warn({ err, lane, kind: source.kind, id: source.id }, 'could not publish the announcement');
    }
  }

  /**
   * At most CONCURRENCY sentences render at once, one per lane (a slow sentence delays its lane's
   * next one instead of being overtaken). The lane that waited longest since its last turn goes first.
   */
  function dispatch(): void {
    while (!stopping && inFlight < config.concurrency) {
      let next: LaneQueue | undefined;
      for (const queue of queues.values()) {
        if (!queue.busy && queue.waiting.length > 0) {
          next = queue;
          break;
        }
      }
      if (next === undefined) return;
      const job = next.waiting.shift()!;
      next.busy = true;
      inFlight += 1;
      queues.resize(next.lane);
      run(next, job).catch((err: unknown) => log.error({ err, lane: next.lane }, 'announcement failed'));
    }
  }

  /** Never rejects: announce() handles its own failures. */
  async function run(queue: LaneQueue, job: Job): Promise<void> {
    try {
      await announce(job);
    } catch (err) {
      log.error({ err, lane: job.lane }, 'announcement failed');
    } finally {
      inFlight -= 1;
      queue.busy = false;
      if (queue.waiting.length === 0 && queues.peek(queue.lane) === queue) queues.delete(queue.lane);
      if (inFlight === 0) for (const resolve of idleWaiters.splice(0)) resolve();
      dispatch();
    }
  }

  function enqueue(job: Job): void {
    if (stopping) return;
    let queue = queues.get(job.lane);
    if (queue === undefined) {
      queue = { lane: job.lane, waiting: [], busy: false };
      if (!queues.set(job.lane, queue)) return drop(job, 'evicted');
    }
    const { waiting } = queue;
    // A newer total replaces one still waiting (500 totals must not become 500 sentences).
    const olderTotal = job.source.kind === 'total' ? waiting.findIndex((queued) => queued.source.kind === 'total') : -1;
    if (olderTotal >= 0) {
      const queued = waiting[olderTotal]!;
      if (queued.source.at > job.source.at) return drop(job, 'coalesced');
      waiting[olderTotal] = job;
      drop(queued, 'coalesced');
    } else {
      // Past the limit the oldest waiting interruptible one goes, else the oldest.
      while (waiting.length >= config.laneQueue) {
        const victim = Math.max(
          0,
          waiting.findIndex((queued) => queued.sentence.interruptible),
        );
        drop(waiting.splice(victim, 1)[0]!, 'overflow');
      }
      waiting.push(job);
    }
    queues.resize(job.lane);
    dispatch();
  }

  function onEvent(event: Scan | LaneEvent | ControlResult, lane: string): void {
    if (event.lane !== lane) log.debug({ lane, payloadLane: event.lane }, 'payload names another lane; the topic wins');
    const sentence = sentenceFor(event, { defaultLocale: config.defaultLocale });
    // A repeat, a resume or a stop is its own answer; removed and finished are said by their lane events.
    if (sentence.silent) return;
    if (sentence.unsupportedLocale !== undefined) {
      metrics.unsupportedLocale.inc();
      log.warn(
        { lane, locale: sentence.unsupportedLocale, using: sentence.locale, supported: SUPPORTED_LOCALES },
        `no sentences for locale ${sentence.unsupportedLocale}: speaking ${sentence.locale} instead`,
      );
    }
    const command = sentence.command !== undefined ? { command: sentence.command } : {};
    enqueue({ sentence, lane, source: { kind: sentence.kind, id: event.id, at: event.at, ...command } });
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
      log.info(
        {
          initMs: Math.round(initMs),
          warmUpMs: Math.round(warmUpMs),
          provider: primary.name,
          budgetMs: primary === offline ? undefined : (config.azure?.budgetMs ?? 1500),
        },
        `offline voice ready; speaking with ${primary.name}`,
      );
      // Subscribed before connecting: what the broker kept for the session arrives right after it.
      runtime.bus
        .subscribe(channels.scan, {}, (scan, { lane }) => onEvent(scan, lane))
        .catch((err: unknown) => log.error({ err }, 'cannot subscribe to scans'));
      runtime.bus
        .subscribe(channels.laneEvent, {}, (event, { lane }) => onEvent(event, lane))
        .catch((err: unknown) => log.error({ err }, 'cannot subscribe to lane events'));
      runtime.bus
        .subscribe(channels.laneControlResult, {}, (result, { lane }) => onEvent(result, lane))
        .catch((err: unknown) => log.error({ err }, 'cannot subscribe to control results'));
      await runtime.start();
      if (config.prerender) {
        prerendering = prerender({ narrator, catalog: config.catalog, defaultLocale: config.defaultLocale, signal: prerenderAbort.signal, metrics })
          .then((result) => log.info(result, 'pre-render done'))
          .catch((err: unknown) => log.warn({ err }, 'pre-render stopped'));
      }
    },
    async stop() {
      stopping = true;
      prerenderAbort.abort();
      // the sentences being rendered finish; the ones waiting are not worth delaying the stop for
      for (const queue of queues.values()) for (const job of queue.waiting.splice(0)) drop(job, 'shutdown');
      await prerendering;
      if (inFlight > 0) await new Promise<void>((resolve) => idleWaiters.push(resolve));
      await runtime.stop();
      await Promise.allSettled([primary.close(), offline.close()]);
    },
  };
}

function registerRoutes(
  runtime: Runtime,
  narrator: Narrator,
  metrics: TtsMetrics,
  primary: SpeechProvider,
  offline: SpeechProvider,
  defaultLocale: string,
): void {
  runtime.http.post('/speak', async (request, reply) => {
    const fail = (code: number, outcome: string, error: string) => {
      metrics.speakRequests.inc({ outcome });
      return reply.code(code).send({ error });
    };
    const body = request.body as Record<string, unknown> | null;
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      return fail(400, 'invalid', 'the body must be a JSON object {"text": "...", "locale": "en-US"}');
    const unknown = Object.keys(body).filter((key) => key !== 'text' && key !== 'locale');
    if (unknown.length > 0) return fail(400, 'invalid', `unknown field${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
    const { text, locale = defaultLocale } = body;
    if (typeof text !== 'string' || text.trim() === '') return fail(400, 'invalid', 'text must be a non-empty string');
    if (text.length > MAX_SENTENCE_CHARS) return fail(413, 'too-long', `text is ${text.length} characters; at most ${MAX_SENTENCE_CHARS}`);
    // Lines and tabs are spaces when spoken; anything else the plain-text rule refuses is refused.
    const spoken = text.replace(/[\t\n\r]+/g, ' ').trim();
    if (!plainTextSchema(MAX_SENTENCE_CHARS).safeParse(spoken).success)
      return fail(400, 'markup', 'text must be plain: no markup (< > & { } \\), control characters or bidirectional overrides');
    if (typeof locale !== 'string' || !localeSchema.safeParse(locale).success) return fail(400, 'bad-locale', 'locale must be a locale like en-US or es-ES');
    if (!narrator.speaks(locale))
      return fail(
        400,
        'bad-locale',
        `no voice for locale ${locale}; voices: ${offline
          .voices()
          .map((v) => v.locale)
          .join(', ')}`,
      );
    const rendered = await narrator.render(spoken.replace(/\s+/g, ' '), locale);
    metrics.speakRequests.inc({ outcome: 'ok' });
    reply.header('content-type', 'audio/wav');
    reply.header('x-speech-provider', rendered.provider);
    reply.header('x-speech-voice', rendered.voice);
    reply.header('x-speech-cached', String(rendered.cached));
    reply.header('x-speech-synth-ms', String(Math.round(rendered.synthMs)));
    if (rendered.fallback)
      reply.header('x-speech-fallback', `${rendered.fallback.from}: ${rendered.fallback.reason}`.replace(/[^\x20-\x7e]/g, ' ').slice(0, 300));
    return reply.send(buildWav(rendered.pcm.samples, rendered.pcm.format));
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

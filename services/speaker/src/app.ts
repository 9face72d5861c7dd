import { createRuntime, type Logger, type Runtime } from '@sightline/kit';
import { channels, checkPcm, pcmDurationMs, type Audio, type ControlCommand, type LaneEvent, type Pcm, type Scan } from '@sightline/schemas';
import type { SpeakerConfig } from './config.ts';
import { Controls } from './controls.ts';
import { EARCON_FORMAT, NOT_RECOGNISED_CHIME, renderNotes, SCAN_CHIME } from './earcons.ts';
import { EarconFallbackAnnouncer, type FallbackAnnouncer } from './fallback.ts';
import { createSpeakerMetrics, type SpeakerMetrics } from './metrics.ts';
import { UTTERANCES_REMEMBERED, type Announcement, type LaneStatus } from './lane-state.ts';
import { Player } from './player.ts';
import { createHeadsetSink, createSink } from './sinks/index.ts';
import type { AudioSink, Clip, ClipLabel } from './sinks/sink.ts';

export interface SpeakerDeps {
  /** The loudspeaker; made from the config when absent. */
  sink?: AudioSink;
  /** Each headset lane's output by device name; made from the config (like the loudspeaker, on that device) when absent. */
  headsetSink?: (device: string) => AudioSink;
  /** What to play when speech is unavailable; earcon patterns when absent. */
  announcer?: FallbackAnnouncer;
  now?: () => number;
  /** Environment of player processes (PULSE_SERVER...), when not this process's. */
  env?: NodeJS.ProcessEnv;
  /** How often a failing output is tried again while nothing plays. */
  probeIntervalMs?: number;
}

export type TtsState = 'unknown' | 'online' | 'offline';

export interface LaneReport extends LaneStatus {
  locale: string;
}

export interface SpeakerApp {
  readonly runtime: Runtime;
  readonly sink: AudioSink;
  /** Headset outputs by lane. */
  readonly headsets: ReadonlyMap<string, AudioSink>;
  readonly player: Player;
  readonly controls: Controls;
  readonly metrics: SpeakerMetrics;
  ttsState(): TtsState;
  lanes(): LaneReport[];
  start(): Promise<void>;
  stop(): Promise<void>;
}

function clipOf(pcm: Pcm, label: ClipLabel): Clip {
  return { samples: pcm.samples, format: pcm.format, durationMs: pcmDurationMs(pcm), label };
}

/**
 * The speaker: plays each lane's announcements on one output. A scan gets an earcon at once, its
 * speech follows; a newer scan cuts a stale announcement; when the speech service is offline, the
 * fallback announcer tells each lane once, and again when speech is back.
 */
export function createSpeakerApp(config: SpeakerConfig, logger: Logger, deps: SpeakerDeps = {}): SpeakerApp {
  const now = deps.now ?? Date.now;
  const log = logger.child({ module: 'speaker' });
  const sinkEnvironment = { ...(deps.env ? { env: deps.env } : {}), now };
  const sink = deps.sink ?? createSink(config, sinkEnvironment);
  // One output per headset device (lanes may share one), made like the loudspeaker.
  const devices = new Map<string, AudioSink>();
  const headsets = new Map<string, AudioSink>();
  for (const [lane, device] of config.headsets) {
    if (!devices.has(device)) devices.set(device, deps.headsetSink?.(device) ?? createHeadsetSink(config, device, sinkEnvironment));
    headsets.set(lane, devices.get(device)!);
  }
  const sinks = [sink, ...devices.values()];
  const announcer = deps.announcer ?? new EarconFallbackAnnouncer();
  const builtInAnnouncer = new EarconFallbackAnnouncer();

  const runtime = createRuntime({
    service: 'speaker',
    logger,
    mqtt: config.mqtt,
    http: config.http,
    notReadyReason: () => {
      const problem = player.outputProblem();
      return problem === null ? null : `audio output failing: ${problem}`;
    },
  });
  const metrics = createSpeakerMetrics(runtime.registry, () => player.queueLengths());
  const player = new Player({
    sink,
    headsets,
    volume: config.volume,
    metrics,
    logger,
    now,
    maxAgeMs: config.maxAgeMs,
    interruptOnScan: config.interruptOnScan,
    maxQueuePerLane: config.maxQueuePerLane,
    maxQueueMsPerLane: config.maxQueueMsPerLane,
    maxClipMs: config.maxClipMs,
    maxLanes: config.maxLanes,
    maxQueuedBytes: config.maxQueuedBytes,
    ...(config.laneIdleMs !== null ? { laneIdleMs: config.laneIdleMs } : {}),
    registry: runtime.registry,
  });

  const scanChime: Pcm = { samples: renderNotes(SCAN_CHIME, EARCON_FORMAT.sampleRate), format: EARCON_FORMAT };
  const notRecognisedChime: Pcm = { samples: renderNotes(NOT_RECOGNISED_CHIME, EARCON_FORMAT.sampleRate), format: EARCON_FORMAT };
  const wanted = config.lanes === null ? null : new Set(config.lanes);
  let tts: TtsState = 'unknown';
  let outage = 0;
  let stopped = false;

  // What the speaker knows per lane (locale, recent utterances, told of an outage) lives in the
  // player's lane state, bounded with the lane: made-up lane ids cannot grow it.
  const knownLanes = (): string[] => [...new Set([...(config.lanes ?? []), ...player.laneIds()])];
  const localeOf = (lane: string): string => player.peekLane(lane)?.locale ?? config.defaultLocale;

  const controls = new Controls({
    player,
    metrics,
    logger,
    now,
    localeOf,
    repeatAgainMs: config.repeatAgainMs,
    publishResult: (lane, result) => runtime.bus.publish(channels.laneControlResult, { lane }, result),
    publishCommand: (lane, command) => runtime.bus.publish(channels.laneControl, { lane }, command),
  });

  function laneSeen(lane: string, locale: string | undefined): void {
    const state = player.laneState(lane);
    if (locale !== undefined) state.locale = locale;
    if (tts === 'offline' && !state.toldOutage) tell(lane, 'speech-unavailable');
  }

  function tell(lane: string, kind: 'speech-unavailable' | 'speech-restored'): void {
    announceFallback(lane, kind).catch((err: unknown) => log.error({ err, lane, kind }, 'could not queue the fallback announcement'));
  }

  async function announceFallback(lane: string, kind: 'speech-unavailable' | 'speech-restored'): Promise<void> {
    if (kind === 'speech-unavailable') player.laneState(lane).toldOutage = true;
    const locale = localeOf(lane);
    let pcm: Pcm;
    try {
      pcm = checkPcm(kind === 'speech-unavailable' ? await announcer.speechUnavailable(locale) : await announcer.speechRestored(locale));
    } catch (err) {
      log.error({ err, lane, locale, kind }, 'fallback announcer failed: playing the built-in earcon instead');
      pcm = kind === 'speech-unavailable' ? await builtInAnnouncer.speechUnavailable(locale) : await builtInAnnouncer.speechRestored(locale);
    }
    const id = `outage-${outage}`;
    log.info({ lane, locale, kind }, kind === 'speech-unavailable' ? 'speech unavailable: telling the lane' : 'speech is back: telling the lane');
    player.enqueue({
      lane,
      kind: 'fallback',
      clip: clipOf(pcm, { lane, kind, id }),
      sourceKind: kind,
      sourceId: id,
      sourceAt: now(),
      interruptible: false,
    });
  }

  function onTtsAvailability(state: 'online' | 'offline'): void {
    if (state === tts) return;
    const previous = tts;
    tts = state;
    log.info({ tts: state }, `speech service ${state}`);
    if (state === 'offline') {
      outage += 1;
      metrics.outages.inc();
      for (const lane of knownLanes()) if (!player.laneState(lane).toldOutage) tell(lane, 'speech-unavailable');
    } else if (previous === 'offline') {
      for (const lane of player.laneIds()) {
        const state = player.laneState(lane);
        if (!state.toldOutage) continue;
        state.toldOutage = false;
        tell(lane, 'speech-restored');
      }
    }
  }

  function earcon(lane: string, chime: Pcm, sourceKind: string, sourceId: string, sourceAt: number): Announcement {
    return {
      lane,
      kind: 'earcon',
      clip: clipOf(chime, { lane, kind: `earcon-${sourceKind}`, id: sourceId }),
      sourceKind,
      sourceId,
      sourceAt,
      interruptible: true,
    };
  }

  function laneMismatch(lane: string, named: string, what: string): boolean {
    if (named === lane) return false;
    player.refuse(lane, 'lane-mismatch');
    log.warn({ lane, named }, `${what} on lane ${lane}'s topic names lane ${named}: dropped`);
    return true;
  }

  function onScan(scan: Scan, lane: string): void {
    if (laneMismatch(lane, scan.lane, 'scan')) return;
    laneSeen(lane, scan.locale);
    player.scanned(lane);
    player.newerScan(lane, scan.at);
    // Its speech may have overtaken the scan (two paths through the broker): the chime still goes first.
    if (config.earcon) player.enqueue(earcon(lane, scanChime, 'scan', scan.id, scan.at), (waiting) => waiting.lane === lane && waiting.sourceId === scan.id);
  }

  function onLaneEvent(event: LaneEvent, lane: string): void {
    if (laneMismatch(lane, event.lane, 'lane event')) return;
    laneSeen(lane, event.locale);
    if (event.type === 'total' || event.type === 'session-ended') player.basketEnded(lane, event.id);
    if (event.type !== 'not-recognised') return;
    // The shopper tried again: like a scan, it makes older chatter stale, and gets its own earcon.
    player.newerScan(lane, event.at);
    if (config.earcon) player.enqueue(earcon(lane, notRecognisedChime, 'not-recognised', event.id, event.at));
  }

  function onAudio(audio: Audio, lane: string): void {
    const { meta } = audio;
    if (laneMismatch(lane, meta.lane, 'audio')) return;
    const recent = player.laneState(lane).utterances;
    if (recent.has(meta.id)) {
      player.refuse(lane, 'duplicate');
      log.info({ lane, id: meta.id }, 'utterance received twice: played once');
      return;
    }
    recent.add(meta.id);
    if (recent.size > UTTERANCES_REMEMBERED) recent.delete(recent.values().next().value!);
    laneSeen(lane, meta.locale);
    player.enqueue({
      lane,
      kind: 'speech',
      // Parts are named apart (`<id>.3of35`), so a listing of the file output shows their order.
      clip: clipOf(audio.pcm, {
        lane,
        kind: meta.source.kind,
        id: meta.part ? `${meta.source.id}.${meta.part.index + 1}of${meta.part.count}` : meta.source.id,
      }),
      sourceKind: meta.source.kind,
      sourceId: meta.source.id,
      sourceAt: meta.source.at,
      interruptible: meta.interruptible,
      text: meta.text,
      ...(meta.part !== undefined ? { part: meta.part } : {}),
      // The answer to a control: ahead of the lane's queue, heard even while it is paused, never too old.
      ...(meta.source.kind === 'control' ? { asked: 'feedback' as const, ...(meta.source.command !== undefined ? { command: meta.source.command } : {}) } : {}),
    });
  }

  function onControl(control: ControlCommand, lane: string): void {
    laneSeen(lane, undefined);
    controls.onControl(control, lane);
  }

  runtime.http.get('/lanes', async () => ({ output: sink.name, tts, lanes: lanes() }));

  function lanes(): LaneReport[] {
    return player.status().map((s) => ({ ...s, locale: localeOf(s.lane) }));
  }

  let probeTimer: NodeJS.Timeout | undefined;
  /** Checks the outputs (and warms them up: a pulse stream is opened here); the result is what /readyz says. */
  async function probe(): Promise<void> {
    await Promise.all(sinks.map((each) => probeOne(each)));
  }

  async function probeOne(each: AudioSink): Promise<void> {
    const before = player.outputProblem();
    try {
      await each.open();
      player.setOutputProblem(null, each);
      if (before !== null && player.outputProblem() === null) log.info({ sink: each.name }, 'audio output works again');
    } catch (err) {
      const message = (err as Error).message;
      player.setOutputProblem(message, each);
      if (before !== player.outputProblem()) log.error({ sink: each.name, reason: message }, `audio output not available: ${message}`);
    }
  }

  const subscribe = <T>(what: string, promise: Promise<T>): void => {
    promise.catch((err: unknown) => log.error({ err }, `cannot subscribe to ${what}`));
  };
  const laneParams: Array<{ lane?: string }> = wanted === null ? [{}] : [...wanted].map((lane) => ({ lane }));

  return {
    runtime,
    sink,
    headsets,
    player,
    controls,
    metrics,
    ttsState: () => tts,
    lanes,
    async start() {
      log.info({ output: sink.name, lanes: config.lanes ?? 'all', headsets: Object.fromEntries(config.headsets) }, 'starting');
      for (const lane of config.lanes ?? []) laneSeen(lane, undefined);
      await probe();
      probeTimer = setInterval(() => {
        if (!stopped && player.outputProblem() !== null && player.status().every((s) => s.playing === null))
          probe().catch((err: unknown) => log.error({ err }, 'output probe failed'));
      }, deps.probeIntervalMs ?? 5000);
      probeTimer.unref();
      await runtime.start();
      for (const params of laneParams) {
        subscribe(
          'scans',
          runtime.bus.subscribe(channels.scan, params, (scan, { lane }) => onScan(scan, lane)),
        );
        subscribe(
          'lane events',
          runtime.bus.subscribe(channels.laneEvent, params, (event, { lane }) => onLaneEvent(event, lane)),
        );
        subscribe(
          'audio',
          runtime.bus.subscribe(channels.audio, params, (audio, { lane }) => onAudio(audio, lane)),
        );
        subscribe(
          'lane controls',
          runtime.bus.subscribe(channels.laneControl, params, (control, { lane }) => onControl(control, lane)),
        );
      }
      subscribe(
        'tts availability',
        runtime.bus.subscribe(channels.availability, { service: 'tts' }, (state) => onTtsAvailability(state)),
      );
    },
    async stop() {
      stopped = true;
      clearInterval(probeTimer);
      await player.stop().catch((err: unknown) => log.warn({ err }, 'stopping the player failed'));
      for (const each of sinks) await each.close().catch((err: unknown) => log.warn({ err, sink: each.name }, 'closing an audio output failed'));
      await runtime.stop();
    },
  };
}

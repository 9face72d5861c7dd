import path from 'node:path';
import type { ContainerClient } from '@azure/storage-blob';
import { BoundedMap, createRuntime, type Logger, type Runtime } from '@sightline/kit';
import { channels, idSchema, type Detections } from '@sightline/schemas';
import { blobName, containerClientFor, metadataValue, tagValue, TIERS, type UploadOutcome } from './blob.ts';
import { DailyBudget, type OverBudget } from './budget.ts';
import type { SyncConfig } from './config.ts';
import { EventTracker, type ClosedEvent } from './events.ts';
import { fingerprint, RecentPictures, type Fingerprint } from './fingerprint.ts';
import { keptFromHeader, keptFromMetadata, KeptList } from './kept.ts';
import { registerKeptRoutes } from './kept-routes.ts';
import { createSyncMetrics } from './metrics.ts';
import { Outbox, type EvictReason, type OutboxEntry, type OutboxHeader } from './outbox.ts';
import { Uploader } from './uploader.ts';
import { FrameRing, REASONS, SelectionPolicy, summarize, summaryBytes, type DetectionSummary, type Reason, type RingFrame } from './selection.ts';

export interface SyncDeps {
  now?: () => number;
  /** Called once an image is confirmed in blob storage (benchmarks, tests). */
  onUploaded?: (header: OutboxHeader, outcome: UploadOutcome, at: number) => void;
  random?: () => number;
}

export interface SyncStats {
  outbox: { images: number; bytes: number; oldestAgeSeconds: number | null };
  selected: Record<Reason, number>;
  /**
   * Worth keeping but not taken: a near-duplicate of a picture selected lately (`duplicate`), an
   * uncertain frame of an event whose most uncertain frame went instead (`sameEvent`), or past the
   * camera's daily budget, its pace or a label's share of it (`overBudget`).
   */
  suppressed: { duplicate: number; sameEvent: number; overBudget: number };
  notSelected: { cap: number; missingFrame: number; tooLarge: number; error: number };
  /** Objects followed across frames: open now, closed so far, and closed with an uncertain frame to send. */
  events: { open: number; closed: number; withImage: number };
  /** Each camera's spending today (UTC) against its daily budget. */
  budget: { imagesPerDay: number; bytesPerDay: number; cameras: Record<string, { images: number; bytes: number }> };
  /** Frames whose picture could not be compared (undecodable past their header): selected without the comparison. */
  fingerprintFailures: number;
  uploaded: number;
  evicted: Record<EvictReason, number>;
  bytes: { captured: number; selected: number; uploaded: number; evicted: number };
  framesSeen: number;
  /** Frames not kept: their camera is not configured, or new while the cameras are at their cap. */
  framesRefused: number;
  /** Cameras whose frames are held now, and the bytes they hold. */
  rings: { cameras: number; bytes: number };
  store: { reachable: boolean | null; lastError: string | null; retryInMs: number };
}

export interface SyncApp {
  readonly runtime: Runtime;
  readonly outbox: Outbox;
  /** The images kept lately, as `GET /kept` lists them. */
  readonly kept: KeptList;
  stats(): SyncStats;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Raised by `start()` when the blob store answers but refuses us (bad key, bad SAS, bad account). */
export class StoreRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreRefusedError';
  }
}

const PENDING_LIMIT = 200;
/** Detections waiting for their frame: a few hundred summaries, each a few labels. */
const PENDING_BYTES = 1024 * 1024;
const RECENT_LIMIT = 2000;
/** Events open at once (cameras x labels in view). */
const OPEN_EVENTS = 1024;
/** Candidates waiting to be compared and budgeted; alert snapshots are never turned away. */
const QUEUE_LIMIT = 256;

export function createSyncApp(config: SyncConfig, logger: Logger, deps: SyncDeps = {}): SyncApp {
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const log = logger.child({ module: 'sync' });
  // Made below, once the outbox and the metrics exist; readiness asks it only after start.
  let uploader: Uploader | undefined;

  const runtime = createRuntime({
    service: 'sync',
    logger,
    mqtt: config.mqtt,
    http: config.http,
    notReadyReason: () => (uploader === undefined ? 'blob container not yet checked' : uploader.notReadyReason()),
  });

  const counts = {
    selected: { alert: 0, uncertain: 0, sample: 0 } as Record<Reason, number>,
    suppressed: { duplicate: 0, sameEvent: 0, overBudget: 0 },
    notSelected: { cap: 0, missingFrame: 0, tooLarge: 0, error: 0 },
    events: { closed: 0, withImage: 0 },
    fingerprintFailures: 0,
    uploaded: 0,
    evicted: { ttl: 0, disk: 0, corrupt: 0, rejected: 0 } as Record<EvictReason, number>,
    bytes: { captured: 0, selected: 0, uploaded: 0, evicted: 0 },
    framesSeen: 0,
    framesRefused: 0,
  };

  /**
   * Every image dropped without upload is also announced on the bus (the alert service raises
   * `images-evicted` from it). Evictions found while opening come before the broker is reached:
   * a publish that cannot go out is logged; the metric and the log line above still have it.
   */
  const announceEviction = (entry: OutboxEntry | { file: string; bytes: number }, reason: EvictReason) => {
    // A corrupt file has no readable header: it is named by its file.
    const blob = 'blobName' in entry ? entry.blobName : path.basename(entry.file);
    const camera = 'blobName' in entry ? entry.blobName.split('/')[0] : undefined;
    const event = {
      at: now(),
      reason,
      blob,
      ...(camera !== undefined && idSchema.safeParse(camera).success ? { camera } : {}),
      ...('capturedAt' in entry && entry.capturedAt > 0 ? { capturedAt: entry.capturedAt } : {}),
      bytes: entry.bytes,
    };
    runtime.bus.publish(channels.syncEviction, {}, event).catch((err: unknown) => {
      log.warn({ err: { message: (err as Error).message }, blob, reason }, 'eviction not announced on MQTT');
    });
  };

  const container: ContainerClient = containerClientFor(config.blob, config.container, config.upload.timeoutMs);
  const kept = new KeptList({ maxEntries: config.keptList, container, logger: log, now, timeoutMs: config.upload.timeoutMs });

  // The outbox is created before the metrics so evictions found while opening are counted.
  let metrics: ReturnType<typeof createSyncMetrics> | undefined;
  const outbox = new Outbox({
    dir: path.join(config.dataDir, 'outbox'),
    fsync: config.outbox.fsync,
    maxBytes: config.outbox.maxBytes,
    ttlMs: config.outbox.ttlMs,
    now,
    logger,
    onEvict: (entry, reason) => {
      counts.evicted[reason] += 1;
      counts.bytes.evicted += entry.bytes;
      metrics?.evicted.inc({ reason });
      metrics?.evictedBytes.inc({ reason }, entry.bytes);
      announceEviction(entry, reason);
      if ('blobName' in entry) kept.remove(entry.blobName);
    },
    onResumed: (header) => {
      const entry = keptFromHeader(header, 'waiting');
      if (entry !== null) kept.add(entry);
    },
  });
  metrics = createSyncMetrics(runtime.registry, () => outbox.stats(), now);
  const m = metrics;
  for (const reason of REASONS) m.selected.inc({ reason }, 0);
  for (const cause of ['duplicate', 'same-event', 'images', 'bytes', 'pace', 'label-share']) m.suppressed.inc({ cause }, 0);
  for (const reason of ['ttl', 'disk', 'corrupt', 'rejected']) m.evicted.inc({ reason }, 0);

  // Everything kept per camera or per frame is bounded: the ids come from the network.
  const wanted = config.cameras === null ? null : new Set(config.cameras);
  // Idle time is measured on the monotonic clock unless a test gives its own.
  const bounded = { ...(deps.now !== undefined ? { now: deps.now } : {}), registry: runtime.registry, logger: log };
  const refuseFrame = (camera: string, cause: 'not-configured' | 'camera-cap') => {
    counts.framesRefused += 1;
    m.framesRefused.inc({ cause });
    log.debug({ camera, cause }, 'frame not kept');
  };
  const ring = new FrameRing({
    ...config.ring,
    cameras: wanted?.size ?? config.maxCameras,
    idleMs: config.cameraIdleMs,
    ...bounded,
    onRefuse: (camera) => refuseFrame(camera, 'camera-cap'),
    // A forgotten camera's series goes with it, or made-up ids would grow the metrics instead.
    onForget: (camera) => m.framesSeen.remove({ camera }),
  });
  const policy = new SelectionPolicy(config.selection, { cameras: wanted?.size ?? config.maxCameras, ...bounded });
  const pendingDetections = new BoundedMap<string, DetectionSummary>({
    name: 'sync-pending-detections',
    maxEntries: PENDING_LIMIT,
    maxBytes: PENDING_BYTES,
    sizeOf: summaryBytes,
    idleMs: config.cameraIdleMs,
    ...bounded,
  });
  const pendingSnapshots = new BoundedMap<string, { camera: string; seq: number }>({
    name: 'sync-pending-snapshots',
    maxEntries: PENDING_LIMIT,
    idleMs: config.cameraIdleMs,
    ...bounded,
    onEvict: (_key, { camera, seq }) => {
      counts.notSelected.missingFrame += 1;
      m.notSelected.inc({ reason: 'alert', cause: 'missing-frame' });
      log.warn({ camera, seq }, 'alert snapshot frame never arrived: not stored');
    },
  });
  const recent = new BoundedMap<string, true>({ name: 'sync-recent-blobs', maxEntries: RECENT_LIMIT, ...bounded });
  /** The snapshot each open alert last had: a changed one is sent too. */
  const alertSnapshots = new BoundedMap<string, string>({ name: 'sync-alert-snapshots', maxEntries: RECENT_LIMIT, ...bounded });
  const frameKey = (camera: string, seq: number) => `${camera}/${seq}`;

  /**
   * Runs work nobody awaits. A failure is logged and counted: a promise left to reject would take
   * the whole service down (a frame dated past the end of the Date range once did).
   */
  function background(task: string, work: () => Promise<unknown>): void {
    let running: Promise<unknown>;
    try {
      running = work();
    } catch (err) {
      running = Promise.reject(err);
    }
    running.catch((err: unknown) => {
      m.taskFailures.inc({ task });
      log.error({ err, task }, 'background task failed');
    });
  }

  const budget = new DailyBudget(config.budget, {
    cameras: wanted?.size ?? config.maxCameras,
    file: path.join(config.dataDir, 'budget.json'),
    registry: runtime.registry,
    logger: log,
  });
  const pictures = new RecentPictures(config.duplicates, { cameras: wanted?.size ?? config.maxCameras, registry: runtime.registry, logger: log });
  const tracker = new EventTracker(
    config.events,
    (score) => policy.inBand(score),
    (event) => onEventClosed(event),
    {
      events: OPEN_EVENTS,
      // The best frames of open events, beside the rings that hold the rest.
      bytes: Math.max(config.ring.bytes, config.ring.totalBytes / 4),
      ...bounded,
    },
  );

  interface Candidate {
    frame: RingFrame;
    reason: Reason;
    /** The event whose most uncertain frame this is (uncertain images only). */
    event?: ClosedEvent;
  }
  // Candidates are decided one at a time, so two pictures of one scene arriving together cannot
  // both pass the comparison before either is remembered.
  let decisions: Promise<void> = Promise.resolve();
  let queued = 0;

  /** Queues the frame for a decision; a frame that cannot be selected (whatever it carries) is counted, never thrown. */
  function choose(frame: RingFrame, reason: Reason, event?: ClosedEvent): void {
    if (reason !== 'alert' && queued >= QUEUE_LIMIT) {
      counts.notSelected.error += 1;
      m.notSelected.inc({ reason, cause: 'error' });
      log.warn({ camera: frame.camera, seq: frame.seq }, 'too many images waiting for a decision: not stored');
      return;
    }
    queued += 1;
    const candidate: Candidate = { frame, reason, ...(event !== undefined ? { event } : {}) };
    decisions = decisions.then(async () => {
      try {
        await decide(candidate);
      } catch (err) {
        counts.notSelected.error += 1;
        m.notSelected.inc({ reason, cause: 'error' });
        log.warn(
          { camera: frame.camera, seq: frame.seq, capturedAt: frame.capturedAt, detail: (err as Error).message },
          'frame cannot be selected: not stored',
        );
      } finally {
        queued -= 1;
      }
    });
  }

  function suppress(reason: Reason, cause: 'duplicate' | OverBudget, detail: Record<string, unknown>): void {
    if (cause === 'duplicate') counts.suppressed.duplicate += 1;
    else counts.suppressed.overBudget += 1;
    m.suppressed.inc({ cause });
    log.debug({ reason, cause, ...detail }, 'image not selected');
  }

  /**
   * Whether the candidate adds something and fits the budget: an alert snapshot always goes (it is
   * compared only to be remembered); any other picture goes unless it nearly duplicates one selected
   * lately on its camera with the same labels, or would overspend the camera's day.
   */
  async function decide({ frame, reason, event }: Candidate): Promise<void> {
    const at = now();
    const labels = frame.detections?.labels ?? [];
    let print: Fingerprint | null = null;
    if (pictures.enabled) {
      try {
        print = await fingerprint(frame.jpeg);
      } catch (err) {
        counts.fingerprintFailures += 1;
        m.fingerprintFailures.inc();
        log.warn({ camera: frame.camera, seq: frame.seq, detail: (err as Error).message }, 'picture cannot be compared: selected without the comparison');
      }
    }
    if (print !== null && reason !== 'alert') {
      const closest = pictures.match(frame.camera, labels, print, at);
      if (closest !== null) return suppress(reason, 'duplicate', { camera: frame.camera, seq: frame.seq, difference: closest });
    }
    // An event's image is budgeted under its own label; the others under what the frame shows.
    const budgetLabels = event !== undefined ? [event.label] : labels;
    const over = budget.check(frame.camera, reason, frame.jpeg.length, budgetLabels, at);
    if (over !== null) return suppress(reason, over, { camera: frame.camera, seq: frame.seq });
    // An alert snapshot past the budget still goes; its tags say so.
    const overspent = reason === 'alert' && budget.check(frame.camera, 'sample', frame.jpeg.length, [], at) !== null;
    if (!(await select(frame, reason, event, overspent))) return;
    budget.spend(frame.camera, frame.jpeg.length, budgetLabels, at);
    if (print !== null) pictures.remember(frame.camera, labels, print, at);
  }

  function onEventClosed(event: ClosedEvent): void {
    counts.events.closed += 1;
    m.events.inc({ outcome: event.best === null ? 'certain' : 'uncertain' });
    if (event.best === null) return;
    counts.events.withImage += 1;
    if (event.uncertainFrames > 1) {
      counts.suppressed.sameEvent += event.uncertainFrames - 1;
      m.suppressed.inc({ cause: 'same-event' }, event.uncertainFrames - 1);
    }
    choose(event.best.frame, 'uncertain', event);
  }

  /** Writes the frame to the outbox; true when it was taken (false: already there, over the hourly ceiling, too large). */
  async function select(frame: RingFrame, reason: Reason, event: ClosedEvent | undefined, overspent: boolean): Promise<boolean> {
    const name = blobName(frame.camera, frame.capturedAt, frame.seq);
    if (outbox.has(name) || recent.has(name)) return false;
    // Everything taken from the frame is built before it counts against the cap.
    const detections = frame.detections;
    const labels = detections?.labels ?? [];
    const score = detections?.bestScore ?? null;
    const fields: Record<string, string> = {
      camera: frame.camera,
      seq: String(frame.seq),
      capturedat: new Date(frame.capturedAt).toISOString(),
      reason,
      labels: labels.join(','),
      bestscore: score === null ? '' : score.toFixed(3),
      modelid: detections?.model.id ?? '',
      modelversion: detections?.model.version ?? '',
      tier: TIERS[reason],
      event: event?.id ?? '',
      budget: overspent ? 'over' : 'within',
    };
    // What the event was: in the metadata only (a blob has at most 10 index tags, and the fields above are 10 with seq).
    const eventFields: Record<string, string> =
      event === undefined
        ? {}
        : { eventframes: String(event.frames), eventuncertain: String(event.uncertainFrames), eventlabel: event.label, scans: event.scans.join(',') };
    const metadata = Object.fromEntries(Object.entries({ ...fields, ...eventFields }).map(([k, v]) => [k, metadataValue(v)]));
    const tags = Object.fromEntries(
      Object.entries({ ...fields, labels: labels.map(tagValue).join(' ') })
        .filter(([k]) => k !== 'seq')
        .map(([k, v]) => [k, tagValue(v)]),
    );
    if (!policy.admit(reason, now())) {
      counts.notSelected.cap += 1;
      m.notSelected.inc({ reason, cause: 'cap' });
      return false;
    }
    recent.set(name, true);
    try {
      const result = await outbox.add({
        blobName: name,
        camera: frame.camera,
        seq: frame.seq,
        capturedAt: frame.capturedAt,
        reason,
        metadata,
        tags,
        jpeg: frame.jpeg,
      });
      if (result === 'too-large') {
        counts.notSelected.tooLarge += 1;
        m.notSelected.inc({ reason, cause: 'too-large' });
        log.error({ blob: name, bytes: frame.jpeg.length }, 'image larger than the whole outbox: not stored');
        return false;
      }
      if (result === 'duplicate') return false;
      counts.selected[reason] += 1;
      counts.bytes.selected += frame.jpeg.length;
      const listed = keptFromMetadata(name, metadata, 'waiting');
      // Uploaded already (a fast store) before this line ran: the list says so.
      if (listed !== null) kept.add({ ...listed, state: outbox.has(name) ? 'waiting' : 'uploaded' });
      m.selected.inc({ reason });
      m.bytesSelected.inc(frame.jpeg.length);
      log.debug({ blob: name, reason }, 'image selected');
      uploader?.kick();
      return true;
    } catch (err) {
      recent.delete(name);
      log.error({ err, blob: name }, 'cannot write the image to the outbox: not accepted');
      return false;
    }
  }

  /** A frame with its detections: each label's object followed into its event. */
  function observe(frame: RingFrame): void {
    const detections = frame.detections;
    if (detections === undefined) return;
    tracker.see(frame, detections.labels, detections.scores);
  }

  function onFrame(camera: string, frame: { meta: { seq: number; capturedAt: number }; jpeg: Buffer }): void {
    if (wanted !== null && !wanted.has(camera)) return refuseFrame(camera, 'not-configured');
    const entry: RingFrame = { camera, seq: frame.meta.seq, capturedAt: frame.meta.capturedAt, jpeg: frame.jpeg };
    const key = frameKey(camera, entry.seq);
    const waiting = pendingDetections.peek(key);
    if (waiting !== undefined) {
      entry.detections = waiting;
      pendingDetections.delete(key);
    }
    if (!ring.add(entry)) return; // refused and counted by the ring
    counts.framesSeen += 1;
    counts.bytes.captured += frame.jpeg.length;
    m.framesSeen.inc({ camera });
    m.bytesCaptured.inc(frame.jpeg.length);
    if (pendingSnapshots.peek(key) !== undefined) {
      pendingSnapshots.delete(key);
      choose(entry, 'alert');
    } else if (policy.sampleDue(camera, entry.capturedAt)) {
      // The slot is taken whatever the decision: a static scene is compared twice an hour, not every frame.
      policy.takeSample(camera, entry.capturedAt);
      choose(entry, 'sample');
    }
    observe(entry);
  }

  function onDetections(camera: string, detections: Detections): void {
    if (wanted !== null ? !wanted.has(camera) : !ring.accepts(camera)) return;
    const summary = summarize(detections);
    const frame = ring.pair(camera, detections.seq, summary);
    if (frame === undefined) {
      pendingDetections.set(frameKey(camera, detections.seq), summary);
      return;
    }
    observe(frame);
  }

  function onSnapshot(camera: string, seq: number): void {
    const frame = ring.find(camera, seq);
    if (frame !== undefined) return choose(frame, 'alert');
    pendingSnapshots.set(frameKey(camera, seq), { camera, seq });
  }

  const store = new Uploader({
    outbox,
    container,
    upload: config.upload,
    metrics: m,
    logger: log,
    now,
    random,
    background,
    onUploaded: (header, outcome, at, bytes, stored) => {
      kept.uploaded(header.blobName, stored);
      counts.uploaded += 1;
      counts.bytes.uploaded += bytes;
      deps.onUploaded?.(header, outcome, at);
    },
  });
  uploader = store;

  let sweeper: NodeJS.Timeout | undefined;
  let eventSweeper: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;
  let runtimeStarted = false;

  runtime.http.get('/stats', async (): Promise<SyncStats> => stats());
  registerKeptRoutes(runtime.http, { kept, outbox, container, timeoutMs: config.upload.timeoutMs });

  function stats(): SyncStats {
    const o = outbox.stats();
    return {
      outbox: { images: o.images, bytes: o.bytes, oldestAgeSeconds: o.oldestAcceptedAt === null ? null : Math.max(0, (now() - o.oldestAcceptedAt) / 1000) },
      selected: { ...counts.selected },
      suppressed: { ...counts.suppressed },
      notSelected: { ...counts.notSelected },
      events: { open: tracker.size, ...counts.events },
      budget: { imagesPerDay: config.budget.imagesPerDay, bytesPerDay: config.budget.bytesPerDay, cameras: budget.snapshot(now()) },
      fingerprintFailures: counts.fingerprintFailures,
      uploaded: counts.uploaded,
      evicted: { ...counts.evicted },
      bytes: { ...counts.bytes },
      framesSeen: counts.framesSeen,
      framesRefused: counts.framesRefused,
      rings: { cameras: ring.count, bytes: ring.bytes },
      store: store.state(),
    };
  }

  return {
    runtime,
    outbox,
    kept,
    stats,
    async start() {
      await outbox.open();
      budget.load(now());
      const problem = await store.checkAtStart(config.upload.startTimeoutMs);
      if (problem !== null) {
        throw new StoreRefusedError(
          `blob storage refused container "${config.container}" at ${storeEndpoint(config)}: ${problem.refused} (check the connection string / SAS)`,
        );
      }
      const { lastError } = store.state();
      if (lastError !== null)
        log.warn({ endpoint: storeEndpoint(config), cause: lastError }, 'blob storage unreachable at start: images wait in the outbox, retrying with backoff');
      runtimeStarted = true;
      await runtime.start();
      sweeper = setInterval(() => background('outbox expiry', () => outbox.expire()), Math.min(60_000, Math.max(1000, config.outbox.ttlMs / 10)));
      sweeper.unref();
      // Events end when their label has been gone for the gap: looked at a few times per gap.
      eventSweeper = setInterval(() => tracker.sweep(), Math.max(50, Math.min(1000, config.events.gapMs / 4)));
      eventSweeper.unref();
      runtime.bus
        .subscribe(channels.frame, {}, (frame, { camera }) => onFrame(camera, frame))
        .catch((err: unknown) => log.error({ err }, 'cannot subscribe to frames'));
      runtime.bus
        .subscribe(channels.detections, {}, (detections, { camera }) => onDetections(camera, detections))
        .catch((err: unknown) => log.error({ err }, 'cannot subscribe to detections'));
      runtime.bus
        .subscribe(channels.scan, {}, (scan) => {
          tracker.scan(scan.camera, scan.product.label, scan.id);
        })
        .catch((err: unknown) => log.error({ err }, 'cannot subscribe to scans'));
      runtime.bus
        .subscribe(channels.alerts, {}, (event) => {
          const { snapshot } = event.alert;
          if (snapshot === null || event.type === 'end') return;
          // A new alert's snapshot, and a later one when the alert is seen again with a new frame
          // (what the console then shows); not the same one again with every acknowledgement.
          const key = frameKey(snapshot.camera, snapshot.seq);
          if (event.type === 'update' && alertSnapshots.peek(event.alert.id) === key) return;
          alertSnapshots.set(event.alert.id, key);
          onSnapshot(snapshot.camera, snapshot.seq);
        })
        .catch((err: unknown) => log.error({ err }, 'cannot subscribe to alerts'));
      store.start();
    },
    stop() {
      stopping ??= stopAll();
      return stopping;
    },
  };

  async function stopAll(): Promise<void> {
    clearInterval(sweeper);
    clearInterval(eventSweeper);
    // No new upload from here on; those in flight finish while the runtime closes.
    const uploadsSettled = store.stop();
    // A client that never connected has nothing to close (and mqtt.js cannot end it).
    if (runtimeStarted) await runtime.stop();
    // No frame comes any more: the open events' best frames go to the outbox (sent at the next start).
    tracker.closeAll();
    await decisions;
    budget.save();
    await uploadsSettled;
  }
}

function storeEndpoint(config: SyncConfig): string {
  return config.blob.kind === 'sas' ? config.blob.accountUrl : config.blob.blobEndpoint;
}

/**
 * `pnpm bench:selection [-- --static-seconds 600 --demo-seconds 120 --streams static,demo,scene --fps 5 --json]`:
 * what sync sends the cloud out of realistic camera streams, played through the whole stack
 * (`pnpm start`: broker, capture, inference, checkout, alert, sync into the stack's Azurite), one
 * fresh stack per stream so each stream's /stats are its own.
 *
 * Streams:
 * - static: the tangerine still on the counter (an "orange" at a mid score, inside sync's
 *   0.3-0.8 uncertainty band) for `--static-seconds`, with sensor noise; one event.
 * - demo: the README's demo video (e2e/item-video.ts: 2 s of empty counter, 6 s of the orange,
 *   looped) for `--demo-seconds`; every scan is an event.
 * - scene: e2e/scene-video.ts, eight objects coming and going; every appearance is an event.
 *
 * Each stream is measured over a window of capture time that begins and ends with the counter
 * empty (the demo's: a whole number of loops), so whatever sync decides when an object leaves is
 * decided inside it. /stats is read at both ends (captured and selected are the differences);
 * after the window the bench waits for the outbox to empty, then lists the container in Azurite:
 * the stream's uploads are the blobs captured inside the window, with their metadata and tags.
 *
 * An event is eligible when a frame in it had a detection scored in the band (what sync is asked
 * to keep), and covered when an uploaded image was captured in it. Capture time is mapped to
 * video time from capture's own `since` (its first frame is the video's first frame), checked
 * against what the frames show (empty counter or not) and corrected by the offset that fits best.
 *
 * Not a test: `node --test e2e/*.test.ts` does not pick it up.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { BlobServiceClient } from '@azure/storage-blob';
import { connectAsync } from 'mqtt';
import { channels, createTopics } from '@sightline/schemas';
import { azuriteConnectionString } from '../infra/azurite/account.ts';
import { launchStack } from './launch.ts';
import { freePort } from './ports.ts';
import { makeItemVideo } from './item-video.ts';
import { makeSceneVideo, makeStillVideo, showsSomething, type SceneItem } from './scene-video.ts';
import { createCleanup, createScope, stopStackOnCleanup, type Cleanup } from './glass/cleanup.ts';
import { round1 } from './glass/stats.ts';

const STREAMS = ['static', 'demo', 'scene'] as const;
type StreamName = (typeof STREAMS)[number];

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    'static-seconds': { type: 'string', default: '600' },
    'demo-seconds': { type: 'string', default: '120' },
    streams: { type: 'string', default: STREAMS.join(',') },
    fps: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('pnpm bench:selection [-- --static-seconds 600 --demo-seconds 120 --streams static,demo,scene --fps 5 --json]');
  process.exit(0);
}
const STATIC_SECONDS = positive('static-seconds', args['static-seconds']);
const DEMO_SECONDS = positive('demo-seconds', args['demo-seconds']);
const FPS = positive('fps', args.fps);
const WANTED = args.streams.split(',').map((s) => s.trim());
for (const name of WANTED) {
  if (!(STREAMS as readonly string[]).includes(name)) {
    console.error(`--streams takes ${STREAMS.join(', ')}, not ${JSON.stringify(name)}`);
    process.exit(2);
  }
}

function positive(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`--${name} must be a number > 0, not ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
}

/** Sync's default uncertainty band (SIGHTLINE_SYNC_UNCERTAIN_MIN/_MAX): what it is asked to keep for labelling. */
const BAND = { min: 0.3, max: 0.8 };
/** Sync's default container (SIGHTLINE_SYNC_CONTAINER). */
const CONTAINER = 'sightline-frames';
/** Capture's camera when no cameras file is given, and the lane checkout watches it with. */
const CAMERA = 'demo';
/** Empty counter before the objects: the stack comes up in about 6 s, sync last. */
const LEAD_SECONDS = 12;
/** The window starts this long before the first object, and ends this long after the last one left. */
const MARGIN_SECONDS = 2;
const QUIET_AFTER_SECONDS = 8;
/** Empty counter after the window, for the outbox to empty before the video loops back. */
const TAIL_SECONDS = 90;
/** The demo video's own timing (makeItemVideo's defaults, given explicitly so the bench knows them). */
const DEMO = { emptySeconds: 2, itemSeconds: 6 };
/** Where the tangerine stands in the static stream: the middle of the counter, as in the demo video. */
const STILL_ITEM = { name: 'tangerine', codepoint: '1f34a', label: 'orange', size: 260, x: 0.5, y: 0.5 };
const GOALS = { staticImages: 5, imagesPerScan: 1, byteShare: 0.01 };

const say = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sleepUntil = (at: number) => sleep(Math.max(0, at - Date.now()));
const cleanup = createCleanup(say);
const topics = createTopics();

/** A stream as the bench plays it: the video, and where its objects are in video time. */
interface Plan {
  name: StreamName;
  video: string;
  /** Capture loops the file: video time is capture time modulo this, s. */
  period: number;
  /** Appearances in video time (one loop). */
  items: SceneItem[];
  /** The window in video time (for the demo: from the first loop boundary after the bench is ready, for `seconds`). */
  window: { from: number; to: number } | { loops: number; phase: number };
}

interface FrameSeen {
  seq: number;
  capturedAt: number;
  bytes: number;
  shows: boolean;
}

interface DetectionSeen {
  seq: number;
  capturedAt: number;
  objects: Array<{ label: string; score: number }>;
}

interface Upload {
  name: string;
  bytes: number;
  capturedAt: number;
  seq: number;
  reason: string;
  labels: string[];
  bestScore: number | null;
  tags: Record<string, string>;
}

type Stats = Record<string, unknown>;

interface EventResult {
  name: string;
  label: string;
  /** Video time, s. */
  from: number;
  to: number;
  frames: number;
  detections: number;
  inBand: number;
  /** Best score of the label the object should get (any label for scans). */
  bestScore: number | null;
  eligible: boolean;
  uploads: number;
  covered: boolean;
}

/** Every number in an object, by its dotted path ("bytes.captured"). */
function numbers(value: unknown, prefix = ''): Record<string, number> {
  const out: Record<string, number> = {};
  if (typeof value === 'number') out[prefix] = value;
  else if (value !== null && typeof value === 'object')
    for (const [key, inner] of Object.entries(value)) Object.assign(out, numbers(inner, prefix === '' ? key : `${prefix}.${key}`));
  return out;
}

/** Counts in `after` minus those in `before`, for every number `after` has (a group missing before counts from 0). */
function difference(before: unknown, after: unknown): Record<string, number> {
  const was = numbers(before);
  return Object.fromEntries(Object.entries(numbers(after)).map(([key, value]) => [key, value - (was[key] ?? 0)]));
}

/** Metadata values are percent-encoded when not ASCII (sync's metadataValue). */
function metadataText(value: string | undefined): string {
  try {
    return decodeURIComponent(value ?? '');
  } catch {
    return value ?? '';
  }
}

const sum = (values: Record<string, number>) => Object.values(values).reduce((a, b) => a + b, 0);
const percent = (part: number, whole: number) => (whole === 0 ? Number.NaN : Math.round((part / whole) * 10000) / 100);
const inBand = (score: number) => score >= BAND.min && score <= BAND.max;

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return (await response.json()) as T;
}

/**
 * The offset (s) to add to capture's clock so the video's schedule best matches what the frames
 * show, searched within ±2 s, and the share of frames that agree with it (and with none).
 */
function fitOffset(frames: FrameSeen[], toVideo: (capturedAt: number, offset: number) => number, present: (v: number) => boolean) {
  const agree = (offset: number) => frames.filter((f) => present(toVideo(f.capturedAt, offset)) === f.shows).length / Math.max(1, frames.length);
  let best = { offset: 0, share: agree(0) };
  for (let step = -100; step <= 100; step++) {
    const offset = step * 0.02;
    const share = agree(offset);
    if (share > best.share + 1e-9 || (Math.abs(share - best.share) < 1e-9 && Math.abs(offset) < Math.abs(best.offset))) best = { offset, share };
  }
  return { offset: Number(best.offset.toFixed(2)), agreement: Number((best.share * 100).toFixed(1)), agreementUnfitted: Number((agree(0) * 100).toFixed(1)) };
}

/** One stream through a fresh stack: the window's /stats, what reached Azurite, the events and the alert snapshots. */
async function runStream(plan: Plan) {
  const dataDir = mkdtempSync(join(tmpdir(), `sightline-bench-selection-${plan.name}-`));
  const blobPort = await freePort();
  let stackPid: number | null = null;
  // Undone when the stream ends (each stream's stack goes before the next starts); Ctrl-C runs it through the bench's cleanup.
  const local = createScope(say);
  local.after(() => rmSync(dataDir, { recursive: true, force: true }));
  stopStackOnCleanup(local, dataDir, () => stackPid);
  cleanup.after(() => local.run());
  try {
    say(`[${plan.name}] starting the stack on ${plan.video}`);
    const stack = await launchStack(dataDir, {
      SIGHTLINE_LOG_LEVEL: 'warn',
      // What selection needs: frames, detections, scans and lane events, alerts, sync and its store.
      SIGHTLINE_STACK_SERVICES: 'broker,capture,inference,checkout,alert,azurite,sync',
      SIGHTLINE_CAPTURE_SOURCE: plan.video,
      SIGHTLINE_CAPTURE_FPS: String(FPS),
      // The stack picks it too, but does not say which: the bench lists the container there.
      SIGHTLINE_AZURITE_BLOB_PORT: String(blobPort),
    });
    stackPid = stack.pid;
    local.after(() => stack.kill());
    const syncUrl = `http://127.0.0.1:${stack.httpPorts.SIGHTLINE_SYNC_HTTP_PORT}`;
    const captureUrl = `http://127.0.0.1:${stack.httpPorts.SIGHTLINE_CAPTURE_HTTP_PORT}`;
    const bus = await connectAsync(`mqtt://127.0.0.1:${stack.mqttPort}`, { protocolVersion: 4, ...stack.login('operator') });
    local.after(() => bus.endAsync(true));

    const frames: FrameSeen[] = [];
    const classifying: Array<Promise<void>> = [];
    const detections: DetectionSeen[] = [];
    const scans: Array<{ id: string; seq: number; capturedAt: number; sku: string; confidence: number }> = [];
    const alerts: Array<{ id: string; type: string; snapshot: { camera: string; seq: number; capturedAt: number } }> = [];
    bus.on('message', (topic, payload) => {
      try {
        if (topics.match(channels.frame, topic)) {
          const frame = channels.frame.codec.decode(payload);
          // Empty counter or not, for the clock check; a millisecond a frame at 1/8 scale.
          classifying.push(
            showsSomething(frame.jpeg).then((shows) => {
              frames.push({ seq: frame.meta.seq, capturedAt: frame.meta.capturedAt, bytes: frame.jpeg.length, shows });
            }),
          );
        } else if (topics.match(channels.detections, topic)) {
          const value = channels.detections.codec.decode(payload);
          detections.push({ seq: value.seq, capturedAt: value.capturedAt, objects: value.objects.map((o) => ({ label: o.label, score: o.score })) });
        } else if (topics.match(channels.scan, topic)) {
          const scan = channels.scan.codec.decode(payload);
          scans.push({ id: scan.id, seq: scan.seq, capturedAt: scan.capturedAt, sku: scan.product.sku, confidence: scan.confidence });
        } else if (topics.match(channels.alerts, topic)) {
          const event = channels.alerts.codec.decode(payload);
          // Sync keeps the snapshot of a new alert only.
          if (event.type === 'new' && event.alert.snapshot !== null)
            alerts.push({ id: event.alert.id, type: event.alert.type, snapshot: event.alert.snapshot });
        }
      } catch (err) {
        say(`[${plan.name}] bad message on ${topic}: ${(err as Error).message}`);
      }
    });
    await bus.subscribeAsync([topics.filter(channels.frame, { camera: CAMERA }), topics.filter(channels.detections, { camera: CAMERA })], { qos: 0 });
    await bus.subscribeAsync([topics.filter(channels.scan), topics.filter(channels.alerts)], { qos: 1 });
    const readyAt = Date.now();

    type CameraReport = { camera: string; since: number | null; restarts: number; online: boolean };
    const cameraNow = async () => (await getJson<{ cameras: CameraReport[] }>(`${captureUrl}/cameras`)).cameras.find((c) => c.camera === CAMERA);
    const first = await cameraNow();
    if (!first?.online || first.since === null) throw new Error(`camera ${CAMERA} is not online: ${JSON.stringify(first)}`);
    // Capture stamps `since` on the first frame out of ffmpeg, which is the video's first frame.
    const since = first.since;

    let window: { from: number; to: number };
    if ('loops' in plan.window) {
      // The demo: whole loops, from a point in the empty counter after the bench is listening.
      const phase = plan.window.phase;
      const loop = Math.ceil(((readyAt - since) / 1000 + 1 - phase) / plan.period);
      window = { from: loop * plan.period + phase, to: (loop + plan.window.loops) * plan.period + phase };
    } else {
      window = plan.window;
    }
    const w0 = since + window.from * 1000;
    const w1 = since + window.to * 1000;
    if (w0 < readyAt) say(`[${plan.name}] the stack came up ${round1((readyAt - w0) / 1000)} s into the window: its start is measured late`);
    say(`[${plan.name}] window: video ${window.from}-${window.to} s (${round1((w1 - w0) / 1000)} s), starts in ${round1((w0 - Date.now()) / 1000)} s`);
    await sleepUntil(w0);
    const before = await getJson<Stats>(`${syncUrl}/stats`);
    const startedAt = Date.now();
    await sleepUntil(w1);
    const after = await getJson<Stats>(`${syncUrl}/stats`);
    const endedAt = Date.now();

    // The outbox empties: everything selected so far is in Azurite (or evicted, and counted).
    say(`[${plan.name}] window over; waiting for the outbox to empty`);
    await sleep(2000);
    let final = await getJson<Stats>(`${syncUrl}/stats`);
    const drainBy = Date.now() + 120_000;
    while ((final.outbox as { images: number }).images > 0 && Date.now() < drainBy) {
      await sleep(500);
      final = await getJson<Stats>(`${syncUrl}/stats`);
    }
    const outboxLeft = (final.outbox as { images: number }).images;
    const last = await cameraNow();

    const container = BlobServiceClient.fromConnectionString(azuriteConnectionString('127.0.0.1', blobPort)).getContainerClient(CONTAINER);
    const blobs: Upload[] = [];
    for await (const blob of container.listBlobsFlat({ prefix: `${CAMERA}/`, includeMetadata: true, includeTags: true })) {
      const meta = blob.metadata ?? {};
      const labels = metadataText(meta.labels);
      blobs.push({
        name: blob.name,
        bytes: blob.properties.contentLength ?? 0,
        capturedAt: Date.parse(meta.capturedat ?? ''),
        seq: Number(meta.seq),
        reason: meta.reason ?? '(none)',
        labels: labels === '' ? [] : labels.split(','),
        bestScore: meta.bestscore ? Number(meta.bestscore) : null,
        tags: blob.tags ?? {},
      });
    }
    await Promise.all(classifying);
    frames.sort((a, b) => a.capturedAt - b.capturedAt);
    say(`[${plan.name}] stopping the stack`);
    await local.run();

    // Video time of a capture time, and the offset that makes the frames agree with the schedule.
    const present = (v: number) => plan.items.some((item) => v >= item.from && v < item.to);
    const toVideo = (capturedAt: number, offset: number) => {
      const t = (capturedAt - since) / 1000 + offset;
      return ((t % plan.period) + plan.period) % plan.period;
    };
    const inWindow = <T extends { capturedAt: number }>(list: T[]) => list.filter((x) => x.capturedAt >= w0 && x.capturedAt < w1);
    const clock = fitOffset(inWindow(frames), toVideo, present);
    const loopOf = (capturedAt: number) => Math.floor(((capturedAt - since) / 1000 + clock.offset) / plan.period);
    /** Capture time (ms) of video time `v` in loop `loop`. */
    const captureTime = (loop: number, v: number) => since + (loop * plan.period + v - clock.offset) * 1000;

    const uploads = inWindow(blobs);
    const windowDetections = inWindow(detections);
    const eventOf = (name: string, label: string | null, from: number, to: number, loop: number): EventResult => {
      const c0 = captureTime(loop, from);
      const c1 = captureTime(loop, to);
      const within = <T extends { capturedAt: number }>(list: T[]) => list.filter((x) => x.capturedAt >= c0 && x.capturedAt < c1);
      const seen = within(detections);
      const scores = seen.flatMap((d) => d.objects.filter((o) => label === null || o.label === label).map((o) => o.score));
      const eligible = seen.some((d) => d.objects.some((o) => inBand(o.score)));
      const kept = within(blobs).length;
      return {
        name,
        label: label ?? 'any',
        from: round1(from + loop * plan.period),
        to: round1(to + loop * plan.period),
        frames: within(frames).length,
        detections: seen.length,
        inBand: seen.filter((d) => d.objects.some((o) => inBand(o.score))).length,
        bestScore: scores.length === 0 ? null : Math.round(Math.max(...scores) * 100) / 100,
        eligible,
        uploads: kept,
        covered: kept > 0,
      };
    };
    let events: EventResult[];
    const windowScans = inWindow(scans);
    if (plan.name === 'demo') {
      // A scan's event is the appearance of the orange it was made in.
      const orange = plan.items[0]!;
      events = windowScans.map((scan) =>
        eventOf(`scan ${scan.id} (${scan.sku} ${scan.confidence.toFixed(2)})`, null, orange.from, orange.to, loopOf(scan.capturedAt)),
      );
    } else {
      events = plan.items.map((item) => eventOf(item.name, item.label, item.from, item.to, 0));
    }

    const blobKey = (camera: string, seq: number, capturedAt: number) => `${camera}/${seq}/${capturedAt}`;
    const byFrame = new Map(blobs.map((b) => [blobKey(CAMERA, b.seq, b.capturedAt), b]));
    const snapshots = alerts
      .filter((a) => a.snapshot.capturedAt < w1)
      .map((a) => {
        const blob = byFrame.get(blobKey(a.snapshot.camera, a.snapshot.seq, a.snapshot.capturedAt));
        return { alert: a.id, type: a.type, seq: a.snapshot.seq, delivered: blob !== undefined, reason: blob?.reason ?? null };
      });

    const reasons: Record<string, number> = {};
    for (const upload of uploads) reasons[upload.reason] = (reasons[upload.reason] ?? 0) + 1;
    const labelsUploaded = [...new Set(uploads.flatMap((u) => u.labels))].sort();
    const labelsInBand = [...new Set(windowDetections.flatMap((d) => d.objects.filter((o) => inBand(o.score)).map((o) => o.label)))].sort();
    const counts = difference(before, after);
    // Whatever /stats holds under the name: a number, or counts by key (any depth).
    const group = (name: string) => Object.fromEntries(Object.entries(counts).filter(([key]) => key === name || key.startsWith(`${name}.`)));
    const captured = { frames: counts.framesSeen ?? 0, bytes: counts['bytes.captured'] ?? 0 };
    const uploadedBytes = uploads.reduce((a, u) => a + u.bytes, 0);
    const eligible = events.filter((e) => e.eligible);
    const result = {
      stream: plan.name,
      video: plan.video.split('/').pop(),
      seconds: round1((w1 - w0) / 1000),
      windowVideoSeconds: window,
      measured: { startLateMs: Math.max(0, startedAt - w0), endLateMs: Math.max(0, endedAt - w1) },
      clock: { ...clock, captureRestarts: (last?.restarts ?? 0) - first.restarts, sinceMoved: last?.since !== since },
      hourlyCapRestarted: Math.floor(w0 / 3_600_000) !== Math.floor(w1 / 3_600_000),
      captured,
      selected: { images: sum(group('selected')), bytes: counts['bytes.selected'] ?? 0, byReason: group('selected') },
      notSelected: group('notSelected'),
      suppressed: 'suppressed' in after ? group('suppressed') : null,
      uploaded: { images: uploads.length, bytes: uploadedBytes, byReason: reasons, share: percent(uploadedBytes, captured.bytes) },
      outsideWindow: { images: blobs.length - uploads.length, bytes: blobs.reduce((a, b) => a + b.bytes, 0) - uploadedBytes },
      outboxLeft,
      evictedDuringRun: sum(numbers(final.evicted)),
      labels: { uploaded: labelsUploaded, detectedInBand: labelsInBand },
      frames: { seenByBench: inWindow(frames).length, detections: windowDetections.length },
      scans: windowScans.length,
      appearances: plan.name === 'demo' ? Math.round((w1 - w0) / 1000 / plan.period) : plan.items.length,
      events: {
        total: events.length,
        eligible: eligible.length,
        covered: eligible.filter((e) => e.covered).length,
        coveredIneligible: events.filter((e) => !e.eligible && e.covered).length,
        list: events,
      },
      // Delivered: the frame is in the store, under whichever reason selected it first.
      alertSnapshots: {
        raised: snapshots.length,
        delivered: snapshots.filter((s) => s.delivered).length,
        asAlert: snapshots.filter((s) => s.reason === 'alert').length,
        list: snapshots,
      },
      tagsSample: uploads[0]?.tags ?? null,
    };
    return result;
  } catch (err) {
    await local.run();
    throw err;
  }
}

type StreamResult = Awaited<ReturnType<typeof runStream>>;

function goals(results: StreamResult[]) {
  const by = (name: StreamName) => results.find((r) => r.stream === name);
  const list: Array<{ goal: string; figure: string; met: boolean }> = [];
  const still = by('static');
  if (still)
    list.push({
      goal: `static: at most ${GOALS.staticImages} images`,
      figure: `${still.uploaded.images} images`,
      met: still.uploaded.images <= GOALS.staticImages,
    });
  const demo = by('demo');
  if (demo) {
    const perScan = demo.scans === 0 ? Number.NaN : Math.round((demo.uploaded.images / demo.scans) * 100) / 100;
    list.push({
      goal: `demo: at most ${GOALS.imagesPerScan} image per scan`,
      figure: `${perScan} (${demo.uploaded.images} images / ${demo.scans} scans)`,
      met: perScan <= GOALS.imagesPerScan,
    });
  }
  const scene = by('scene');
  if (scene)
    list.push({
      goal: 'scene: every eligible event covered',
      figure: `${scene.events.covered} of ${scene.events.eligible}`,
      met: scene.events.eligible > 0 && scene.events.covered === scene.events.eligible,
    });
  for (const r of results)
    list.push({ goal: `${r.stream}: uploaded bytes at most 1 % of captured`, figure: `${r.uploaded.share} %`, met: r.uploaded.share <= GOALS.byteShare * 100 });
  const raised = results.reduce((a, r) => a + r.alertSnapshots.raised, 0);
  const delivered = results.reduce((a, r) => a + r.alertSnapshots.delivered, 0);
  list.push({ goal: 'every alert snapshot delivered', figure: `${delivered} of ${raised}`, met: delivered === raised });
  return list;
}

const kb = (bytes: number) => `${round1(bytes / 1024)} KiB`;
const keyed = (counts: Record<string, number> | null) =>
  counts === null
    ? '(not reported)'
    : Object.entries(counts)
        .map(([key, value]) => `${key.split('.').slice(1).join('.') || 'total'} ${value}`)
        .join(', ') || '(none)';

function report(results: StreamResult[], goalList: ReturnType<typeof goals>, tookS: number): void {
  console.log(
    `\nselection bench: ${results.length} streams at ${FPS} fps, 640x480, each in its own stack; took ${round1(tookS / 60)} min (${Math.round(tookS)} s)`,
  );
  console.log(
    '\n| stream | window | frames captured | bytes captured | selected | bytes selected | uploaded | bytes uploaded | uploaded/captured bytes | eligible events covered |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results)
    console.log(
      `| ${r.stream} | ${r.seconds} s | ${r.captured.frames} | ${kb(r.captured.bytes)} | ${r.selected.images} | ${kb(r.selected.bytes)} | ${r.uploaded.images} | ${kb(r.uploaded.bytes)} | ${r.uploaded.share} % | ${r.events.covered} of ${r.events.eligible} (${r.events.total} events) |`,
    );
  for (const r of results) {
    console.log(`\n### ${r.stream} (${r.video}, video ${JSON.stringify(r.windowVideoSeconds)})`);
    console.log(`- selected (/stats): ${keyed(r.selected.byReason)}`);
    console.log(`- not selected (/stats): ${keyed(r.notSelected)}`);
    console.log(`- suppressed (/stats): ${keyed(r.suppressed)}`);
    console.log(
      `- uploaded by reason (metadata): ${
        Object.entries(r.uploaded.byReason)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ') || '(none)'
      }`,
    );
    console.log(
      `- labels in the uploads: ${r.labels.uploaded.join(', ') || '(none)'}; detected in the band: ${r.labels.detectedInBand.join(', ') || '(none)'}`,
    );
    if (r.stream === 'demo')
      console.log(
        `- scans: ${r.scans} in ${r.appearances} appearances of the orange; images per scan ${r.scans === 0 ? '-' : Math.round((r.uploaded.images / r.scans) * 100) / 100}`,
      );
    console.log(
      `- frames the bench saw: ${r.frames.seenByBench}, detections ${r.frames.detections}; clock: offset ${r.clock.offset} s, frames agreeing with the schedule ${r.clock.agreement} % (${r.clock.agreementUnfitted} % unfitted)${r.clock.captureRestarts > 0 || r.clock.sinceMoved ? '; CAPTURE RESTARTED: video times are off' : ''}`,
    );
    if (r.outsideWindow.images > 0) console.log(`- outside the window (not counted): ${r.outsideWindow.images} images, ${kb(r.outsideWindow.bytes)}`);
    if (r.outboxLeft > 0) console.log(`- OUTBOX NOT EMPTY after 2 min: ${r.outboxLeft} images`);
    if (r.evictedDuringRun > 0) console.log(`- evicted during the run: ${r.evictedDuringRun}`);
    if (r.hourlyCapRestarted) console.log("- the window crossed a clock hour: sync's hourly cap started again inside it");
    console.log(
      `- alert snapshots: ${r.alertSnapshots.delivered} of ${r.alertSnapshots.raised} delivered (${r.alertSnapshots.asAlert} with reason alert)${r.alertSnapshots.list.map((s) => `; ${s.type} seq ${s.seq} ${s.delivered ? `uploaded as ${s.reason}` : 'NOT uploaded'}`).join('')}`,
    );
    console.log('\n| event | label | video s | frames | detections | in band | best score | eligible | uploads | covered |');
    console.log('|---|---|---|---|---|---|---|---|---|---|');
    for (const e of r.events.list)
      console.log(
        `| ${e.name} | ${e.label} | ${e.from}-${e.to} | ${e.frames} | ${e.detections} | ${e.inBand} | ${e.bestScore ?? '-'} | ${e.eligible ? 'yes' : 'no'} | ${e.uploads} | ${e.covered ? 'yes' : 'no'} |`,
      );
  }
  console.log('\n| goal | figure | result |');
  console.log('|---|---|---|');
  for (const g of goalList) console.log(`| ${g.goal} | ${g.figure} | ${g.met ? 'pass' : 'MISS'} |`);
}

async function main(): Promise<void> {
  const started = Date.now();
  const videoDir = mkdtempSync(join(tmpdir(), 'sightline-bench-selection-videos-'));
  cleanup.after(() => rmSync(videoDir, { recursive: true, force: true }));
  const plans: Plan[] = [];
  for (const name of WANTED as StreamName[]) {
    say(`rendering the ${name} video`);
    const dir = join(videoDir, name);
    mkdirSync(dir);
    if (name === 'demo') {
      const video = await makeItemVideo(dir, DEMO);
      const orange = { ...STILL_ITEM, from: DEMO.emptySeconds, to: DEMO.emptySeconds + DEMO.itemSeconds };
      // Loop boundaries 1 s into the empty counter: the orange left a second ago, and comes back in one.
      plans.push({
        name,
        video,
        period: DEMO.emptySeconds + DEMO.itemSeconds,
        items: [orange],
        window: { loops: Math.ceil(DEMO_SECONDS / (DEMO.emptySeconds + DEMO.itemSeconds)), phase: 1 },
      });
      continue;
    }
    const video =
      name === 'static'
        ? await makeStillVideo(dir, { seconds: STATIC_SECONDS, leadSeconds: LEAD_SECONDS, tailSeconds: TAIL_SECONDS, item: STILL_ITEM })
        : await makeSceneVideo(dir, { leadSeconds: LEAD_SECONDS, tailSeconds: TAIL_SECONDS });
    plans.push({
      name,
      video: video.path,
      period: video.duration,
      items: video.items,
      window: { from: LEAD_SECONDS - MARGIN_SECONDS, to: video.contentEnd + QUIET_AFTER_SECONDS },
    });
  }
  const results: StreamResult[] = [];
  for (const plan of plans) results.push(await runStream(plan));
  const goalList = goals(results);
  const tookS = (Date.now() - started) / 1000;
  const summary = {
    at: new Date(started).toISOString(),
    fps: FPS,
    band: BAND,
    tookSeconds: round1(tookS),
    settings: { staticSeconds: STATIC_SECONDS, demoSeconds: DEMO_SECONDS, streams: WANTED },
    streams: results,
    goals: goalList,
  };
  const out = join(import.meta.dirname, '..', '.artefacts', 'selection-bench.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
  say(`summary written to ${out}`);
  if (args.json) console.log(JSON.stringify(summary, null, 2));
  else report(results, goalList, tookS);
}

main()
  .catch((err: unknown) => {
    say(`selection bench failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  })
  .finally(() => cleanup.run());

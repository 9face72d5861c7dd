/**
 * `pnpm bench:glass-to-ear [-- --rounds 10 --fps 10 --json]`: from the first frame in which an
 * item is visible to the first sound the shopper hears, through the real stack: capture plays a
 * rendered video of an orange (the item appears at a known frame, the video loops so it comes and
 * goes), inference, checkout, tts (offline voice) and the speaker on a private PulseAudio null
 * sink whose monitor is recorded. The bench is the scale (a settled weight waits on it before the
 * item comes into view, so the scale is not on the measured path).
 *
 * - The item frame: each frame on the bus is looked at (the grey counter has no colour; the
 *   orange has); the first item frame after an empty one starts a round, at capture's own stamp
 *   (`capturedAt`). The deciding frame, its detections, the scan and the audio are timed when
 *   this bench's subscriber receives them.
 * - Sound: the first sample above silence on the sink's monitor, timed when the recorder handed
 *   it over (late by at most its 10 ms latency, never early); the chime and the sentence are
 *   each checked against their own audio. The speaker's "Stream started" stamps (/lanes) are
 *   reported beside it as a cross-check.
 * - The floor, from the same run: the time until the SCAN_FRAMES-th item frame was captured,
 *   plus one bare inference (prepareInput + session.run in this process, before and after the
 *   stack runs, on the item frame).
 *
 * Run it on its own: it starts and stops everything itself (free ports, a temp data dir, its
 * own PulseAudio). Not a test: `node --test e2e/*.test.ts` does not pick it up.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connectAsync } from 'mqtt';
import { startPulseServer } from '@sightline/speaker/testing';
import { DEFAULT_THREADS } from '../services/inference/src/config.ts';
import { qscaleFromQuality, videoFilters } from '../services/capture/src/sources.ts';
import { launchStack } from './launch.ts';
import { analyseSighting, type RoundResult, type Stages } from './glass/analyse.ts';
import { measureBareInference, type BareSample } from './glass/bare-inference.ts';
import { createCleanup, killGroup, stopStackOnCleanup } from './glass/cleanup.ts';
import { GlassObserver } from './glass/observer.ts';
import { mean, ms, percentile, round1, summarise, type Summary } from './glass/stats.ts';
import { extractFrame, renderItemVideo } from './glass/video.ts';

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    rounds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    fps: { type: 'string', default: '10' },
    'scan-frames': { type: 'string', default: '3' },
    'bare-samples': { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
    trace: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('pnpm bench:glass-to-ear [-- --rounds 10 --warmup 1 --fps 10 --scan-frames 3 --bare-samples 20 --json --trace]');
  process.exit(0);
}
const ROUNDS = positiveInt('rounds', args.rounds);
const WARMUP = positiveInt('warmup', args.warmup, 0);
const FPS = positiveInt('fps', args.fps);
const SCAN_FRAMES = positiveInt('scan-frames', args['scan-frames']);
const BARE_SAMPLES = positiveInt('bare-samples', args['bare-samples']);
const GOAL_MS = 150;
const CAMERA = 'demo';
const LANE = 'lane-1';
const QUALITY = 75; // capture's default SIGHTLINE_CAPTURE_QUALITY
/** Item in view long enough for a scan even when frames are lost; empty long enough for the sentence to end and the product to clear. */
const ITEM_SECONDS = 2;
const EMPTY_SECONDS = 5.5;

function positiveInt(name: string, text: string, min = 1): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    console.error(`--${name} must be an integer >= ${min}, not ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
}

const say = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (msToWait: number) => new Promise((resolve) => setTimeout(resolve, msToWait));
const cleanup = createCleanup(say);

/** A new weight per round (so a new price and a sentence not said before), within an orange's 120-260 g: 125-254.x g. */
const gramsFor = (index: number) => 125 + ((index * 11) % 130) + 0.1 * Math.floor(index / 12);
/** A weight no round uses (0.26 kilograms), for the start. */
const FLUSH_GRAMS = 258;

async function main(): Promise<void> {
  const load = { before: loadavg()[0]!, after: NaN };
  const dataDir = mkdtempSync(join(tmpdir(), 'sightline-bench-glass-'));
  cleanup.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const inferenceDir = join(dataDir, 'inference');

  say(`rendering the video (${FPS} fps, ${EMPTY_SECONDS} s empty, ${ITEM_SECONDS} s with the item)`);
  const video = await renderItemVideo(dataDir, { fps: FPS, emptySeconds: EMPTY_SECONDS, itemSeconds: ITEM_SECONDS });
  const filters = videoFilters({ fps: FPS, width: 640, height: 480, qscale: qscaleFromQuality(QUALITY), motion: null });
  const itemJpeg = readFileSync(await extractFrame(video, video.emptyFrames, filters, qscaleFromQuality(QUALITY), join(dataDir, 'item-frame.jpg')));

  // The floor's inference, before the stack (this also converts the default model into the
  // service's data dir, so the service starts with it ready).
  say(`bare inference before the stack (${BARE_SAMPLES} samples, ${DEFAULT_THREADS} threads; converts the model on first use)`);
  const bareBefore = await measureBareInference(itemJpeg, { dataDir: inferenceDir, threads: DEFAULT_THREADS, samples: BARE_SAMPLES });

  const pulse = await startPulseServer(cleanup, { sampleRate: 22050 });
  const recording = await pulse.record();

  // Whatever happens, the stack and every service it started go.
  let stackPid: number | null = null;
  stopStackOnCleanup(cleanup, dataDir, () => stackPid);
  say('starting the stack: broker, capture, inference, checkout, tts, speaker');
  const stack = await launchStack(dataDir, {
    SIGHTLINE_LOG_LEVEL: 'warn',
    SIGHTLINE_STACK_SERVICES: 'broker,capture,inference,checkout,tts,speaker',
    SIGHTLINE_CAPTURE_SOURCE: video.path,
    SIGHTLINE_CAPTURE_FPS: String(FPS),
    SIGHTLINE_CHECKOUT_SCAN_FRAMES: String(SCAN_FRAMES),
    // The bench is the scale.
    SIGHTLINE_CHECKOUT_SCALE_SIMULATOR: 'false',
    SIGHTLINE_SPEAKER_OUTPUT: 'pulse',
    SIGHTLINE_SPEAKER_PULSE_SERVER: pulse.server,
    SIGHTLINE_SPEAKER_PULSE_DEVICE: pulse.sink,
  });
  stackPid = stack.pid;
  const url = `mqtt://127.0.0.1:${stack.mqttPort}`;
  const bus = await connectAsync(url, { protocolVersion: 4 });
  cleanup.after(() => bus.endAsync(true));
  const scale = await connectAsync(url, { protocolVersion: 4, ...stack.login('operator') });
  cleanup.after(() => scale.endAsync(true));
  const observer = new GlassObserver({
    bus,
    scale,
    camera: CAMERA,
    lane: LANE,
    video,
    gramsFor,
    flushGrams: FLUSH_GRAMS,
    weighLeadMs: 1000,
    speakerUrl: `http://127.0.0.1:${stack.httpPorts.SIGHTLINE_SPEAKER_HTTP_PORT}`,
    trace: args.trace ? say : null,
  });
  cleanup.after(() => observer.stop());
  await observer.start();

  // Rounds: the first loop has no planned weight and does not count; then WARMUP, then ROUNDS.
  const wanted = 1 + WARMUP + ROUNDS;
  const deadline = Date.now() + (wanted + 4) * video.periodMs + 60_000;
  let reported = 0;
  for (;;) {
    const done = observer.sightings.filter((s) => observer.finished(s));
    while (reported < done.length) {
      const s = done[reported++]!;
      const scan = observer.scanOf(s);
      const what = s.index === 0 ? 'unplanned, not counted' : s.index <= WARMUP ? 'warm-up' : `round ${s.index - WARMUP}/${ROUNDS}`;
      say(
        `sighting ${s.index + 1}/${wanted} (${what}): ${scan ? `scanned on item frame ${scan.value.seq - s.first.seq + 1}, ${(scan.receivedAt - s.first.capturedAt).toFixed(0)} ms after it appeared` : 'no scan'}`,
      );
    }
    if (done.length >= wanted) break;
    if (Date.now() > deadline) throw new Error(`only ${done.length} of ${wanted} sightings finished in time; stack output:\n${stack.output().slice(-4000)}`);
    await sleep(200);
  }
  await sleep(300);
  observer.stop();

  say('stopping the stack');
  process.kill(stack.pid, 'SIGINT');
  const stopped = await Promise.race([stack.exited.then(() => true), sleep(15_000).then(() => false)]);
  if (!stopped) killGroup(stack.pid, dataDir);
  stackPid = null;
  await recording.stop();

  // The floor's inference again, on the very first item frame capture published.
  const firstCounted = observer.sightings[1] ?? observer.sightings[0]!;
  say('bare inference after the stack, on the item frame capture published');
  const bareAfter = await measureBareInference(firstCounted.firstJpeg, { dataDir: inferenceDir, threads: DEFAULT_THREADS, samples: BARE_SAMPLES });
  load.after = loadavg()[0]!;

  const samples = recording.samples();
  const results: RoundResult[] = observer.sightings
    .slice(1, wanted)
    .map((sighting, i) => analyseSighting(sighting, observer, recording, samples, { scanFrames: SCAN_FRAMES, fps: FPS, warmup: i < WARMUP }));

  report({ results, bare: [...bareBefore, ...bareAfter], bareBefore, bareAfter, load, problems: observer.problems, stackOutput: stack.output() });
}

interface Report {
  results: RoundResult[];
  bare: BareSample[];
  bareBefore: BareSample[];
  bareAfter: BareSample[];
  load: { before: number; after: number };
  problems: string[];
  stackOutput: string;
}

const STAGE_ROWS: Array<{ key: keyof Stages; name: string; earcon: boolean; sentence: boolean }> = [
  { key: 'captureWait', name: `item visible -> item frame no. ${SCAN_FRAMES} captured (capture pacing)`, earcon: true, sentence: true },
  { key: 'extraFrames', name: '-> the frame that decided the scan captured (frames beyond SCAN_FRAMES)', earcon: true, sentence: true },
  { key: 'framePublished', name: 'capture -> frame published (deciding frame)', earcon: true, sentence: true },
  { key: 'inference', name: 'frame -> detections (inference)', earcon: true, sentence: true },
  { key: 'checkout', name: 'detections -> scan decided (checkout)', earcon: true, sentence: true },
  { key: 'earcon', name: 'scan -> earcon sound (speaker)', earcon: true, sentence: false },
  { key: 'tts', name: 'scan -> speech audio published (tts)', earcon: false, sentence: true },
  { key: 'sentence', name: 'audio -> sentence sound (speaker)', earcon: false, sentence: true },
];

function report({ results, bare, bareBefore, bareAfter, load, problems, stackOutput }: Report): void {
  const counted = results.filter((r) => !r.warmup && r.excluded === null);
  const excluded = results.filter((r) => !r.warmup && r.excluded !== null);
  const pick = (f: (r: RoundResult) => number | null | undefined) =>
    counted.map(f).filter((v): v is number => v !== null && v !== undefined && Number.isFinite(v));
  const earconE2e = summarise(pick((r) => r.glassToEarcon));
  const sentenceE2e = summarise(pick((r) => r.glassToSentence));
  const stages = Object.fromEntries(STAGE_ROWS.map((row) => [row.key, summarise(pick((r) => r.stages[row.key]))])) as Record<keyof Stages, Summary>;
  const floorCapture = summarise(pick((r) => r.floorCapture));
  const bareTotal = summarise(bare.map((b) => b.totalMs));
  const floor = { p50: round1(floorCapture.p50 + bareTotal.p50), p95: round1(floorCapture.p95 + bareTotal.p95) };
  const goal = (e2e: Summary) => ({ p95: e2e.p95, floorP95: floor.p95, differenceMs: round1(e2e.p95 - floor.p95), met: e2e.p95 - floor.p95 <= GOAL_MS });
  const goals = { earcon: goal(earconE2e), sentence: goal(sentenceE2e) };
  const stampEarcon = summarise(pick((r) => r.stampMinusHeard.earcon));
  const stampSentence = summarise(pick((r) => r.stampMinusHeard.sentence));
  const earconEndToSentence = summarise(pick((r) => r.earconEndToSentence));
  const earconToSentence = summarise(pick((r) => r.glassToSentence - r.glassToEarcon));
  const serviceTotal = summarise(pick((r) => r.service?.totalMs));
  const serviceRun = summarise(pick((r) => r.service?.inferenceMs));
  const synth = summarise(pick((r) => r.speech?.synthMs));
  const cachedRounds = counted.filter((r) => r.speech?.cached).length;
  const config = {
    rounds: ROUNDS,
    warmup: WARMUP,
    fps: FPS,
    scanFrames: SCAN_FRAMES,
    goalMs: GOAL_MS,
    video: { emptySeconds: EMPTY_SECONDS, itemSeconds: ITEM_SECONDS },
    inferenceThreads: DEFAULT_THREADS,
    sink: 'PulseAudio null sink, 22050 Hz mono; speaker default 60 ms buffer',
  };
  const machine = { cores: availableParallelism(), loadavg1Before: round1(load.before), loadavg1After: round1(load.after) };

  const share = (key: keyof Stages, of: 'earcon' | 'sentence') => {
    const row = STAGE_ROWS.find((r) => r.key === key)!;
    if (!row[of]) return '';
    const total = mean(pick((r) => (of === 'earcon' ? r.glassToEarcon : r.glassToSentence)));
    const value = Math.round((stages[key].mean / total) * 100);
    return Number.isFinite(value) ? `${value} %` : '-';
  };
  const lines: string[] = [];
  lines.push('');
  lines.push(
    `Glass to ear: a ${FPS} fps video of an orange through capture, inference, checkout (SCAN_FRAMES=${SCAN_FRAMES}), tts (offline voice) and the speaker on a PulseAudio null sink. ${counted.length} rounds counted (+${WARMUP} warm-up${excluded.length > 0 ? `, ${excluded.length} excluded` : ''}).`,
  );
  lines.push('');
  lines.push('| stage | p50 ms | p95 ms | share of earcon | share of sentence |');
  lines.push('|---|---|---|---|---|');
  for (const row of STAGE_ROWS)
    lines.push(`| ${row.name} | ${ms(stages[row.key].p50)} | ${ms(stages[row.key].p95)} | ${share(row.key, 'earcon')} | ${share(row.key, 'sentence')} |`);
  lines.push(`| **glass to earcon** (first sound) | **${ms(earconE2e.p50)}** | **${ms(earconE2e.p95)}** | 100 % | |`);
  lines.push(`| **glass to sentence** (first sound of the speech) | **${ms(sentenceE2e.p50)}** | **${ms(sentenceE2e.p95)}** | | 100 % |`);
  lines.push('');
  lines.push('Shares are of the mean; the stages of a round add up to its end points.');
  lines.push('');
  lines.push('| floor (same run) | n | p50 ms | p95 ms |');
  lines.push('|---|---|---|---|');
  lines.push(`| item visible -> item frame no. ${SCAN_FRAMES} captured | ${floorCapture.n} | ${ms(floorCapture.p50)} | ${ms(floorCapture.p95)} |`);
  lines.push(
    `| bare inference: prepareInput + session.run, ${DEFAULT_THREADS} threads (before / after the stack: p50 ${ms(
      percentile(
        bareBefore.map((b) => b.totalMs),
        50,
      ),
    )} / ${ms(
      percentile(
        bareAfter.map((b) => b.totalMs),
        50,
      ),
    )}) | ${bareTotal.n} | ${ms(bareTotal.p50)} | ${ms(bareTotal.p95)} |`,
  );
  lines.push(`| **floor** (sum) | | **${ms(floor.p50)}** | **${ms(floor.p95)}** |`);
  lines.push('');
  lines.push(`| end point | p95 ms | floor p95 ms | difference | goal: at most ${GOAL_MS} ms above the floor |`);
  lines.push('|---|---|---|---|---|');
  for (const [name, g] of Object.entries(goals))
    lines.push(
      `| ${name} | ${ms(g.p95)} | ${ms(g.floorP95)} | ${ms(g.differenceMs)} | ${!Number.isFinite(g.differenceMs) ? 'no data' : g.met ? 'met' : '**NOT met**'} |`,
    );
  lines.push('');
  lines.push(`- p50 above the floor: earcon ${ms(earconE2e.p50 - floor.p50)} ms, sentence ${ms(sentenceE2e.p50 - floor.p50)} ms.`);
  const framesNote = (r: RoundResult) =>
    `${r.framesToScan}${r.itemFramesDropped.length > 0 ? ` (dropped by inference: ${r.itemFramesDropped.join(' ')})` : ''}${r.itemFramesMissed.length > 0 ? ` (no product found in: ${r.itemFramesMissed.join(' ')})` : ''}`;
  lines.push(
    `- Item frames up to the one that decided the scan, per round: ${counted.map(framesNote).join(', ')} (SCAN_FRAMES=${SCAN_FRAMES}; a frame inference dropped under load, latest wins, or found nothing in, costs a frame interval).`,
  );
  lines.push(
    `- Inference service's own time for the deciding frame (decode to outputs): p50 ${ms(serviceTotal.p50)} ms, p95 ${ms(serviceTotal.p95)} ms, of which session.run p50 ${ms(serviceRun.p50)} ms; the rest of the inference stage is waiting for the run in progress and MQTT.`,
  );
  lines.push(`- tts: synthesis p50 ${ms(synth.p50)} ms, p95 ${ms(synth.p95)} ms; ${cachedRounds}/${counted.length} sentences came from the cache.`);
  lines.push(
    `- The sentence follows the earcon: first sound of the sentence minus first sound of the earcon p50 ${ms(earconToSentence.p50)} ms, p95 ${ms(earconToSentence.p95)} ms (the chime is 70 ms; a sentence ready before it ends follows it without a pause); from the earcon's end (speaker's stamp) to the sentence heard p50 ${ms(earconEndToSentence.p50)} ms, p95 ${ms(earconEndToSentence.p95)} ms.`,
  );
  lines.push(
    `- Cross-check: the speaker's "Stream started" stamp minus the sound heard on the monitor: earcon p50 ${ms(stampEarcon.p50)} ms (${ms(stampEarcon.min)}..${ms(stampEarcon.max)}), sentence p50 ${ms(stampSentence.p50)} ms (${ms(stampSentence.min)}..${ms(stampSentence.max)}). Sound is timed by the recorder's hand-over (late by at most ~10 ms, never early).`,
  );
  lines.push(
    `- Machine: ${machine.cores} cores, 1-min load average ${machine.loadavg1Before} before and ${machine.loadavg1After} after (shared machine: compare with the floor of the same run).`,
  );
  for (const r of excluded) lines.push(`- Round ${r.index} excluded: ${r.excluded}.`);
  for (const problem of problems.slice(0, 5)) lines.push(`- Problem: ${problem}`);
  if (counted.length < ROUNDS)
    lines.push(`- Only ${counted.length} of ${ROUNDS} rounds counted. Stack output (end):\n\n\`\`\`\n${stackOutput.slice(-3000)}\n\`\`\``);
  if (args.json) {
    // JSON on stdout; the table goes to stderr for whoever watches.
    say(lines.join('\n'));
    console.log(
      JSON.stringify(
        {
          bench: 'glass-to-ear',
          at: new Date().toISOString(),
          config,
          machine,
          counted: counted.length,
          excluded: excluded.map((r) => ({ index: r.index, why: r.excluded })),
          endToEnd: { earcon: earconE2e, sentence: sentenceE2e },
          stages,
          floor: {
            capture: floorCapture,
            bareInference: bareTotal,
            bareBefore: summarise(bareBefore.map((b) => b.totalMs)),
            bareAfter: summarise(bareAfter.map((b) => b.totalMs)),
            prepare: summarise(bare.map((b) => b.prepareMs)),
            run: summarise(bare.map((b) => b.runMs)),
            ...floor,
          },
          goals,
          crossCheck: { speakerStampMinusHeard: { earcon: stampEarcon, sentence: stampSentence }, earconEndToSentence },
          earconToSentence,
          inferenceService: { totalMs: serviceTotal, runMs: serviceRun },
          tts: { synthMs: synth, cachedRounds },
          framesToScan: counted.map((r) => ({ frames: r.framesToScan, dropped: r.itemFramesDropped, missed: r.itemFramesMissed })),
          rounds: results,
          problems,
        },
        null,
        2,
      ),
    );
    return;
  }
  console.log(lines.join('\n'));
}

try {
  await main();
} catch (err) {
  say(`glass-to-ear failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
} finally {
  await cleanup.run();
}

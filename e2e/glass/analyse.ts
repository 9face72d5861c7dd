import type { Recording } from '@sightline/speaker/testing';
import { renderNotes, SCAN_CHIME } from '../../services/speaker/src/earcons.ts';
import type { GlassObserver, Sighting } from './observer.ts';
import { bestOffset } from '../hearing.ts';
import { firstSound, pcmSamples, silent } from './sound.ts';

/** The stages of one round, ms; each ends where the next begins, so they add up to the end points. */
export interface Stages {
  /** First item frame captured -> the SCAN_FRAMES-th item frame captured: capture pacing (the floor's part). */
  captureWait: number;
  /** -> the frame that decided the scan captured: frames beyond SCAN_FRAMES (a frame inference dropped, or missed the item in). */
  extraFrames: number;
  /** Deciding frame: capture's stamp -> on the bus (this bench's subscriber). */
  framePublished: number;
  /** Deciding frame on the bus -> its detections on the bus (inference). */
  inference: number;
  /** Detections on the bus -> the scan on the bus (checkout). */
  checkout: number;
  /** Scan on the bus -> first sound of the earcon on the sink (speaker). */
  earcon: number;
  /** Scan on the bus -> the sentence's audio on the bus (tts). */
  tts: number;
  /** Audio on the bus -> first sound of the sentence on the sink (speaker; the sentence waits for the earcon to end). */
  sentence: number;
}

export interface RoundResult {
  index: number;
  warmup: boolean;
  /** Why the round does not count, when it does not. */
  excluded: string | null;
  t0: number;
  grams: number;
  /** Frames from the first item frame to the deciding one, both counted. */
  framesToScan: number;
  /** Item frames before the deciding one (1 = the first) that inference dropped (no detections: latest wins)... */
  itemFramesDropped: number[];
  /** ...or in which it did not find the product. */
  itemFramesMissed: number[];
  stages: Stages;
  glassToEarcon: number;
  glassToSentence: number;
  /** Floor of this round without the inference: the SCAN_FRAMES-th item frame's capture time minus t0. */
  floorCapture: number;
  /** The inference service's own timings for the deciding frame. */
  service: { totalMs: number; inferenceMs: number } | null;
  speech: { cached: boolean; synthMs: number; durationMs: number } | null;
  /** Speaker "Stream started" stamp minus the sound heard on the monitor (positive: the stamp is later). */
  stampMinusHeard: { earcon: number | null; sentence: number | null };
  /** Speaker's earcon end -> sentence heard on the sink. */
  earconEndToSentence: number | null;
  /** How well the chime's and the sentence's own audio matched the recording where their onsets were found (1 = exact). */
  earconMatch: number;
  sentenceMatch: number;
}

const EMPTY_STAGES: Stages = { captureWait: NaN, extraFrames: NaN, framePublished: NaN, inference: NaN, checkout: NaN, earcon: NaN, tts: NaN, sentence: NaN };

/**
 * Reads one sighting's story from what the observer saw and what the sink's monitor recorded.
 * Sound is timed when the recorder handed over the chunk holding its first sample
 * (`Recording.arrivedAt`): late by at most the recorder's 10 ms latency, never early.
 */
export function analyseSighting(
  sighting: Sighting,
  observer: GlassObserver,
  recording: Recording,
  samples: Int16Array,
  options: { scanFrames: number; fps: number; warmup: boolean },
): RoundResult {
  const t0 = sighting.first.capturedAt;
  const rate = recording.sampleRate;
  const base: RoundResult = {
    index: sighting.index,
    warmup: options.warmup,
    excluded: null,
    t0,
    grams: sighting.grams,
    framesToScan: NaN,
    itemFramesDropped: [],
    itemFramesMissed: [],
    stages: { ...EMPTY_STAGES },
    glassToEarcon: NaN,
    glassToSentence: NaN,
    floorCapture: NaN,
    service: null,
    speech: null,
    stampMinusHeard: { earcon: null, sentence: null },
    earconEndToSentence: null,
    earconMatch: 0,
    sentenceMatch: 0,
  };
  const exclude = (why: string): RoundResult => ({ ...base, excluded: why });

  const floorFrame = observer.frames.get(sighting.first.seq + options.scanFrames - 1);
  if (!floorFrame) return exclude(`frame ${sighting.first.seq + options.scanFrames - 1} never reached this bench`);
  base.floorCapture = floorFrame.capturedAt - t0;
  if (sighting.weighedAt === null || sighting.weighedAt > t0) return exclude('the weight was put on the scale after the item appeared (the first loop)');
  const scan = observer.scanOf(sighting);
  if (!scan) return exclude('no scan while the item was in view');
  const deciding = observer.frames.get(scan.value.seq);
  const detections = observer.detections.get(scan.value.seq);
  const audio = observer.audios.get(scan.value.id);
  if (!deciding || !detections) return exclude(`the deciding frame ${scan.value.seq} or its detections never reached this bench`);
  if (!audio) return exclude('no audio for the scan');
  base.framesToScan = scan.value.seq - sighting.first.seq + 1;
  for (let seq = sighting.first.seq; seq < scan.value.seq; seq++) {
    const seen = observer.detections.get(seq);
    if (!seen) base.itemFramesDropped.push(seq - sighting.first.seq + 1);
    else if (!seen.value.objects.some((o) => o.label === scan.value.product.label)) base.itemFramesMissed.push(seq - sighting.first.seq + 1);
  }
  base.service = { totalMs: detections.value.timings.totalMs, inferenceMs: detections.value.timings.inferenceMs };
  base.speech = { cached: audio.value.meta.cached, synthMs: audio.value.meta.synthMs, durationMs: audio.value.meta.durationMs };

  // The earcon: the first sound after the item appeared, on a sink that was quiet for a second before.
  const from = recording.indexArrivedBy(t0);
  if (!silent(samples, from - rate, from)) return exclude('the sink was not quiet in the second before the item appeared');
  const earconAt = firstSound(samples, from);
  if (earconAt < 0) return exclude('no sound on the sink');
  const chime = pcmSamples(renderNotes(SCAN_CHIME, rate));
  const chimeStart = firstSound(chime, 0);
  base.earconMatch = round3(
    bestOffset(samples, chime.subarray(chimeStart, chimeStart + Math.round(rate * 0.05)), earconAt - Math.round(rate * 0.02), earconAt + 10).score,
  );
  // The sentence: where its own audio (100 ms from its first sound) is found after the chime's
  // start, within 3 s. It follows the chime without a pause when it is ready in time, so it is
  // found by what it sounds like rather than by the silence before it.
  const clip = pcmSamples(audio.value.pcm.samples);
  const clipStart = firstSound(clip, 0);
  const piece = clip.subarray(clipStart, clipStart + Math.round(rate * 0.1));
  const match = bestOffset(samples, piece, earconAt + Math.round(rate * 0.03), earconAt + rate * 3);
  if (match.offset < 0) return exclude('no sentence on the sink after the earcon');
  const sentenceAt = match.offset;
  base.sentenceMatch = round3(match.score);
  const earconHeard = recording.arrivedAt(earconAt);
  const sentenceHeard = recording.arrivedAt(sentenceAt);

  const earconStamp = observer.stamps.get(`earcon:${scan.value.id}`);
  const speechStamp = observer.stamps.get(`speech:${scan.value.id}`);
  base.stampMinusHeard = {
    earcon: earconStamp ? earconStamp.startedAt - earconHeard : null,
    sentence: speechStamp ? speechStamp.startedAt - sentenceHeard : null,
  };
  base.earconEndToSentence = earconStamp?.endedAt != null ? sentenceHeard - earconStamp.endedAt : null;

  base.stages = {
    captureWait: floorFrame.capturedAt - t0,
    extraFrames: scan.value.capturedAt - floorFrame.capturedAt,
    framePublished: deciding.receivedAt - scan.value.capturedAt,
    inference: detections.receivedAt - deciding.receivedAt,
    checkout: scan.receivedAt - detections.receivedAt,
    earcon: earconHeard - scan.receivedAt,
    tts: audio.receivedAt - scan.receivedAt,
    sentence: sentenceHeard - audio.receivedAt,
  };
  base.glassToEarcon = earconHeard - t0;
  base.glassToSentence = sentenceHeard - t0;
  if (base.earconMatch < 0.9) return { ...base, excluded: `the first sound after the item appeared is not the scan chime (match ${base.earconMatch})` };
  if (match.score < 0.9) return { ...base, excluded: `the sound found after the earcon is not the sentence (match ${match.score.toFixed(2)})` };
  if (earconStamp && speechStamp && speechStamp.startedAt < earconStamp.startedAt) return { ...base, excluded: 'the sentence played before the earcon' };
  return base;
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

import type { MqttClient } from 'mqtt';
import { channels, createTopics, type Audio, type Detections, type Scan } from '@sightline/schemas';
import { showsItem, type ItemVideo } from './video.ts';

const topics = createTopics();

export interface FrameSeen {
  seq: number;
  /** capture's stamp: when the JPEG came out of ffmpeg. */
  capturedAt: number;
  /** When this bench's subscriber got it off the bus. */
  receivedAt: number;
  item: boolean;
}

/** One appearance of the item: from the first frame showing it to the first frame without it. */
export interface Sighting {
  index: number;
  first: FrameSeen;
  /** The first item frame's JPEG, as published (for the bare inference after the run). */
  firstJpeg: Buffer;
  last: FrameSeen;
  /** The first empty frame after it, once seen. */
  endedBy: FrameSeen | null;
  /** Grams put on the scale for it. */
  grams: number;
  /** When the bench put them there (epoch ms); later than `first.capturedAt` for an unplanned sighting. */
  weighedAt: number | null;
}

export interface Received<T> {
  receivedAt: number;
  value: T;
}

/** A clip as the speaker reports it on /lanes: "Stream started" (pacat's hand-over) to the end. */
export interface SpeakerStamp {
  kind: string;
  sourceId: string;
  startedAt: number;
  endedAt: number | null;
}

export interface ObserverOptions {
  /** Subscriber (anonymous, read-only) and scale (the operator account). */
  bus: MqttClient;
  scale: MqttClient;
  camera: string;
  lane: string;
  video: ItemVideo;
  /** The weight placed for sighting `index` (a new weight, so a new price and a new sentence). */
  gramsFor: (index: number) => number;
  /** Weighed once at the start, to charge a scan made before the bench was watching (a weight no round uses). */
  flushGrams: number;
  /** The weight goes on the scale this long before the item is due in view. */
  weighLeadMs: number;
  speakerUrl: string;
  /** Prints what happens (transitions, weights, detections in view, scans, lane events). */
  trace: ((line: string) => void) | null;
}

type LaneReport = {
  lane: string;
  playing: { kind: string; sourceId: string; startedAt: number | null } | null;
  lastPlayed: { kind: string; sourceId: string; startedAt: number; endedAt: number } | null;
};

/**
 * Watches the whole story on the bus and on the speaker, and plays the scale. Frames are
 * classified (item in view or not) in arrival order; when the item leaves, the scale is emptied,
 * and the next item's weight is put on it `weighLeadMs` before the loop brings the item back, so
 * a settled weight is waiting when the scan is decided and the scale is not on the measured path.
 */
export class GlassObserver {
  readonly frames = new Map<number, FrameSeen>();
  readonly detections = new Map<number, Received<Detections>>();
  readonly scans: Array<Received<Scan>> = [];
  /** By the scan id they speak about. */
  readonly audios = new Map<string, Received<Audio>>();
  /** By `${kind}:${sourceId}`. */
  readonly stamps = new Map<string, SpeakerStamp>();
  readonly sightings: Sighting[] = [];
  readonly problems: string[] = [];
  readonly #o: ObserverOptions;
  #previous: FrameSeen | null = null;
  #chain: Promise<void> = Promise.resolve();
  #weighTimer: NodeJS.Timeout | null = null;
  #pollTimer: NodeJS.Timeout | null = null;
  #polling = false;
  /** Grams placed ahead for the next sighting, or null. */
  #placed: { grams: number; at: number } | null = null;
  #stopped = false;

  constructor(options: ObserverOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    const { bus, camera, lane } = this.#o;
    bus.on('message', (topic, payload) => {
      const receivedAt = Date.now();
      if (this.#stopped) return;
      try {
        this.#message(topic, payload, receivedAt);
      } catch (err) {
        this.problems.push(`bad message on ${topic}: ${(err as Error).message}`);
      }
    });
    await bus.subscribeAsync(
      [
        topics.topic(channels.frame, { camera }),
        topics.topic(channels.detections, { camera }),
        topics.topic(channels.scan, { lane }),
        topics.topic(channels.audio, { lane }),
        ...(this.#o.trace ? [topics.topic(channels.laneEvent, { lane })] : []),
      ],
      { qos: 1 },
    );
    // The item may have been scanned before this bench was here, its weight still awaited: a
    // weight now charges it, so no stale scan takes the first planned weight; then the scale is emptied.
    await this.#weigh(this.#o.flushGrams);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await this.#weigh(0);
    this.#pollTimer = setInterval(() => this.#pollSpeaker(), 200);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#weighTimer) clearTimeout(this.#weighTimer);
    if (this.#pollTimer) clearInterval(this.#pollTimer);
  }

  #message(topic: string, payload: Buffer, receivedAt: number): void {
    if (topics.match(channels.frame, topic)) {
      const frame = channels.frame.codec.decode(payload);
      // Classified in arrival order: a sighting begins with the first item frame after an empty one.
      this.#chain = this.#chain
        .then(async () => this.#onFrame({ seq: frame.meta.seq, capturedAt: frame.meta.capturedAt, receivedAt, item: await showsItem(frame.jpeg) }, frame.jpeg))
        .catch((err: unknown) => {
          this.problems.push(`frame ${frame.meta.seq}: ${(err as Error).message}`);
        });
    } else if (topics.match(channels.detections, topic)) {
      const detections = channels.detections.codec.decode(payload);
      this.detections.set(detections.seq, { receivedAt, value: detections });
      if (detections.objects.length > 0)
        this.#trace(`detections ${detections.seq}: ${detections.objects.map((o) => `${o.label} ${o.score.toFixed(2)}`).join(', ')}`);
    } else if (topics.match(channels.scan, topic)) {
      const scan = channels.scan.codec.decode(payload);
      this.scans.push({ receivedAt, value: scan });
      this.#trace(`scan ${scan.id} of frame ${scan.seq}: ${scan.product.sku} ${scan.weightGrams} g`);
    } else if (topics.match(channels.audio, topic)) {
      const audio = channels.audio.codec.decode(payload);
      if (audio.meta.source.kind === 'scan') this.audios.set(audio.meta.source.id, { receivedAt, value: audio });
      this.#trace(`audio for ${audio.meta.source.kind} ${audio.meta.source.id}: "${audio.meta.text}"`);
    } else if (topics.match(channels.laneEvent, topic)) {
      this.#trace(`lane event: ${payload.toString().slice(0, 300)}`);
    }
  }

  async #onFrame(frame: FrameSeen, jpeg: Buffer): Promise<void> {
    this.frames.set(frame.seq, frame);
    const previous = this.#previous;
    if (previous === null || previous.item !== frame.item) this.#trace(`frame ${frame.seq}: ${frame.item ? 'item in view' : 'empty'}`);
    this.#previous = frame;
    const current = this.sightings.at(-1);
    if (frame.item && previous !== null && !previous.item) {
      // A new sighting; only one whose start was seen (an empty frame just before) counts.
      const index = this.sightings.length;
      const placed = this.#placed;
      this.#placed = null;
      const sighting: Sighting = {
        index,
        first: frame,
        firstJpeg: jpeg,
        last: frame,
        endedBy: null,
        grams: placed?.grams ?? this.#o.gramsFor(index),
        weighedAt: placed?.at ?? null,
      };
      this.sightings.push(sighting);
      if (placed === null) {
        // Not planned (the first loop): weigh now, which is before the scan can be decided.
        sighting.weighedAt = Date.now();
        await this.#weigh(sighting.grams);
      }
    } else if (frame.item && current && current.endedBy === null && previous?.item) {
      current.last = frame;
    } else if (!frame.item && previous?.item && current && current.endedBy === null) {
      current.endedBy = frame;
      await this.#weigh(0);
      // The loop brings the item back `emptyFrames` frames after this first empty one.
      const dueAt = frame.capturedAt + (this.#o.video.emptyFrames * 1000) / this.#o.video.fps;
      const grams = this.#o.gramsFor(this.sightings.length);
      if (this.#weighTimer) clearTimeout(this.#weighTimer);
      this.#weighTimer = setTimeout(
        () => {
          this.#weighTimer = null;
          if (this.#stopped) return;
          this.#placed = { grams, at: Date.now() };
          this.#weigh(grams).catch((err: unknown) => this.problems.push(`weight not published: ${(err as Error).message}`));
        },
        Math.max(0, dueAt - this.#o.weighLeadMs - Date.now()),
      );
    }
  }

  #trace(line: string): void {
    this.#o.trace?.(`${new Date().toISOString().slice(11, 23)} ${line}`);
  }

  async #weigh(grams: number): Promise<void> {
    this.#trace(`scale: ${grams} g`);
    const topic = topics.topic(channels.weight, { lane: this.#o.lane });
    await this.#o.scale.publishAsync(topic, channels.weight.codec.encode({ grams, stable: true }), { qos: 0 });
  }

  #pollSpeaker(): void {
    if (this.#polling || this.#stopped) return;
    this.#polling = true;
    fetch(`${this.#o.speakerUrl}/lanes`, { signal: AbortSignal.timeout(2000) })
      .then(async (response) => {
        const report = (await response.json()) as { lanes: LaneReport[] };
        const lane = report.lanes.find((l) => l.lane === this.#o.lane);
        if (!lane) return;
        if (lane.playing && lane.playing.startedAt !== null) this.#stamp({ ...lane.playing, startedAt: lane.playing.startedAt, endedAt: null });
        if (lane.lastPlayed) this.#stamp(lane.lastPlayed);
      })
      .catch(() => {
        // the speaker is restarting or busy: the next poll asks again
      })
      .finally(() => {
        this.#polling = false;
      });
  }

  #stamp(played: SpeakerStamp): void {
    const key = `${played.kind}:${played.sourceId}`;
    const known = this.stamps.get(key);
    if (!known || (known.endedAt === null && played.endedAt !== null))
      this.stamps.set(key, { kind: played.kind, sourceId: played.sourceId, startedAt: played.startedAt, endedAt: played.endedAt });
  }

  /** The scan decided during this sighting (the first one captured in it). */
  scanOf(sighting: Sighting): Received<Scan> | undefined {
    const until = sighting.endedBy?.capturedAt ?? Infinity;
    return this.scans.find((s) => s.value.capturedAt >= sighting.first.capturedAt && s.value.capturedAt < until);
  }

  /**
   * Whether the sighting's story is over: its sentence played to the end, or it has no scan and
   * the item left, or a loop's time has passed (what is missing then never comes).
   */
  finished(sighting: Sighting): boolean {
    if (Date.now() - sighting.first.receivedAt > this.#o.video.periodMs + 2000) return true;
    const scan = this.scanOf(sighting);
    if (!scan) return sighting.endedBy !== null && Date.now() - sighting.endedBy.receivedAt > 3000;
    return this.stamps.get(`speech:${scan.value.id}`)?.endedAt != null;
  }
}

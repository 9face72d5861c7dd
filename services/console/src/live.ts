import type { Registry } from 'prom-client';
import { Counter } from 'prom-client';
import { BoundedMap, type Logger } from '@sightline/kit';
import {
  buildWav,
  channels,
  type Alert,
  type Availability,
  type Basket,
  type Bus,
  type CameraStatus,
  type ControlResult,
  type Detections,
  type Frame,
  type LaneEvent,
  type ModelState,
  type ProductState,
} from '@sightline/schemas';

/** Frames kept per camera: the pairing window for detections (inference takes 50-200 ms) and alert snapshots a few seconds old. */
export const RECENT_FRAMES = 50;
export const MAX_CAMERAS = 64;
export const MAX_LANES = 64;
/** Alert snapshots kept for the alerts page (they come from the recent frames as the alert arrives). */
export const MAX_SNAPSHOT_BYTES = 32 * 1024 * 1024;
/** Without detections for this long, a camera's frames are shown bare (inference is down or behind), marked so. */
export const BARE_AFTER_MS = 2000;
/** A viewer whose socket holds more than this is sent no frame until it drains: latest wins, latency does not grow. */
export const MAX_VIEWER_BUFFER = 512 * 1024;

/** What the browser is told about one frame, ahead of its JPEG in the same message. */
export interface FrameHeader {
  camera: string;
  seq: number;
  capturedAt: number;
  width: number | null;
  height: number | null;
  /** The detections of this very frame, or null when it is shown without (no detections lately). */
  objects: Detections['objects'] | null;
  model: string | null;
  inferenceMs: number | null;
  /** When the console got the frame's last part (frame or detections), epoch ms. */
  sentAt: number;
}

export interface Said {
  lane: string;
  id: string;
  text: string;
  locale: string;
  at: number;
  kind: string;
}

export type LiveMessage =
  | { type: 'camera'; status: CameraStatus }
  | { type: 'service'; service: string; availability: Availability }
  | { type: 'basket'; basket: Basket }
  | { type: 'said'; said: Said }
  | { type: 'lane-event'; event: LaneEvent }
  | { type: 'control-result'; result: ControlResult }
  | { type: 'alert'; change: 'new' | 'update' | 'end'; alert: Alert }
  | { type: 'model'; state: ModelState }
  | { type: 'products'; state: ProductState };

/** One browser watching: its socket, as the hub needs it. */
export interface Viewer {
  /** Cameras whose frames it wants: null for every camera. */
  cameras: Set<string> | null;
  bufferedAmount(): number;
  send(data: string | Buffer): void;
}

interface CameraState {
  status: CameraStatus | null;
  recent: Frame[];
  /** Detections that came before their frame (topics are not ordered with each other). */
  early: Detections[];
  lastDetectionsAt: number;
  lastSentAt: number;
}

interface LaneState {
  basket: Basket | null;
  said: Said | null;
  wav: Buffer | null;
}

export function frameMessage(header: FrameHeader, jpeg: Buffer): Buffer {
  const head = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(head.length);
  return Buffer.concat([length, head, jpeg]);
}

/**
 * Everything live the console shows, from the bus, to every browser watching. Frames are paired
 * here with the detections of the same frame (camera and seq), so a box is never drawn on another
 * frame; each browser gets a camera's newest pair as its socket drains, never a backlog.
 */
export class LiveHub {
  private readonly cameras: BoundedMap<string, CameraState>;
  private readonly lanes: BoundedMap<string, LaneState>;
  private readonly snapshots: BoundedMap<string, Buffer>;
  private readonly services = new Map<string, Availability>();
  private model: ModelState | null = null;
  private products: ProductState | null = null;
  private readonly viewers = new Set<Viewer>();
  private readonly skipped: Counter<'camera'>;
  private readonly sent: Counter<'camera'>;

  private readonly deps: { bus: Bus; logger: Logger; registry: Registry; now?: () => number };

  constructor(deps: { bus: Bus; logger: Logger; registry: Registry; now?: () => number }) {
    this.deps = deps;
    const { registry } = deps;
    this.cameras = new BoundedMap({ name: 'console-cameras', maxEntries: MAX_CAMERAS, registry });
    this.lanes = new BoundedMap({ name: 'console-lanes', maxEntries: MAX_LANES, registry });
    this.snapshots = new BoundedMap({ name: 'console-snapshots', maxEntries: 1000, maxBytes: MAX_SNAPSHOT_BYTES, sizeOf: (jpeg) => jpeg.length, registry });
    this.sent = new Counter({ name: 'sightline_console_frames_sent_total', help: 'frames sent to browsers', labelNames: ['camera'], registers: [registry] });
    this.skipped = new Counter({
      name: 'sightline_console_frames_skipped_total',
      help: 'frames not sent to a browser whose socket had not drained (it gets a newer one)',
      labelNames: ['camera'],
      registers: [registry],
    });
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** Subscribes (granted once connected; a refusal is logged, and /readyz says so). */
  start(): void {
    const { bus, logger } = this.deps;
    const subscriptions = [
      bus.subscribe(channels.frame, {}, (frame) => this.onFrame(frame)),
      bus.subscribe(channels.detections, {}, (detections) => this.onDetections(detections)),
      bus.subscribe(channels.cameraStatus, {}, (status) => {
        this.camera(status.camera).status = status;
        this.broadcast({ type: 'camera', status });
      }),
      bus.subscribe(channels.availability, {}, (availability, { service }) => {
        this.services.set(service, availability);
        this.broadcast({ type: 'service', service, availability });
      }),
      bus.subscribe(channels.basket, {}, (basket) => {
        this.lane(basket.lane).basket = basket;
        this.broadcast({ type: 'basket', basket });
      }),
      bus.subscribe(channels.laneEvent, {}, (event) => this.broadcast({ type: 'lane-event', event })),
      bus.subscribe(channels.laneControlResult, {}, (result) => this.broadcast({ type: 'control-result', result })),
      bus.subscribe(channels.audio, {}, ({ meta, pcm }) => {
        const said: Said = { lane: meta.lane, id: meta.id, text: meta.text, locale: meta.locale, at: meta.at, kind: meta.source.kind };
        const lane = this.lane(meta.lane);
        lane.said = said;
        lane.wav = buildWav(pcm.samples, pcm.format);
        this.broadcast({ type: 'said', said });
      }),
      bus.subscribe(channels.alerts, {}, (event) => {
        if (event.alert.snapshot) this.keepSnapshot(event.alert.snapshot.camera, event.alert.snapshot.seq);
        this.broadcast({ type: 'alert', change: event.type, alert: event.alert });
      }),
      bus.subscribe(channels.modelState, {}, (state) => {
        this.model = state;
        this.broadcast({ type: 'model', state });
      }),
      // The products inference recognises, after every change (whoever made it: this console, another, MQTT).
      bus.subscribe(channels.productState, {}, (state) => {
        this.products = state;
        this.broadcast({ type: 'products', state });
      }),
    ];
    for (const granted of subscriptions) granted.catch((err: unknown) => logger.error({ err }, 'cannot subscribe'));
  }

  private camera(id: string): CameraState {
    let state = this.cameras.get(id);
    if (state === undefined) {
      state = { status: null, recent: [], early: [], lastDetectionsAt: 0, lastSentAt: 0 };
      this.cameras.set(id, state);
    }
    return state;
  }

  private lane(id: string): LaneState {
    let state = this.lanes.get(id);
    if (state === undefined) {
      state = { basket: null, said: null, wav: null };
      this.lanes.set(id, state);
    }
    return state;
  }

  private onFrame(frame: Frame): void {
    const state = this.camera(frame.meta.camera);
    state.recent.push(frame);
    if (state.recent.length > RECENT_FRAMES) state.recent.shift();
    const early = state.early.findIndex((d) => d.seq === frame.meta.seq);
    if (early >= 0) {
      const [detections] = state.early.splice(early, 1);
      return this.show(state, frame, detections!);
    }
    if (this.now() - state.lastDetectionsAt > BARE_AFTER_MS) this.show(state, frame, null);
  }

  private onDetections(detections: Detections): void {
    const state = this.camera(detections.camera);
    state.lastDetectionsAt = this.now();
    const frame = state.recent.find((f) => f.meta.seq === detections.seq);
    if (frame === undefined) {
      if (detections.capturedAt > state.lastSentAt) state.early.push(detections);
      if (state.early.length > 8) state.early.shift();
      return;
    }
    this.show(state, frame, detections);
  }

  private show(state: CameraState, frame: Frame, detections: Detections | null): void {
    // Never an older frame after a newer one (a late pair, or a bare frame overtaken).
    // (capture times, since seq starts again at 0 when capture restarts.)
    if (frame.meta.capturedAt <= state.lastSentAt) return;
    state.lastSentAt = frame.meta.capturedAt;
    const header: FrameHeader = {
      camera: frame.meta.camera,
      seq: frame.meta.seq,
      capturedAt: frame.meta.capturedAt,
      width: frame.header?.width ?? frame.meta.width ?? null,
      height: frame.header?.height ?? frame.meta.height ?? null,
      objects: detections?.objects ?? null,
      model: detections ? `${detections.model.id} ${detections.model.version}` : null,
      inferenceMs: detections?.timings.inferenceMs ?? null,
      sentAt: this.now(),
    };
    let message: Buffer | null = null;
    for (const viewer of this.viewers) {
      if (viewer.cameras !== null && !viewer.cameras.has(header.camera)) continue;
      if (viewer.bufferedAmount() > MAX_VIEWER_BUFFER) {
        this.skipped.inc({ camera: header.camera });
        continue;
      }
      message ??= frameMessage(header, frame.jpeg);
      viewer.send(message);
      this.sent.inc({ camera: header.camera });
    }
  }

  private keepSnapshot(camera: string, seq: number): void {
    const key = `${camera}/${seq}`;
    if (this.snapshots.has(key)) return;
    const frame = this.cameras.peek(camera)?.recent.find((f) => f.meta.seq === seq);
    if (frame) this.snapshots.set(key, frame.jpeg);
  }

  snapshot(camera: string, seq: number): Buffer | null {
    return this.snapshots.get(`${camera}/${seq}`) ?? null;
  }

  laneAudio(lane: string): Buffer | null {
    return this.lanes.peek(lane)?.wav ?? null;
  }

  /** What a browser is told when it connects, before anything live. */
  state() {
    return {
      type: 'hello' as const,
      cameras: [...this.cameras.entries()].map(([camera, s]) => ({ camera, status: s.status })),
      services: Object.fromEntries(this.services),
      lanes: [...this.lanes.entries()].map(([lane, s]) => ({ lane, basket: s.basket, said: s.said })),
      model: this.model,
      products: this.products,
    };
  }

  addViewer(viewer: Viewer): () => void {
    this.viewers.add(viewer);
    viewer.send(JSON.stringify(this.state()));
    return () => this.viewers.delete(viewer);
  }

  private broadcast(message: LiveMessage): void {
    if (this.viewers.size === 0) return;
    const text = JSON.stringify(message);
    for (const viewer of this.viewers) viewer.send(text);
  }

  get viewerCount(): number {
    return this.viewers.size;
  }
}

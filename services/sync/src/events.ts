import { BoundedMap, type Logger } from '@sightline/kit';
import type { Registry } from 'prom-client';
import type { RingFrame } from './selection.ts';

export interface EventSettings {
  /** A label not seen on its camera for this long has gone: its event ends. */
  gapMs: number;
  /** An event is closed after this long even while its label stays in view; the next sighting opens another. 0: every frame is an event. */
  maxMs: number;
}

export type CloseCause = 'gap' | 'length' | 'evicted' | 'stop';

/** An object seen across frames of one camera: a label present without a gap longer than `gapMs`. */
export interface ClosedEvent {
  camera: string;
  label: string;
  /** `<camera>/<label>/<capture time of its first frame>`: the same event always gets the same id. */
  id: string;
  firstCapturedAt: number;
  lastCapturedAt: number;
  frames: number;
  /** Frames in which the label's score fell in the uncertainty band. */
  uncertainFrames: number;
  /** The most uncertain of them (score nearest 0.5, the first on a tie); null when none was uncertain. */
  best: { frame: RingFrame; score: number } | null;
  /** Scans checkout made of this object while the event was open. */
  scans: string[];
  cause: CloseCause;
}

interface OpenEvent extends Omit<ClosedEvent, 'cause'> {
  openedAt: number;
}

/** Scans remembered per event: a lane scans an object once; more is a flood. */
const MAX_SCANS = 8;

/**
 * Groups each camera's detections into events, one per label in view, and hands each closed event,
 * with its most uncertain frame, to `onClose`: so an orange that sits on the counter for a minute is
 * one image to label, not three hundred. Open events are bounded in count and in the bytes of the
 * frames they hold (labels and cameras come from the network); one pushed out is closed, not lost.
 */
export class EventTracker {
  private readonly open: BoundedMap<string, OpenEvent>;
  private readonly settings: EventSettings;
  private readonly now: () => number;
  private readonly isUncertain: (score: number) => boolean;
  private readonly onClose: (event: ClosedEvent) => void;

  constructor(
    settings: EventSettings,
    isUncertain: (score: number) => boolean,
    onClose: (event: ClosedEvent) => void,
    limits: { events: number; bytes: number; now?: () => number; registry?: Registry; logger?: Logger },
  ) {
    this.settings = settings;
    this.isUncertain = isUncertain;
    this.onClose = onClose;
    this.now = limits.now ?? (() => performance.now());
    this.open = new BoundedMap<string, OpenEvent>({
      name: 'sync-open-events',
      maxEntries: limits.events,
      maxBytes: limits.bytes,
      sizeOf: (event) => 256 + (event.best?.frame.jpeg.length ?? 0),
      // A label unseen for the gap has gone: the map's idle expiry is the event's end.
      idleMs: settings.gapMs,
      now: this.now,
      ...(limits.registry !== undefined ? { registry: limits.registry } : {}),
      ...(limits.logger !== undefined ? { logger: limits.logger } : {}),
      onEvict: (_key, event, reason) => this.close(event, reason === 'idle' ? 'gap' : 'evicted'),
    });
  }

  /** One frame's detections: each label with its best score in the frame (`scores[i]` is `labels[i]`'s). */
  see(frame: RingFrame, labels: readonly string[], scores: readonly number[]): void {
    const at = this.now();
    for (const [i, label] of labels.entries()) {
      const score = scores[i] ?? 0;
      const key = `${frame.camera}\n${label}`;
      let event = this.open.get(key);
      if (event === undefined) {
        event = {
          camera: frame.camera,
          label,
          id: `${frame.camera}/${label}/${frame.capturedAt}`,
          firstCapturedAt: frame.capturedAt,
          lastCapturedAt: frame.capturedAt,
          frames: 0,
          uncertainFrames: 0,
          best: null,
          scans: [],
          openedAt: at,
        };
        if (!this.open.set(key, event)) continue;
      }
      event.frames += 1;
      event.lastCapturedAt = Math.max(event.lastCapturedAt, frame.capturedAt);
      if (this.isUncertain(score)) {
        event.uncertainFrames += 1;
        if (event.best === null || Math.abs(score - 0.5) < Math.abs(event.best.score - 0.5)) {
          event.best = { frame, score };
          this.open.resize(key);
        }
      }
      if (this.settings.maxMs === 0 || at - event.openedAt >= this.settings.maxMs) {
        this.open.delete(key);
        this.close(event, 'length');
      }
    }
  }

  /** A scan of `label` on `camera`: remembered on the event that is open for it, if any. */
  scan(camera: string, label: string, scanId: string): boolean {
    const event = this.open.peek(`${camera}\n${label}`);
    if (event === undefined) return false;
    if (event.scans.length < MAX_SCANS && !event.scans.includes(scanId)) event.scans.push(scanId);
    return true;
  }

  /** Closes the events whose label has been gone for the gap (call it from a timer). */
  sweep(): void {
    this.open.expire();
  }

  /** Closes every open event (the service is stopping: their best frames are not to be lost). */
  closeAll(): void {
    const events = [...this.open.values()];
    this.open.clear();
    for (const event of events) this.close(event, 'stop');
  }

  get size(): number {
    return this.open.size;
  }

  private close(event: OpenEvent, cause: CloseCause): void {
    const { openedAt: _openedAt, ...closed } = event;
    this.onClose({ ...closed, cause });
  }
}

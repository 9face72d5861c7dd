import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import { boundsOf, busServices, footPoint, insidePolygon, normaliseLabel, toPlainText, type Alert, type AlertEvent, type AlertType, type CameraStatus, type Detections, type Eviction, type LaneEvent, type Scan, type Severity, type SnapshotRef } from '@sightline/schemas';
import { BoundedMap, type Logger } from '@sightline/kit';
import type { AlertMetrics } from './metrics.ts';
import type { Rule, RuleOf } from './rules.ts';
import type { AlertStore } from './store.ts';

export interface EngineOptions {
  rules: Rule[];
  store: AlertStore;
  metrics: AlertMetrics;
  logger: Logger;
  /** Announces a change; called after the change is stored. */
  publish: (event: AlertEvent) => void;
  now?: () => number;
  /** Repeats of an open alert are announced at most this often (ms). */
  updateIntervalMs: number;
  /** Event alerts (unknown item, weight mismatch, low confidence) resolve after this long without a repeat. */
  expireSeconds: number;
  /** This service's own name: its own availability is not watched. */
  self: string;
  /** Which cameras, lanes and services the engine acts on, and how much it keeps; defaults for tests. */
  limits?: Partial<EngineLimits>;
  /** Where the bounded maps count their evictions. */
  registry?: Registry;
}

/**
 * Cameras and lanes are configured (listed here, or named by a rule) or seen: a camera or lane
 * seen on the bus but not configured is acted on while fewer than `maxCameras`/`maxLanes` are
 * held (a newcomer beyond them is ignored and counted), is forgotten after `forgetMs` without a
 * sighting, and its alerts are never more than warnings: a made-up id is not worth waking anyone.
 * With a list given, only configured ones are acted on. Services are those of the bus plus
 * `services`; availability of any other name is ignored and counted.
 */
export interface EngineLimits {
  cameras: string[] | null;
  lanes: string[] | null;
  services: string[];
  maxCameras: number;
  maxLanes: number;
  forgetMs: number;
  /** Open alerts at most; a new one beyond them is not raised (counted and logged). */
  maxOpen: number;
  /** Drift windows (rule, lane, sku) held; the least recently used is dropped past it. */
  maxDriftStates: number;
}

export const DEFAULT_LIMITS: EngineLimits = {
  cameras: null,
  lanes: null,
  services: [],
  maxCameras: 64,
  maxLanes: 64,
  forgetMs: 3600_000,
  maxOpen: 1000,
  maxDriftStates: 4096,
};

/** A full window of the largest allowed size (10,000 scans) is 80 KB; the default (20) 160 B. */
const DRIFT_MAX_BYTES = 32 * 1024 * 1024;

interface OpenAlert {
  key: string;
  alert: Alert;
  lastPublishedAt: number;
  dirty: boolean;
}

interface ZoneState {
  presentSince: number | undefined;
  lastInZone: number;
}

/** The service whose cameras report `cameras/<camera>/status`. */
const CAPTURE = 'capture';

interface CameraState {
  /** What capture last said (undefined: nothing yet); every camera is offline while capture is. */
  status: 'online' | 'offline' | undefined;
  /** When this service learnt the camera went offline (its own clock, not capture's). */
  offlineSince: number | undefined;
  reason: string | undefined;
  /** Camera-offline rules whose alert a person resolved while the camera stayed away: not raised again until it is back. */
  dismissed: Set<string>;
}

interface DriftState {
  baseline: number | undefined;
  learning: number[];
  window: number[];
  sum: number;
  next: number;
}

export type TransitionResult = { ok: true; alert: Alert } | { ok: false; status: 404 | 409; message: string };

type Subject = Pick<Alert, 'camera' | 'lane' | 'service'>;

interface Sighting {
  subject: Subject;
  /** The subject is configured; otherwise only seen, and the alert is at most a warning. */
  known: boolean;
  /** Distinguishes alerts of one rule on one subject (the sku, for drift). */
  part?: string;
  message: string;
  details: NonNullable<Alert['details']>;
  snapshot: SnapshotRef | null;
}

const EVICTION_WHY: Record<Eviction['reason'], string> = {
  ttl: 'it waited longer than the outbox TTL',
  disk: 'the outbox disk cap was reached',
  corrupt: 'its outbox file was unreadable',
  rejected: 'the blob store refused it',
};

const EVENT_TYPES = new Set<AlertType>(['unknown-item', 'low-confidence-scan', 'weight-mismatch', 'images-evicted']);
const AT_MOST_WARNING: Record<Severity, Severity> = { info: 'info', warning: 'warning', critical: 'warning' };

/** Alerts must be plain text (the shared rule); an alert's text is never empty. */
export function plain(text: string, max: number): string {
  return toPlainText(text, max) || '?';
}

export function newAlertId(now: number): string {
  return `al-${now.toString(36)}-${randomBytes(5).toString('hex')}`;
}

/**
 * Evaluates the rules against the inputs and keeps the open alerts. Synchronous: each change is
 * stored before `publish` is called, and the caller's MQTT acknowledgement follows both.
 */
export class RuleEngine {
  private readonly options: EngineOptions;
  private readonly now: () => number;
  private readonly limits: EngineLimits;
  private readonly open: BoundedMap<string, OpenAlert>;
  private readonly byId = new Map<string, string>();
  private readonly zones = new Map<string, ZoneState>();
  private readonly drift: BoundedMap<string, DriftState>;
  /** Configured cameras (listed, or named by a rule): always held. */
  private readonly knownCameras = new Map<string, CameraState>();
  /** Cameras seen on the bus but not configured: capped, forgotten when quiet. */
  private readonly seenCameras: BoundedMap<string, CameraState>;
  /** Cameras the generic camera-offline rule watches from the start, seen or not. */
  private readonly watchedFromStart: ReadonlySet<string>;
  private readonly knownLanes: ReadonlySet<string>;
  private readonly seenLanes: BoundedMap<string, true>;
  private readonly knownServices: ReadonlySet<string>;
  /** Services that went offline and are not back yet, by alert key: raised once their grace is over. */
  private readonly offlineSince = new Map<string, { rule: RuleOf<'service-offline'>; service: string; since: number }>();
  /** Service-offline alerts a person resolved while the service stayed offline: not raised again until it is back. */
  private readonly dismissedServices = new Set<string>();
  private readonly startedAt: number;
  /** capture's availability went offline and no `online` came since: its camera statuses are stale. */
  private captureOffline = false;
  private readonly rulesById: Map<string, Rule>;
  private readonly zoneRules: Array<RuleOf<'person-in-zone'> & { bounds: { minX: number; maxX: number; minY: number; maxY: number } }>;
  private readonly evaluations;

  constructor(options: EngineOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    const limits = (this.limits = { ...DEFAULT_LIMITS, ...options.limits });
    const log = options.logger;
    const bounded = { registry: options.registry, logger: log, now: this.now };
    this.open = new BoundedMap({ name: 'alert-open', maxEntries: limits.maxOpen, whenFull: 'refuse-new', ...bounded });
    this.drift = new BoundedMap({
      name: 'alert-drift-windows',
      maxEntries: limits.maxDriftStates,
      maxBytes: DRIFT_MAX_BYTES,
      sizeOf: (state) => 64 + 8 * (state.learning.length + state.window.length),
      ...bounded,
    });
    this.seenCameras = new BoundedMap({ name: 'alert-cameras', maxEntries: limits.maxCameras, idleMs: limits.forgetMs, whenFull: 'refuse-new', ...bounded });
    this.seenLanes = new BoundedMap({ name: 'alert-lanes', maxEntries: limits.maxLanes, idleMs: limits.forgetMs, whenFull: 'refuse-new', ...bounded });
    const ruleCameras = options.rules.flatMap((rule) => ('camera' in rule && rule.camera !== undefined ? [rule.camera] : []));
    for (const camera of [...(limits.cameras ?? []), ...ruleCameras]) this.knownCameras.set(camera, newCameraState());
    this.watchedFromStart = new Set(limits.cameras ?? []);
    this.knownLanes = new Set([...(limits.lanes ?? []), ...options.rules.flatMap((rule) => ('lane' in rule && rule.lane !== undefined ? [rule.lane] : []))]);
    this.knownServices = new Set(
      [...busServices, ...limits.services, ...options.rules.flatMap((rule) => (rule.type === 'service-offline' && rule.service !== undefined ? [rule.service] : []))].filter(
        (service) => service !== options.self,
      ),
    );
    this.rulesById = new Map(options.rules.map((rule) => [rule.id, rule]));
    this.zoneRules = options.rules
      .filter((rule): rule is RuleOf<'person-in-zone'> => rule.type === 'person-in-zone')
      .map((rule) => ({
        ...rule,
        bounds: boundsOf(rule.zone),
      }));
    const counter = options.metrics.evaluations;
    this.evaluations = new Map<string, { inc(n?: number): void }>();
    for (const rule of options.rules) this.evaluations.set(rule.type, counter.labels({ type: rule.type }));
    // The newest open alerts are reloaded; any beyond the cap (it was lowered) are resolved.
    const stored = options.store.open().sort((a, b) => b.alert.lastSeen - a.alert.lastSeen);
    for (const { key, alert } of stored.slice(0, limits.maxOpen)) {
      this.open.set(key, { key, alert, lastPublishedAt: this.startedAt, dirty: false });
      this.byId.set(alert.id, key);
      if (alert.type === 'person-in-zone') this.zones.set(alert.rule, { presentSince: alert.firstSeen, lastInZone: this.startedAt });
    }
    for (const { key, alert } of stored.slice(limits.maxOpen)) this.end(key, { key, alert, lastPublishedAt: this.startedAt, dirty: false }, 'overflow');
    if (stored.length > limits.maxOpen) log.warn({ resolved: stored.length - limits.maxOpen, maxOpen: limits.maxOpen }, 'more open alerts stored than the cap: the oldest were resolved');
  }

  rules(): readonly Rule[] {
    return this.options.rules;
  }

  openAlerts(): Alert[] {
    return [...this.open.values()].map((o) => o.alert);
  }

  openByType(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const { alert } of this.open.values()) counts.set(alert.type, (counts.get(alert.type) ?? 0) + 1);
    return counts;
  }

  onDetections(detections: Detections): void {
    const now = this.now();
    const count = this.evaluations.get('person-in-zone');
    for (const rule of this.zoneRules) {
      if (rule.camera !== detections.camera) continue;
      count?.inc();
      const { bounds } = rule;
      let hit: Detections['objects'][number] | undefined;
      for (const object of detections.objects) {
        const box = object.box;
        if (box === null || object.score < rule.minScore || !rule.labels.includes(normaliseLabel(object.label))) continue;
        // The foot point: where a person stands, not where their head is.
        const foot = footPoint(box);
        if (foot.x < bounds.minX || foot.x > bounds.maxX || foot.y < bounds.minY || foot.y > bounds.maxY) continue;
        if (insidePolygon(foot, rule.zone)) {
          hit = object;
          break;
        }
      }
      let state = this.zones.get(rule.id);
      if (hit === undefined) {
        if (state?.presentSince !== undefined && now - state.lastInZone >= rule.clearSeconds * 1000) state.presentSince = undefined;
        continue;
      }
      if (state === undefined) {
        state = { presentSince: now, lastInZone: now };
        this.zones.set(rule.id, state);
      }
      state.lastInZone = now;
      state.presentSince ??= now;
      if (now - state.presentSince < rule.dwellSeconds * 1000) continue;
      this.raise(rule, now, {
        subject: { camera: rule.camera },
        known: true,
        message: plain(`${hit.label} in restricted zone ${rule.id} on camera ${rule.camera}`, 500),
        details: { label: plain(hit.label, 256), score: round(hit.score), dwellSeconds: round((now - state.presentSince) / 1000) },
        snapshot: { camera: detections.camera, seq: detections.seq, capturedAt: detections.capturedAt },
      });
    }
  }

  /** capture's word on one camera (`cameras/<camera>/status`). */
  onCameraStatus(camera: string, status: Pick<CameraStatus, 'state' | 'reason'>): void {
    // While capture is offline its retained statuses are stale: they describe a capture that is gone.
    if (this.captureOffline) {
      this.ignored('cameraStatus', 'capture-offline');
      return;
    }
    const state = this.camera(camera, 'cameraStatus');
    if (status.state === 'offline') {
      if (state !== undefined) this.setCameraOffline(state, status.reason ?? 'offline');
      return;
    }
    if (state !== undefined) {
      state.status = 'online';
      state.offlineSince = undefined;
      state.reason = undefined;
      state.dismissed.clear();
    }
    // Online is evidence the camera is back, whether or not it is still held.
    for (const rule of this.options.rules) {
      if (rule.type !== 'camera-offline' || (rule.camera !== undefined && rule.camera !== camera)) continue;
      this.evaluations.get(rule.type)?.inc();
      this.resolveKey(keyOf(rule, { camera }), 'recovered');
    }
  }

  private setCameraOffline(state: CameraState, reason: string): void {
    if (state.status !== 'offline') state.offlineSince = this.now();
    state.status = 'offline';
    state.reason = reason;
  }

  /**
   * capture's availability: its last will covers one connection, not each camera, so when it goes
   * offline every camera it reported is offline; a camera counts as online again only once a
   * status published after capture came back says so.
   */
  private onCaptureAvailability(availability: 'online' | 'offline'): void {
    this.captureOffline = availability === 'offline';
    if (!this.captureOffline) return;
    for (const state of [...this.knownCameras.values(), ...this.seenCameras.values()]) {
      if (state.status !== undefined) this.setCameraOffline(state, 'capture is offline');
    }
  }

  /** The state of a camera the engine acts on: configured, or seen and within the cap; undefined (counted) otherwise. */
  private camera(camera: string, channel: string): CameraState | undefined {
    const known = this.knownCameras.get(camera);
    if (known !== undefined) return known;
    if (this.limits.cameras !== null) return this.ignored(channel, 'camera-not-configured');
    const seen = this.seenCameras.get(camera);
    if (seen !== undefined) return seen;
    const state = newCameraState();
    return this.seenCameras.set(camera, state) ? state : this.ignored(channel, 'camera-cap');
  }

  /** Whether the engine acts on this lane (configured, or seen and within the cap); counted when not. */
  private lane(lane: string, channel: string): 'known' | 'seen' | undefined {
    if (this.knownLanes.has(lane)) return 'known';
    if (this.limits.lanes !== null) return this.ignored(channel, 'lane-not-configured');
    return this.seenLanes.set(lane, true) ? 'seen' : this.ignored(channel, 'lane-cap');
  }

  private ignored(channel: string, reason: string): undefined {
    this.options.metrics.droppedInputs.inc({ channel, reason });
    return undefined;
  }

  onScan(scan: Scan): void {
    const now = this.now();
    const lane = this.lane(scan.lane, 'scan');
    if (lane === undefined) return;
    const known = lane === 'known';
    for (const rule of this.options.rules) {
      if ((rule.type !== 'low-confidence-scan' && rule.type !== 'model-drift') || (rule.lane !== undefined && rule.lane !== scan.lane)) continue;
      this.evaluations.get(rule.type)?.inc();
      if (rule.type === 'low-confidence-scan') {
        if (scan.confidence >= rule.below) continue;
        this.raise(rule, now, {
          subject: { lane: scan.lane, camera: scan.camera },
          known,
          message: plain(`low-confidence scan of ${scan.product.sku} on lane ${scan.lane}: ${scan.confidence.toFixed(2)} < ${rule.below}`, 500),
          details: { sku: scan.product.sku, confidence: round(scan.confidence), threshold: rule.below, scan: scan.id },
          snapshot: { camera: scan.camera, seq: scan.seq, capturedAt: scan.capturedAt },
        });
      } else {
        this.evaluateDrift(rule, scan, now, known);
      }
    }
  }

  onLaneEvent(event: LaneEvent): void {
    const now = this.now();
    const lane = this.lane(event.lane, 'laneEvent');
    if (lane === undefined) return;
    const known = lane === 'known';
    for (const rule of this.options.rules) {
      if (rule.type !== 'unknown-item' && rule.type !== 'weight-mismatch') continue;
      if (rule.lane !== undefined && rule.lane !== event.lane) continue;
      this.evaluations.get(rule.type)?.inc();
      if (rule.type === 'unknown-item' && event.type === 'not-recognised' && event.label !== undefined) {
        this.raise(rule, now, {
          subject: { lane: event.lane, camera: event.camera },
          known,
          message: plain(`unknown item on lane ${event.lane}: the camera saw "${event.label}", which the catalog does not know`, 500),
          details: { label: plain(event.label, 256), event: event.id },
          snapshot: event.frame ?? null,
        });
      } else if (rule.type === 'weight-mismatch' && event.type === 'weight-mismatch') {
        this.raise(rule, now, {
          subject: { lane: event.lane },
          known,
          message: plain(`weight mismatch on lane ${event.lane}: ${event.product.sku} weighs ${event.weightGrams} g, expected ${event.expected.min}-${event.expected.max} g`, 500),
          details: { sku: event.product.sku, weightGrams: event.weightGrams, expectedMin: event.expected.min, expectedMax: event.expected.max, event: event.id },
          snapshot: event.frame ?? null,
        });
      }
    }
  }

  /** Images the sync service dropped without uploading: one alert per camera, counting them. */
  onEviction(eviction: Eviction): void {
    const now = this.now();
    if (eviction.camera !== undefined && this.camera(eviction.camera, 'syncEviction') === undefined) return;
    const known = eviction.camera === undefined || this.knownCameras.has(eviction.camera);
    for (const rule of this.options.rules) {
      if (rule.type !== 'images-evicted' || (rule.camera !== undefined && rule.camera !== eviction.camera)) continue;
      this.evaluations.get(rule.type)?.inc();
      const where = eviction.camera !== undefined ? ` of camera ${eviction.camera}` : '';
      this.raise(rule, now, {
        subject: eviction.camera !== undefined ? { camera: eviction.camera } : {},
        known,
        message: plain(`sync dropped an image${where} without uploading it (${EVICTION_WHY[eviction.reason]})`, 500),
        details: { reason: eviction.reason, blob: plain(eviction.blob, 256), bytes: eviction.bytes },
        snapshot: null,
      });
    }
  }

  onAvailability(service: string, availability: 'online' | 'offline'): void {
    if (service === this.options.self) return;
    if (!this.knownServices.has(service)) {
      this.ignored('availability', 'unknown-service');
      return;
    }
    if (service === CAPTURE) this.onCaptureAvailability(availability);
    const now = this.now();
    for (const rule of this.options.rules) {
      if (rule.type !== 'service-offline' || (rule.service !== undefined && rule.service !== service)) continue;
      this.evaluations.get(rule.type)?.inc();
      const key = keyOf(rule, { service });
      if (availability === 'online') {
        this.offlineSince.delete(key);
        this.dismissedServices.delete(key);
        this.resolveKey(key, 'recovered');
      } else if (!this.open.has(key) && !this.offlineSince.has(key) && !this.dismissedServices.has(key)) {
        this.offlineSince.set(key, { rule, service, since: now });
        this.raiseOfflineServices(now);
      }
    }
  }

  private raiseOfflineServices(now: number): void {
    for (const [key, pending] of this.offlineSince) {
      if (now - pending.since < pending.rule.graceSeconds * 1000) continue;
      this.offlineSince.delete(key);
      const { service } = pending;
      this.raise(pending.rule, now, { subject: { service }, known: true, message: plain(`service ${service} is offline`, 500), details: { service }, snapshot: null });
    }
  }

  /** Time-driven work: trailing updates, offline cameras, clear zones, expiry. Call about once a second. */
  tick(): void {
    const now = this.now();
    this.raiseOfflineServices(now);
    for (const rule of this.options.rules) {
      if (rule.type !== 'camera-offline') continue;
      for (const [camera, state, known] of this.watchedBy(rule)) {
        if (state.status === 'online') continue;
        // Never reported: counted from this service's start.
        const since = state.offlineSince ?? this.startedAt;
        const key = keyOf(rule, { camera });
        if (now - since < rule.offlineSeconds * 1000 || state.dismissed.has(rule.id) || this.open.has(key)) continue;
        const seconds = Math.round((now - since) / 1000);
        const reason = state.reason ?? 'no status from capture';
        this.raise(rule, now, {
          subject: { camera },
          known,
          message: plain(`camera ${camera} offline for ${seconds} s: ${reason}`, 500),
          details: { offlineSeconds: rule.offlineSeconds, reason: plain(reason, 256), ...(state.offlineSince !== undefined ? { offlineSince: since } : {}) },
          snapshot: null,
        });
      }
    }
    for (const open of [...this.open.values()]) {
      const { alert } = open;
      const rule = this.rulesById.get(alert.rule);
      if (alert.type === 'person-in-zone' && rule?.type === 'person-in-zone') {
        const state = this.zones.get(rule.id);
        if (state === undefined || now - state.lastInZone >= rule.clearSeconds * 1000) {
          if (state) state.presentSince = undefined;
          this.resolveKey(open.key, 'cleared');
          continue;
        }
      } else if (EVENT_TYPES.has(alert.type)) {
        const expireSeconds = rule !== undefined && 'expireSeconds' in rule && rule.expireSeconds !== undefined ? rule.expireSeconds : this.options.expireSeconds;
        if (now - alert.lastSeen >= expireSeconds * 1000) {
          this.resolveKey(open.key, 'expired');
          continue;
        }
      }
      this.flush(open, now, false);
    }
  }

  /** The cameras a camera-offline rule watches: its own, or those watched from the start and every camera capture reported. */
  private *watchedBy(rule: RuleOf<'camera-offline'>): Generator<[string, CameraState, boolean]> {
    if (rule.camera !== undefined) {
      yield [rule.camera, this.knownCameras.get(rule.camera)!, true];
      return;
    }
    for (const [camera, state] of this.knownCameras) if (this.watchedFromStart.has(camera) || state.status !== undefined) yield [camera, state, true];
    for (const [camera, state] of this.seenCameras) if (state.status !== undefined) yield [camera, state, false];
  }

  acknowledge(id: string): TransitionResult {
    const open = this.findOpen(id);
    if (open === undefined) return this.notOpen(id, 'acknowledged');
    if (open.alert.state === 'acknowledged') return { ok: false, status: 409, message: `alert ${id} is already acknowledged` };
    const now = this.now();
    open.alert = { ...open.alert, state: 'acknowledged', acknowledgedAt: now };
    open.dirty = true;
    this.flush(open, now, true);
    return { ok: true, alert: open.alert };
  }

  resolve(id: string): TransitionResult {
    const open = this.findOpen(id);
    if (open === undefined) return this.notOpen(id, 'resolved');
    this.resolveKey(open.key, 'person');
    // A camera or service still away is not announced again under a new id: the person has seen it.
    const { alert } = open;
    if (alert.type === 'camera-offline' && alert.camera !== undefined) {
      (this.knownCameras.get(alert.camera) ?? this.seenCameras.peek(alert.camera))?.dismissed.add(alert.rule);
    } else if (alert.type === 'service-offline') {
      this.dismissedServices.add(open.key);
    }
    return { ok: true, alert: open.alert };
  }

  /** Stores and announces every pending repeat (on stop). */
  flushAll(): void {
    const now = this.now();
    for (const open of this.open.values()) this.flush(open, now, true);
  }

  private findOpen(id: string): OpenAlert | undefined {
    const key = this.byId.get(id);
    return key === undefined ? undefined : this.open.get(key);
  }

  private notOpen(id: string, verb: string): TransitionResult {
    const stored = this.options.store.get(id);
    if (stored === undefined) return { ok: false, status: 404, message: `no alert ${id}` };
    return { ok: false, status: 409, message: `alert ${id} is ${stored.state} and cannot be ${verb}` };
  }

  private evaluateDrift(rule: RuleOf<'model-drift'>, scan: Scan, now: number, known: boolean): void {
    const sku = scan.product.sku;
    const stateKey = `${rule.id}|${scan.lane}|${sku}`;
    let state = this.drift.get(stateKey);
    if (state === undefined) {
      state = { baseline: rule.baselines?.[sku] ?? this.options.store.getBaseline(stateKey), learning: [], window: [], sum: 0, next: 0 };
      this.drift.set(stateKey, state);
    }
    this.evaluateWindow(rule, scan, now, known, stateKey, state);
    this.drift.resize(stateKey);
  }

  private evaluateWindow(rule: RuleOf<'model-drift'>, scan: Scan, now: number, known: boolean, stateKey: string, state: DriftState): void {
    const sku = scan.product.sku;
    if (state.baseline === undefined) {
      state.learning.push(scan.confidence);
      if (state.learning.length >= rule.window) {
        state.baseline = state.learning.reduce((a, b) => a + b, 0) / state.learning.length;
        state.learning = [];
        this.options.store.setBaseline(stateKey, state.baseline);
        this.options.logger.info({ rule: rule.id, lane: scan.lane, sku, baseline: state.baseline }, 'learned drift baseline');
      }
      return;
    }
    if (state.window.length < rule.window) {
      state.window.push(scan.confidence);
    } else {
      state.sum -= state.window[state.next]!;
      state.window[state.next] = scan.confidence;
      state.next = (state.next + 1) % rule.window;
    }
    state.sum += scan.confidence;
    if (state.window.length < rule.window) return;
    const mean = state.sum / state.window.length;
    const key = keyOf(rule, { lane: scan.lane }, sku);
    if (mean < state.baseline - rule.margin) {
      this.raise(
        rule,
        now,
        {
          subject: { lane: scan.lane },
          known,
          part: sku,
          message: plain(`model drift on lane ${scan.lane}: mean confidence of ${sku} over the last ${rule.window} scans is ${mean.toFixed(2)}, baseline ${state.baseline.toFixed(2)}`, 500),
          details: { sku, mean: round(mean), baseline: round(state.baseline), margin: rule.margin, window: rule.window },
          snapshot: { camera: scan.camera, seq: scan.seq, capturedAt: scan.capturedAt },
        },
      );
    } else if (mean >= state.baseline - rule.margin / 2) {
      this.resolveKey(key, 'recovered');
    }
  }

  private raise(rule: Rule, now: number, sighting: Sighting): void {
    const key = keyOf(rule, sighting.subject, sighting.part);
    const existing = this.open.get(key);
    if (existing !== undefined) {
      existing.alert = {
        ...existing.alert,
        count: existing.alert.count + 1,
        lastSeen: Math.max(now, existing.alert.lastSeen),
        message: sighting.message,
        details: sighting.details,
        snapshot: sighting.snapshot ?? existing.alert.snapshot,
      };
      existing.dirty = true;
      this.flush(existing, now, false);
      return;
    }
    const alert: Alert = {
      id: newAlertId(now),
      type: rule.type,
      rule: rule.id,
      severity: sighting.known ? rule.severity : AT_MOST_WARNING[rule.severity],
      ...definedOnly(sighting.subject),
      message: sighting.message,
      firstSeen: now,
      lastSeen: now,
      count: 1,
      snapshot: sighting.snapshot,
      state: 'active',
      details: sighting.details,
    };
    const open: OpenAlert = { key, alert, lastPublishedAt: now, dirty: false };
    if (!this.open.set(key, open)) {
      this.options.metrics.refused.inc({ type: alert.type });
      this.options.logger.error({ rule: rule.id, ...sighting.subject, maxOpen: this.limits.maxOpen }, 'too many open alerts: this one is not raised');
      return;
    }
    try {
      const trimmed = this.options.store.insert(alert, key);
      if (trimmed > 0) this.options.metrics.pruned.inc({ reason: 'max-rows' }, trimmed);
    } catch (err) {
      this.open.delete(key);
      throw err;
    }
    this.byId.set(alert.id, key);
    this.options.metrics.raised.inc({ type: alert.type });
    this.options.publish({ type: 'new', alert });
  }

  private flush(open: OpenAlert, now: number, force: boolean): void {
    if (!open.dirty || (!force && now - open.lastPublishedAt < this.options.updateIntervalMs)) return;
    this.options.store.save(open.alert, open.key);
    open.dirty = false;
    open.lastPublishedAt = now;
    this.options.metrics.updated.inc({ type: open.alert.type });
    this.options.publish({ type: 'update', alert: open.alert });
  }

  private resolveKey(key: string, by: string): void {
    const open = this.open.peek(key);
    if (open !== undefined) this.end(key, open, by);
  }

  private end(key: string, open: OpenAlert, by: string): void {
    const now = this.now();
    open.alert = { ...open.alert, state: 'resolved', resolvedAt: now };
    this.options.store.save(open.alert, key);
    this.open.delete(key);
    this.byId.delete(open.alert.id);
    this.options.metrics.ended.inc({ type: open.alert.type, by });
    this.options.publish({ type: 'end', alert: open.alert });
  }
}

function newCameraState(): CameraState {
  return { status: undefined, offlineSince: undefined, reason: undefined, dismissed: new Set() };
}

function keyOf(rule: Rule, subject: Subject, part?: string): string {
  const where = rule.type === 'service-offline' ? `service:${subject.service}` : rule.type === 'person-in-zone' || rule.type === 'camera-offline' || rule.type === 'images-evicted' ? `camera:${subject.camera}` : `lane:${subject.lane}`;
  return part === undefined ? `${rule.id}|${where}` : `${rule.id}|${where}|${part}`;
}

function definedOnly(subject: Subject): Subject {
  const out: Subject = {};
  if (subject.camera !== undefined) out.camera = subject.camera;
  if (subject.lane !== undefined) out.lane = subject.lane;
  if (subject.service !== undefined) out.service = subject.service;
  return out;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

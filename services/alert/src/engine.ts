import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { Alert, AlertEvent, CameraStatus, Detections, Eviction, LaneEvent, Polygon, Scan, Severity } from '@sightline/schemas';
import { BoundedMap, type Logger } from '@sightline/kit';
import { plain, type Evaluator, type RuleContext, type Sighting, type Subject } from './evaluators/evaluator.ts';
import { createEvaluators, type Evaluators } from './evaluators/index.ts';
import type { AlertMetrics } from './metrics.ts';
import type { Rule } from './rules.ts';
import type { AlertStore } from './store.ts';
import { Subjects } from './subjects.ts';

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

interface OpenAlert {
  key: string;
  alert: Alert;
  lastPublishedAt: number;
  dirty: boolean;
}

export type TransitionResult = { ok: true; alert: Alert } | { ok: false; status: 404 | 409; message: string };

/** The evaluator hooks that take an input. */
const HOOKS = ['detections', 'cameraOnline', 'scan', 'laneEvent', 'eviction', 'availability'] as const;
type Hook = (typeof HOOKS)[number];

interface Applied {
  rule: Rule;
  evaluator: Evaluator;
  /** The one camera, lane or service the rule is limited to, if any. */
  only: string | undefined;
  /** Its labels on sightline_alert_rule_evaluations_total. */
  labels: { type: Rule['type'] };
}

const AT_MOST_WARNING: Record<Severity, Severity> = { info: 'info', warning: 'warning', critical: 'warning' };

export function newAlertId(now: number): string {
  return `al-${now.toString(36)}-${randomBytes(5).toString('hex')}`;
}

/**
 * Hands each input to the evaluators of the rules it concerns (`evaluators/`, one per rule type)
 * and keeps the open alerts: raising, repeats, throttled updates, expiry. Synchronous: each change
 * is stored before `publish` is called, and the caller's MQTT acknowledgement follows both.
 */
export class RuleEngine {
  private readonly options: EngineOptions;
  private readonly now: () => number;
  private readonly limits: EngineLimits;
  private readonly open: BoundedMap<string, OpenAlert>;
  private readonly byId = new Map<string, string>();
  private readonly subjects: Subjects;
  private readonly evaluators: Evaluators;
  /** The rules whose evaluator has the hook, in the order of the rules. */
  private readonly applied: Record<Hook, Applied[]>;
  private readonly startedAt: number;
  private readonly rulesById: Map<string, Rule>;

  constructor(options: EngineOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    const limits = (this.limits = { ...DEFAULT_LIMITS, ...options.limits });
    const log = options.logger;
    const bounded = { registry: options.registry, logger: log, now: this.now };
    this.open = new BoundedMap({ name: 'alert-open', maxEntries: limits.maxOpen, whenFull: 'refuse-new', ...bounded });
    this.subjects = new Subjects({ rules: options.rules, limits, self: options.self, now: this.now, dropped: options.metrics.droppedInputs, bounded });
    const context: RuleContext = {
      raise: (rule, now, sighting) => this.raise(rule, now, sighting),
      resolve: (rule, subject, by, part) => this.resolveKey(this.keyOf(rule, subject, part), by),
      isOpen: (rule, subject) => this.open.has(this.keyOf(rule, subject)),
      subjects: this.subjects,
      store: options.store,
      logger: log,
      limits,
      bounded,
      startedAt: this.startedAt,
    };
    this.evaluators = createEvaluators(context, options.rules);
    const all = options.rules.map((rule): Applied => {
      const evaluator: Evaluator = this.evaluators[rule.type];
      const only = (rule as Partial<Record<keyof Subject, string>>)[evaluator.subject];
      return { rule, evaluator, only, labels: { type: rule.type } };
    });
    this.applied = Object.fromEntries(HOOKS.map((hook) => [hook, all.filter(({ evaluator }) => evaluator[hook] !== undefined)])) as Record<Hook, Applied[]>;
    this.rulesById = new Map(options.rules.map((rule) => [rule.id, rule]));
    // The newest open alerts are reloaded; any beyond the cap (it was lowered) are resolved.
    const stored = options.store.open().sort((a, b) => b.alert.lastSeen - a.alert.lastSeen);
    for (const { key, alert } of stored.slice(0, limits.maxOpen)) {
      this.open.set(key, { key, alert, lastPublishedAt: this.startedAt, dirty: false });
      this.byId.set(alert.id, key);
      this.evaluators[alert.type].restored?.(alert);
    }
    for (const { key, alert } of stored.slice(limits.maxOpen)) this.end(key, { key, alert, lastPublishedAt: this.startedAt, dirty: false }, 'overflow');
    if (stored.length > limits.maxOpen)
      log.warn({ resolved: stored.length - limits.maxOpen, maxOpen: limits.maxOpen }, 'more open alerts stored than the cap: the oldest were resolved');
  }

  rules(): readonly Rule[] {
    return this.options.rules;
  }

  rule(id: string): Rule | undefined {
    return this.rulesById.get(id);
  }

  /**
   * A person-in-zone rule's zone from the next detections message on (the caller saved it first).
   * Someone standing in both the old and the new zone keeps their dwell time; someone the new zone
   * leaves out counts as gone, so an open alert resolves after the rule's `clearSeconds`.
   */
  setZone(id: string, zone: Polygon): void {
    const rule = this.rulesById.get(id);
    if (rule?.type !== 'person-in-zone') throw new Error(`rule ${id} is not a person-in-zone rule`);
    rule.zone = [...zone];
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
    for (const applied of this.applied.detections) if (this.evaluates(applied, detections.camera)) applied.evaluator.detections!(applied.rule, detections, now);
  }

  /** capture's word on one camera (`cameras/<camera>/status`). */
  onCameraStatus(camera: string, status: Pick<CameraStatus, 'state' | 'reason'>): void {
    if (!this.subjects.cameraStatus(camera, status)) return;
    for (const applied of this.applied.cameraOnline) if (this.evaluates(applied, camera)) applied.evaluator.cameraOnline!(applied.rule, camera);
  }

  onScan(scan: Scan): void {
    const now = this.now();
    const lane = this.subjects.lane(scan.lane, 'scan');
    if (lane === undefined) return;
    for (const applied of this.applied.scan) if (this.evaluates(applied, scan.lane)) applied.evaluator.scan!(applied.rule, scan, now, lane === 'known');
  }

  onLaneEvent(event: LaneEvent): void {
    const now = this.now();
    const lane = this.subjects.lane(event.lane, 'laneEvent');
    if (lane === undefined) return;
    for (const applied of this.applied.laneEvent)
      if (this.evaluates(applied, event.lane)) applied.evaluator.laneEvent!(applied.rule, event, now, lane === 'known');
  }

  onEviction(eviction: Eviction): void {
    const now = this.now();
    if (eviction.camera !== undefined && this.subjects.camera(eviction.camera, 'syncEviction') === undefined) return;
    const known = eviction.camera === undefined || this.subjects.knownCameras.has(eviction.camera);
    for (const applied of this.applied.eviction) if (this.evaluates(applied, eviction.camera)) applied.evaluator.eviction!(applied.rule, eviction, now, known);
  }

  onAvailability(service: string, availability: 'online' | 'offline'): void {
    if (!this.subjects.service(service)) return;
    this.subjects.availability(service, availability);
    const now = this.now();
    for (const applied of this.applied.availability)
      if (this.evaluates(applied, service)) applied.evaluator.availability!(applied.rule, service, availability, now);
  }

  /**
   * Whether an input about `subject` concerns the rule (limited to no subject, or to this one);
   * each that does is one evaluation. A plain loop per input rather than a callback: a closure per
   * detections message cost about 10% in `pnpm bench:alerts`.
   */
  private evaluates({ only, labels }: Applied, subject: string | undefined): boolean {
    if (only !== undefined && only !== subject) return false;
    this.options.metrics.evaluations.inc(labels);
    return true;
  }

  /** Time-driven work: evaluators' ticks, then trailing updates, cleared states and expiry. Call about once a second. */
  tick(): void {
    const now = this.now();
    for (const evaluator of Object.values(this.evaluators)) evaluator.tick?.(now);
    for (const open of [...this.open.values()]) {
      const { alert } = open;
      const rule = this.rulesById.get(alert.rule);
      const evaluator: Evaluator = this.evaluators[alert.type];
      if (evaluator.cleared !== undefined && rule?.type === alert.type) {
        if (evaluator.cleared(rule, now)) {
          this.resolveKey(open.key, 'cleared');
          continue;
        }
      } else if (evaluator.expires) {
        const expireSeconds =
          rule !== undefined && 'expireSeconds' in rule && rule.expireSeconds !== undefined ? rule.expireSeconds : this.options.expireSeconds;
        if (now - alert.lastSeen >= expireSeconds * 1000) {
          this.resolveKey(open.key, 'expired');
          continue;
        }
      }
      this.flush(open, now, false);
    }
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
    this.evaluators[open.alert.type].dismissed?.(open.alert);
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

  private raise(rule: Rule, now: number, sighting: Sighting): void {
    const key = this.keyOf(rule, sighting.subject, sighting.part);
    const message = plain(sighting.message, 500);
    const existing = this.open.get(key);
    if (existing !== undefined) {
      existing.alert = {
        ...existing.alert,
        count: existing.alert.count + 1,
        lastSeen: Math.max(now, existing.alert.lastSeen),
        message,
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
      message,
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

  private keyOf(rule: Rule, subject: Subject, part?: string): string {
    const field = this.evaluators[rule.type].subject;
    const where = `${rule.id}|${field}:${subject[field]}`;
    return part === undefined ? where : `${where}|${part}`;
  }
}

function definedOnly(subject: Subject): Subject {
  const out: Subject = {};
  if (subject.camera !== undefined) out.camera = subject.camera;
  if (subject.lane !== undefined) out.lane = subject.lane;
  if (subject.service !== undefined) out.service = subject.service;
  return out;
}

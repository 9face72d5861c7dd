import { toPlainText, type Alert, type AlertType, type Detections, type Eviction, type LaneEvent, type Scan, type SnapshotRef } from '@sightline/schemas';
import type { BoundedMapOptions, Logger } from '@sightline/kit';
import type { EngineLimits } from '../engine.ts';
import type { Rule, RuleOf } from '../rules.ts';
import type { AlertStore } from '../store.ts';
import type { Subjects } from '../subjects.ts';

export type Subject = Pick<Alert, 'camera' | 'lane' | 'service'>;

export interface Sighting {
  subject: Subject;
  /** The subject is configured; otherwise only seen, and the alert is at most a warning. */
  known: boolean;
  /** Distinguishes alerts of one rule on one subject (the sku, for drift). */
  part?: string;
  /** Made plain text by the engine. */
  message: string;
  details: NonNullable<Alert['details']>;
  snapshot: SnapshotRef | null;
}

/** What the engine lends an evaluator: its alerts are raised and resolved only through it. */
export interface RuleContext {
  /** Raises an alert, or counts a repeat of the open one for the same rule, subject and part. */
  raise(rule: Rule, now: number, sighting: Sighting): void;
  resolve(rule: Rule, subject: Subject, by: string, part?: string): void;
  isOpen(rule: Rule, subject: Subject): boolean;
  readonly subjects: Subjects;
  readonly store: AlertStore;
  readonly logger: Logger;
  readonly limits: EngineLimits;
  /** Where a bounded map counts its evictions, and its clock. */
  readonly bounded: Pick<BoundedMapOptions<unknown, unknown>, 'registry' | 'logger' | 'now'>;
  /** A camera never reported is counted offline from here. */
  readonly startedAt: number;
}

/**
 * The evaluation of one rule type. For each input the engine calls the matching hook once per
 * rule of the type that the input concerns (the rule names no subject, or the input's), in the
 * order of the rules, and counts that as one evaluation.
 */
export interface Evaluator<R extends Rule = Rule> {
  /** What tells its alerts apart, and what a rule of the type may be limited to. */
  readonly subject: keyof Subject;
  /** Its alerts stand for events, not a state: each resolves after the expiry without a repeat. */
  readonly expires: boolean;
  detections?(rule: R, detections: Detections, now: number): void;
  /** capture says the camera is online. */
  cameraOnline?(rule: R, camera: string): void;
  scan?(rule: R, scan: Scan, now: number, known: boolean): void;
  laneEvent?(rule: R, event: LaneEvent, now: number, known: boolean): void;
  eviction?(rule: R, eviction: Eviction, now: number, known: boolean): void;
  availability?(rule: R, service: string, availability: 'online' | 'offline', now: number): void;
  /** Time-driven raising, about once a second. */
  tick?(now: number): void;
  /** Whether the state behind the open alert of this rule is over. */
  cleared?(rule: R, now: number): boolean;
  /** An open alert reloaded from the store at start. */
  restored?(alert: Alert): void;
  /** A person resolved the alert: whether its cause is still there is the evaluator's to remember. */
  dismissed?(alert: Alert): void;
}

export type EvaluatorFactory<T extends AlertType> = (context: RuleContext, rules: RuleOf<T>[]) => Evaluator<RuleOf<T>>;

/** Alerts must be plain text (the shared rule); an alert's text is never empty. */
export function plain(text: string, max: number): string {
  return toPlainText(text, max) || '?';
}

export function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

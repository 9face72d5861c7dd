/**
 * A shopper's session at a lane: the language they chose, and the idle clock (WCAG 2.2.1, timing
 * adjustable: warn before the time runs out and let the shopper ask for more). Pure and
 * clock-driven; the lane says what counts as activity and when the basket is worth keeping alive.
 */

export interface SessionSettings {
  /** The language a session starts in. */
  locale: string;
  /** The languages `language` cycles through, in order. */
  locales: readonly string[];
  idleWarningSeconds: number;
  idleEndSeconds: number;
}

export type IdleState = 'off' | 'counting' | 'warned';

/** What the idle clock asks of the lane at a tick. */
export type IdleStep = 'warn' | 'end' | null;

export interface IdleStatus {
  state: IdleState;
  /** When the warning is due (counting), or null. */
  warnAt: number | null;
  /** When the session ends (warned), or null. */
  endAt: number | null;
}

export class Session {
  readonly #settings: SessionSettings;
  #locale: string;
  #lastActivityAt: number;
  #warnedAt: number | null = null;

  constructor(settings: SessionSettings, now: number) {
    this.#settings = settings;
    this.#locale = settings.locale;
    // After a restart with items in the basket, the clock starts afresh.
    this.#lastActivityAt = now;
  }

  /** The language the shopper hears now. */
  get locale(): string {
    return this.#locale;
  }

  /** Seconds from activity (or more time) to the warning. */
  get warningSeconds(): number {
    return this.#settings.idleWarningSeconds;
  }

  /** Seconds from the warning to the end of the session. */
  get endSeconds(): number {
    return this.#settings.idleEndSeconds;
  }

  /** Switches to the next of the lane's languages; null when the lane has only one. */
  nextLanguage(): { from: string; to: string } | null {
    const { locales } = this.#settings;
    if (locales.length < 2) return null;
    const from = this.#locale;
    const to = locales[(locales.indexOf(from) + 1) % locales.length]!;
    this.#locale = to;
    return { from, to };
  }

  /** The shopper did something: the idle clock starts again and a warning is taken back. */
  activity(now: number): void {
    this.#lastActivityAt = now;
    this.#warnedAt = null;
  }

  /** The session is over (basket finished or abandoned): the next shopper hears the lane's own language. */
  reset(now: number): void {
    this.#locale = this.#settings.locale;
    this.activity(now);
  }

  /** `running`: the basket is open and holds items; only then can a session time out. */
  tick(now: number, running: boolean): IdleStep {
    if (!running) {
      this.#warnedAt = null;
      return null;
    }
    if (this.#warnedAt === null) {
      if (now - this.#lastActivityAt < this.#settings.idleWarningSeconds * 1000) return null;
      this.#warnedAt = now;
      return 'warn';
    }
    return now - this.#warnedAt >= this.#settings.idleEndSeconds * 1000 ? 'end' : null;
  }

  /** Where the idle clock stands; `running` as for `tick`. */
  idle(running: boolean): IdleStatus {
    if (!running) return { state: 'off', warnAt: null, endAt: null };
    if (this.#warnedAt === null) return { state: 'counting', warnAt: this.#lastActivityAt + this.#settings.idleWarningSeconds * 1000, endAt: null };
    return { state: 'warned', warnAt: this.#warnedAt, endAt: this.#warnedAt + this.#settings.idleEndSeconds * 1000 };
  }
}

/**
 * Decides when a lane scale has settled. Readings are timed by arrival (the injected clock), not
 * by their `at`, so a scale with a wrong clock still settles. A weight is settled when every
 * reading since the first of the run lies within the tolerance and the run is `settleMs` old, or
 * at once when the reading itself says `stable: true`. `stable: false` is believed: no settling.
 * A lone reading (the last of a swing, before a scale's slower steady rate) is not enough: the
 * run needs a second reading, or twice the settle time of silence (a scale that reports only changes).
 */
export interface SettledWeight {
  grams: number;
  /** Changes each time a new weight settles (a different item, or the same one put back). */
  episode: number;
  since: number;
}

export class WeightSettler {
  readonly #toleranceGrams: number;
  readonly #settleMs: number;
  #runStart = 0;
  #runMin = 0;
  #runMax = 0;
  #runReadings = 0;
  #latest: number | null = null;
  #lastReadingAt: number | null = null;
  #settled: SettledWeight | null = null;
  #episode = 0;
  #scaleSaysMoving = false;

  constructor(toleranceGrams: number, settleMs: number) {
    this.#toleranceGrams = toleranceGrams;
    this.#settleMs = settleMs;
  }

  /** Returns the settled weight when this reading made a new one settle. */
  add(grams: number, at: number, stable?: boolean): SettledWeight | null {
    const value = Object.is(grams, -0) ? 0 : grams;
    const inRun = this.#latest !== null && Math.max(this.#runMax, value) - Math.min(this.#runMin, value) <= this.#toleranceGrams && !this.#scaleSaysMoving;
    this.#lastReadingAt = at;
    this.#latest = value;
    if (stable === false) {
      this.#scaleSaysMoving = true;
      this.#settled = null;
      this.#startRun(value, at);
      return null;
    }
    this.#scaleSaysMoving = false;
    if (inRun && this.#runStart <= at) {
      this.#runMin = Math.min(this.#runMin, value);
      this.#runMax = Math.max(this.#runMax, value);
      this.#runReadings += 1;
    } else {
      this.#startRun(value, at);
    }
    if (this.#settled !== null && Math.abs(this.#settled.grams - value) > this.#toleranceGrams) this.#settled = null;
    if (stable === true && (this.#settled === null || Math.abs(this.#settled.grams - value) > this.#toleranceGrams)) {
      return this.#settle(value, at);
    }
    return this.check(at);
  }

  /** Settles by time alone (a scale that only reports changes goes quiet once steady). */
  check(now: number): SettledWeight | null {
    if (this.#settled !== null || this.#latest === null || this.#scaleSaysMoving) return null;
    const quietFor = now - (this.#lastReadingAt ?? now);
    if (now - this.#runStart >= this.#settleMs && (this.#runReadings >= 2 || quietFor >= 2 * this.#settleMs)) return this.#settle(this.#latest, now);
    return null;
  }

  get settled(): SettledWeight | null {
    return this.#settled;
  }

  get latest(): number | null {
    return this.#latest;
  }

  get lastReadingAt(): number | null {
    return this.#lastReadingAt;
  }

  #startRun(value: number, at: number): void {
    this.#runStart = at;
    this.#runMin = value;
    this.#runMax = value;
    this.#runReadings = 1;
  }

  #settle(grams: number, at: number): SettledWeight {
    this.#episode += 1;
    this.#settled = { grams, episode: this.#episode, since: at };
    return this.#settled;
  }
}

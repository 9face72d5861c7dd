import {
  commandOwner,
  controlResult,
  type ControlCommand,
  type ControlOutcomeBody,
  type ControlResult,
  type LaneCommand,
  type RefusalReason,
} from '@sightline/schemas';
import { summary } from './basket.ts';
import { orderedBindings } from './keypads.ts';
import type { Lane, LaneLogger } from './lane.ts';
import type { CheckoutMetrics } from './metrics.ts';

type Outcome = ControlOutcomeBody;

/** HTTP requests waiting for their command to come back from the broker, at most. */
export const MAX_WAITING = 64;

export interface ControlsOptions {
  lanes: ReadonlyMap<string, Lane>;
  metrics: CheckoutMetrics;
  logger: LaneLogger;
  now: () => number;
}

export class WaitError extends Error {
  readonly code: 'busy' | 'in-use' | 'timeout' | 'closed';
  constructor(code: WaitError['code'], message: string) {
    super(message);
    this.name = 'WaitError';
    this.code = code;
  }
}

interface Waiter {
  resolve(result: ControlResult): void;
  reject(err: WaitError): void;
  timer: NodeJS.Timeout;
}

/**
 * The shopper's controls checkout owns (help, basket, remove-last, finish, more-time, language):
 * each carried out on its lane and answered with a control result. The speaker's commands are
 * not answered here, but count as activity all the same.
 */
export class Controls {
  readonly #lanes: ReadonlyMap<string, Lane>;
  readonly #metrics: CheckoutMetrics;
  readonly #log: LaneLogger;
  readonly #now: () => number;
  /** The language of answers for a lane this checkout does not serve: its first lane's. */
  readonly #fallbackLocale: string;
  readonly #waiting = new Map<string, Waiter>();

  constructor({ lanes, metrics, logger, now }: ControlsOptions) {
    this.#lanes = lanes;
    this.#metrics = metrics;
    this.#log = logger;
    this.#now = now;
    this.#fallbackLocale = [...lanes.values()][0]?.config.locale ?? 'en-US';
  }

  /** Carries out a command checkout owns and answers it; null for the speaker's commands. */
  handle(laneId: string, command: ControlCommand): ControlResult | null {
    const lane = this.#lanes.get(laneId);
    const source = command.source ?? 'none';
    if (commandOwner[command.command] !== 'checkout') {
      lane?.activity();
      this.#metrics.controls.inc({ command: command.command, outcome: 'speaker', source });
      return null;
    }
    let result: ControlResult;
    if (!lane) {
      result = this.unknownLane(laneId, command);
    } else {
      const before = lane.locale;
      lane.activity();
      const outcome = this.#carryOut(lane, command.command);
      // A language change is answered in the new language; a finish in the one its receipt is said in.
      result = this.#result(laneId, outcome.outcome === 'language' ? lane.locale : before, command, outcome);
    }
    this.#metrics.controls.inc({ command: command.command, outcome: result.outcome, source });
    this.#log.info(
      { lane: laneId, command: command.command, source, outcome: result.outcome, ...(result.outcome === 'refused' ? { reason: result.reason } : {}) },
      'control',
    );
    this.#settle(laneId, result);
    return result;
  }

  /** The answer to a command that could not be read (no `command`: it is not known). */
  invalid(laneId: string, error: string): ControlResult {
    this.#metrics.controls.inc({ command: 'none', outcome: 'refused', source: 'none' });
    const locale = this.#lanes.get(laneId)?.locale ?? this.#fallbackLocale;
    return this.#result(laneId, locale, null, { outcome: 'refused', reason: 'invalid', error: `invalid command: ${error}`.slice(0, 2000) });
  }

  /** The answer for a lane this checkout does not serve, in its first lane's language. */
  unknownLane(laneId: string, command: ControlCommand): ControlResult {
    const error = `unknown lane "${laneId}": this checkout serves ${[...this.#lanes.keys()].join(', ')}`;
    return this.#result(laneId, this.#fallbackLocale, command, { outcome: 'refused', reason: 'unknown-lane', error });
  }

  /**
   * Resolves with the result of the command carrying `transaction` on `lane` once checkout has
   * carried it out (the HTTP route publishes the command and waits for it to come back); rejects
   * after `timeoutMs`. Throws at once when the transaction is already awaited or too many are.
   */
  waitFor(lane: string, transaction: string, timeoutMs: number): Promise<ControlResult> {
    const key = `${lane}\n${transaction}`;
    if (this.#waiting.has(key)) throw new WaitError('in-use', `transaction ${transaction} is already waiting for its answer`);
    if (this.#waiting.size >= MAX_WAITING) throw new WaitError('busy', `${MAX_WAITING} controls are already waiting for their answer`);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(key);
        reject(new WaitError('timeout', `no answer within ${timeoutMs} ms: is the broker reachable?`));
      }, timeoutMs);
      this.#waiting.set(key, { resolve, reject, timer });
    });
  }

  /** HTTP requests waiting for their answer now. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** Gives up a wait (its command could not be published). */
  cancel(lane: string, transaction: string): void {
    const key = `${lane}\n${transaction}`;
    const waiter = this.#waiting.get(key);
    if (!waiter) return;
    clearTimeout(waiter.timer);
    this.#waiting.delete(key);
  }

  #settle(lane: string, result: ControlResult): void {
    if (result.transaction === undefined) return;
    const key = `${lane}\n${result.transaction}`;
    const waiter = this.#waiting.get(key);
    if (!waiter) return;
    clearTimeout(waiter.timer);
    this.#waiting.delete(key);
    waiter.resolve(result);
  }

  /** `command` null: it could not be read. */
  #result(lane: string, locale: string, command: ControlCommand | null, outcome: Outcome): ControlResult {
    return controlResult({ lane, locale, at: this.#now(), by: 'checkout', command }, outcome);
  }

  #carryOut(lane: Lane, command: LaneCommand): Outcome {
    const refused = (reason: RefusalReason, error: string): Outcome => ({ outcome: 'refused', reason, error });
    switch (command) {
      case 'help':
        return { outcome: 'help', keys: lane.config.keypad ? orderedBindings(lane.config.keypad.keys) : [], moreTimeSeconds: lane.idleWarningSeconds };
      case 'basket': {
        const { basket } = lane;
        return { outcome: 'basket', currency: basket.currency, basket: summary(basket), read: lane.read() };
      }
      case 'remove-last':
      case 'finish': {
        const done = lane.command({ action: command });
        if (!done.ok) return refused(done.reason, done.error);
        return { outcome: command === 'finish' ? 'finished' : 'removed', basket: summary(done.basket) };
      }
      case 'more-time': {
        const seconds = lane.moreTime();
        if (seconds === null) return refused('no-open-basket', `lane ${lane.id} has no open basket with items: there is no time limit to extend`);
        return { outcome: 'more-time', seconds };
      }
      case 'language': {
        const switched = lane.switchLanguage();
        if (!switched) return refused('one-language', `lane ${lane.id} speaks only ${lane.locale}`);
        return { outcome: 'language', from: switched.from };
      }
      default:
        // The speaker's commands never get here (commandOwner); a new command in the contract would.
        return refused('invalid', `checkout does not carry out ${command}`);
    }
  }

  /** Fails every wait (the app is stopping). */
  close(): void {
    for (const [key, waiter] of this.#waiting) {
      clearTimeout(waiter.timer);
      this.#waiting.delete(key);
      waiter.reject(new WaitError('closed', 'checkout is stopping'));
    }
  }
}

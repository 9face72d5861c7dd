/**
 * The shopper's controls of a lane (ADA 707.5, Section 508 402, EN 301 549 5.1.3): any control
 * cuts what the lane is saying at once; the speaker then carries out the sound commands (repeat,
 * pause, resume, stop, volume) and answers each on `lanes/{lane}/control/result`, which tts speaks.
 */
import type { Logger } from '@sightline/kit';
import { commandOwner, controlResult, type ControlCommand, type ControlResult, type LaneCommand, type RefusalReason, type Volume } from '@sightline/schemas';
import type { ControlOutcomeLabel, SpeakerMetrics } from './metrics.ts';
import type { Player } from './player.ts';

export interface ControlsOptions {
  player: Player;
  metrics: SpeakerMetrics;
  logger: Logger;
  now: () => number;
  /** The lane's last seen locale, else the speaker's default: results are said in it. */
  localeOf: (lane: string) => string;
  /** A second repeat within this long of the previous one asks checkout to read the basket; 0 never. */
  repeatAgainMs: number;
  publishResult: (lane: string, result: ControlResult) => Promise<unknown>;
  publishCommand: (lane: string, command: ControlCommand) => Promise<unknown>;
}

type Refusal = { outcome: 'refused'; reason: RefusalReason; error: string; volume?: Volume };
type Outcome =
  | { outcome: 'repeated'; of: string }
  | { outcome: 'paused' }
  | { outcome: 'resumed' }
  | { outcome: 'stopped' }
  | { outcome: 'volume'; volume: Volume }
  | Refusal;

const REFUSALS: Partial<Record<RefusalReason, string>> = {
  'nothing-to-repeat': 'nothing has been said on this lane yet',
  'not-paused': 'the lane is not paused',
  'volume-at-max': 'the volume is at its highest level',
  'volume-at-min': 'the volume is at its lowest level',
};

export class Controls {
  private readonly options: ControlsOptions;
  private readonly log: Logger;

  constructor(options: ControlsOptions) {
    this.options = options;
    this.log = options.logger.child({ module: 'controls' });
  }

  /** A control for `lane` from the bus (already validated). */
  onControl(control: ControlCommand, lane: string): void {
    const { player } = this.options;
    const { command } = control;
    const paused = player.isPaused(lane);
    const pausing = command === 'pause' || (command === 'toggle-pause' && !paused);
    const resuming = paused && (command === 'resume' || command === 'toggle-pause');
    // At once, before anything else: what the lane says stops the moment the shopper asks for
    // anything. A pause keeps the rest; a resume lets the answer to the pause go on. The basket
    // request this speaker sent itself was already preceded by the repeat's cut.
    if (pausing) player.pause(lane);
    else if (!resuming && control.source !== 'speaker') player.cut(lane);
    // "Twice in a row": anything else the shopper asks for in between makes the next repeat a repeat.
    if (command !== 'repeat' && control.source !== 'speaker') player.laneState(lane).lastRepeatAt = null;
    if (commandOwner[command] !== 'speaker') {
      this.count(command, 'checkout');
      return;
    }
    const outcome = this.carryOut(command, lane, control, paused);
    if (outcome === null) return;
    const result = controlResult({ lane, locale: this.options.localeOf(lane), at: this.options.now(), by: 'speaker', command: control }, outcome);
    this.count(command, outcome.outcome);
    this.log.info({ lane, command, outcome: outcome.outcome, ...(outcome.outcome === 'refused' ? { reason: outcome.reason } : {}) }, 'control');
    this.options.publishResult(lane, result).catch((err: unknown) => this.log.error({ err, lane, command }, 'could not publish the control result'));
  }

  /** `wasPaused`: before this control (a pause has already been carried out above). */
  private carryOut(command: LaneCommand, lane: string, control: ControlCommand, wasPaused: boolean): Outcome | null {
    const { player } = this.options;
    switch (command) {
      case 'repeat':
        return this.repeat(lane, control);
      case 'pause':
        return { outcome: 'paused' };
      case 'resume':
        return player.resume(lane) ? { outcome: 'resumed' } : refusal('not-paused');
      case 'toggle-pause':
        return wasPaused && player.resume(lane) ? { outcome: 'resumed' } : { outcome: 'paused' };
      case 'stop':
        player.stopLane(lane);
        return { outcome: 'stopped' };
      case 'volume-up':
      case 'volume-down': {
        const { volume, changed } = player.changeVolume(lane, command === 'volume-up' ? 1 : -1);
        if (changed) return { outcome: 'volume', volume };
        return { ...refusal(command === 'volume-up' ? 'volume-at-max' : 'volume-at-min'), volume };
      }
      default:
        return null;
    }
  }

  /** Repeat: the last announcement again; a second repeat soon after asks checkout to read the basket instead. */
  private repeat(lane: string, control: ControlCommand): Outcome | null {
    const { player, now, repeatAgainMs } = this.options;
    const state = player.laneState(lane);
    const at = now();
    if (state.lastRepeatAt !== null && at - state.lastRepeatAt < repeatAgainMs) {
      // A third press repeats again: the double press was the request.
      state.lastRepeatAt = null;
      this.count('repeat', 'basket-requested');
      this.log.info({ lane }, 'repeat twice: asking for the basket');
      const basket: ControlCommand = {
        command: 'basket',
        source: 'speaker',
        ...(control.transaction !== undefined ? { transaction: control.transaction } : {}),
      };
      this.options.publishCommand(lane, basket).catch((err: unknown) => this.log.error({ err, lane }, 'could not ask for the basket'));
      return null;
    }
    state.lastRepeatAt = at;
    const of = player.replay(lane);
    return of === null ? refusal('nothing-to-repeat') : { outcome: 'repeated', of };
  }

  private count(command: LaneCommand, outcome: ControlOutcomeLabel): void {
    this.options.metrics.controls.inc({ command, outcome });
  }
}

function refusal(reason: RefusalReason): Refusal {
  return { outcome: 'refused', reason, error: REFUSALS[reason] ?? reason };
}

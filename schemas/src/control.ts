import { z } from 'zod';
import { epochMsSchema, safeTextSchema } from './bounds.ts';
import { currencySchema, localeSchema } from './catalog.ts';
import { idSchema } from './ids.ts';
import { basketSummarySchema, eventIdSchema, spokenLinesSchema } from './lanes.ts';

/**
 * The shopper's controls of a lane (ADA 707.5, Section 508 402, EN 301 549 5.1.3): commands in on
 * `lanes/{lane}/control` from a keypad, the lane screen or an integrator, and what came of each out
 * on `lanes/{lane}/control/result`, which tts turns into speech. Each command has one owner: the
 * speaker obeys what concerns the sound, checkout what concerns the basket and the session.
 */

export const laneCommands = [
  'repeat',
  'pause',
  'resume',
  'toggle-pause',
  'stop',
  'volume-up',
  'volume-down',
  'help',
  'basket',
  'remove-last',
  'finish',
  'more-time',
  'language',
] as const;
export const laneCommandSchema = z.enum(laneCommands).describe('what the shopper asked for');
export type LaneCommand = z.infer<typeof laneCommandSchema>;

/** Which service carries out each command; the other one only stops talking (any control interrupts). */
export const commandOwner: Readonly<Record<LaneCommand, 'speaker' | 'checkout'>> = {
  repeat: 'speaker',
  pause: 'speaker',
  resume: 'speaker',
  'toggle-pause': 'speaker',
  stop: 'speaker',
  'volume-up': 'speaker',
  'volume-down': 'speaker',
  help: 'checkout',
  basket: 'checkout',
  'remove-last': 'checkout',
  finish: 'checkout',
  'more-time': 'checkout',
  language: 'checkout',
};

/** Where a command came from: for logs and metrics, and so a lane screen can tell its own presses. */
export const controlSourceSchema = z.enum(['keypad', 'screen', 'integrator', 'speaker']);

export const controlCommandSchema = z
  .strictObject({
    command: laneCommandSchema,
    transaction: eventIdSchema.optional().describe('echoed in the result, to match the answer to the request'),
    source: controlSourceSchema.optional().describe('what sent it: `keypad`, `screen`, `integrator`, or `speaker` (a second repeat asks for the basket)'),
  })
  .describe("A shopper's command to a lane");
export type ControlCommand = z.infer<typeof controlCommandSchema>;

/** The outputs a lane can play on: the loudspeaker, or a headset for private listening. */
export const audioOutputSchema = z.enum(['speaker', 'headset']);
export type AudioOutput = z.infer<typeof audioOutputSchema>;

export const MAX_VOLUME_STEPS = 20;
export const volumeSchema = z
  .strictObject({
    output: audioOutputSchema,
    level: z.number().int().min(1).max(MAX_VOLUME_STEPS),
    steps: z.number().int().min(2).max(MAX_VOLUME_STEPS),
  })
  .describe('a volume level, said as "volume 5 of 8"');
export type Volume = z.infer<typeof volumeSchema>;

export const refusalReasons = [
  'nothing-to-repeat',
  'not-paused',
  'volume-at-max',
  'volume-at-min',
  'basket-empty',
  'basket-finished',
  'no-open-basket',
  'one-language',
  'unknown-lane',
  'invalid',
] as const;
export const refusalReasonSchema = z.enum(refusalReasons);
export type RefusalReason = z.infer<typeof refusalReasonSchema>;

/** A key of the lane's keypad and the command it gives, for the spoken help. */
export const keyBindingSchema = z.strictObject({
  key: z
    .string()
    .regex(/^[A-Z0-9]{1,16}$/)
    .describe('the key name (Linux input names without KEY_: KP5, KPPLUS, F1)'),
  command: laneCommandSchema,
});

const resultBase = {
  id: eventIdSchema.describe('result id'),
  lane: idSchema,
  locale: localeSchema.describe('the language the shopper hears now'),
  at: epochMsSchema,
  command: laneCommandSchema,
  transaction: eventIdSchema.optional(),
  by: z.enum(['speaker', 'checkout']).describe('the service that carried it out'),
};

export const controlResultSchema = z
  .discriminatedUnion('outcome', [
    z.strictObject({ ...resultBase, outcome: z.literal('repeated'), of: eventIdSchema.describe('the announcement played again') }),
    z.strictObject({ ...resultBase, outcome: z.literal('paused') }),
    z.strictObject({ ...resultBase, outcome: z.literal('resumed') }),
    z.strictObject({ ...resultBase, outcome: z.literal('stopped') }),
    z.strictObject({ ...resultBase, outcome: z.literal('volume'), volume: volumeSchema }),
    z.strictObject({
      ...resultBase,
      outcome: z.literal('help'),
      keys: z.array(keyBindingSchema).max(40).describe('the lane keypad, key by key; empty when the lane has none'),
      moreTimeSeconds: z.number().int().min(1).max(86_400).optional(),
    }),
    z.strictObject({ ...resultBase, outcome: z.literal('basket'), currency: currencySchema, basket: basketSummarySchema, read: spokenLinesSchema }),
    z.strictObject({ ...resultBase, outcome: z.literal('removed'), basket: basketSummarySchema }),
    z.strictObject({ ...resultBase, outcome: z.literal('finished'), basket: basketSummarySchema }),
    z.strictObject({
      ...resultBase,
      outcome: z.literal('more-time'),
      seconds: z.number().int().min(1).max(86_400).describe('time until the next idle warning'),
    }),
    z.strictObject({ ...resultBase, outcome: z.literal('language'), from: localeSchema }),
    z.strictObject({
      ...resultBase,
      command: laneCommandSchema.optional().describe('absent when the command itself could not be read'),
      outcome: z.literal('refused'),
      reason: refusalReasonSchema,
      error: safeTextSchema(2000, 1),
      volume: volumeSchema.optional().describe('for volume-at-max and volume-at-min: the level it stays at'),
    }),
  ])
  .describe('What came of a control: each outcome is spoken (or, where the action itself is the answer, only shown)');
export type ControlResult = z.infer<typeof controlResultSchema>;
export type ControlOutcome = ControlResult['outcome'];

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** What a command came to: a result without the fields every result has. */
export type ControlOutcomeBody = DistributiveOmit<ControlResult, 'id' | 'lane' | 'locale' | 'at' | 'command' | 'transaction' | 'by'>;

/**
 * A result as the speaker and checkout publish it: a fresh id, the lane, the language the
 * shopper hears, the time, who carried it out, the command answered (null when it could not be
 * read) with its transaction echoed, and the outcome.
 */
export function controlResult(
  header: { lane: string; locale: string; at: number; by: ControlResult['by']; command: ControlCommand | null },
  outcome: ControlOutcomeBody,
): ControlResult {
  const { command } = header;
  return {
    id: `ctl-${crypto.randomUUID()}`,
    lane: header.lane,
    locale: header.locale,
    at: header.at,
    ...(command ? { command: command.command } : {}),
    ...(command?.transaction !== undefined ? { transaction: command.transaction } : {}),
    by: header.by,
    ...outcome,
  } as ControlResult;
}

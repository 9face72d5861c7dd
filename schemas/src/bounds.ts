import { z } from 'zod';

/**
 * What is physically sane for the values messages carry. Every number, string and array in a
 * payload schema has a bound, so a message cannot carry a value a service cannot handle (a
 * `capturedAt` past the end of the Date range once made `new Date()` throw inside sync). A test
 * walks every channel's JSON Schema and fails on an unbounded field.
 */

/** 2200-01-01T00:00:00Z: far past any real clock, far inside Date's range (8.64e15). */
export const MAX_EPOCH_MS = Date.UTC(2200, 0, 1);

export const epochMsSchema = z.number().int().min(0).max(MAX_EPOCH_MS, 'must be a time before the year 2200, in milliseconds since the Unix epoch');

/** A counter that only grows (frame sequence numbers): any safe integer. */
export const seqSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** An image side: JPEG's own limit. */
export const pixelsSchema = z.number().int().min(1).max(65_535);

/** A measured duration, up to a day. */
export const durationMsSchema = z.number().min(0).max(86_400_000);

/** A count of something held on a device (items, bytes, repeats). */
export const countSchema = (max: number) => z.number().int().min(0).max(max);

/**
 * Characters that make text lie about itself or break what it is embedded in: C0/C1 controls,
 * bidirectional overrides and isolates (U+202A-202E, U+2066-2069), and lone surrogates.
 */
export function unsafeTextProblem(text: string, { multiline = false } = {}): string | null {
  if (!text.isWellFormed()) return 'contains a lone surrogate (not valid Unicode)';
  if ((multiline ? /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/ : /[\u0000-\u001f\u007f-\u009f]/).test(text)) return 'contains a control character';
  if (/[\u202a-\u202e\u2066-\u2069]/.test(text)) return 'contains a bidirectional override';
  return null;
}

const checkedText = (max: number, min: number, multiline: boolean) =>
  z
    .string()
    .min(min)
    .max(max)
    .superRefine((text, ctx) => {
      const problem = unsafeTextProblem(text, { multiline });
      if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
    });

/** Text for people or logs (an error, a reason): bounded, lines and tabs allowed, no other controls or bidi overrides. */
export const safeTextSchema = (max: number, min = 0) => checkedText(max, min, true);

/** A model's class name: one line. */
export const labelSchema = checkedText(256, 1, false);

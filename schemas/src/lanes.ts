import { z } from 'zod';
import { currencySchema, localeSchema, MAX_ITEM_GRAMS, plainTextSchema, skuSchema, spokenNameSchema } from './catalog.ts';
import { PayloadError } from './errors.ts';
import { countSchema, durationMsSchema, epochMsSchema, labelSchema, safeTextSchema, seqSchema } from './bounds.ts';
import { frameRefSchema } from './frame-ref.ts';
import { idSchema } from './ids.ts';
import { buildWav, checkPcm, MAX_WAV_BYTES, parseWav, type Pcm } from './wav.ts';

/** Payloads of a checkout lane: scale readings, scans, the basket, lane events and speech. */

/** The heaviest reading a lane's scale may report (a checkout scale's capacity). */
export const MAX_SCALE_GRAMS = 2 * MAX_ITEM_GRAMS;

const epochMs = epochMsSchema;
/** Items in one basket line, and lines in one basket. */
const MAX_QUANTITY = 1000;
const MAX_BASKET_ITEMS = 1000;
const minor = z.number().int().min(0).max(10_000_000_000);
/** Ids Sightline makes for scans, baskets and utterances (UUIDs), and an integrator's own ids. */
export const eventIdSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . : -');

export const weightReadingSchema = z
  .strictObject({
    grams: z
      .number()
      .finite()
      .min(0, 'a scale never weighs less than nothing: zero (tare) it')
      .max(MAX_SCALE_GRAMS, `is beyond any checkout scale (max ${MAX_SCALE_GRAMS} g)`)
      .describe('weight on the scale, grams'),
    at: epochMs.optional().describe('when it was read, milliseconds since the Unix epoch (UTC); the arrival time when absent'),
    stable: z.boolean().optional().describe('the scale says the reading has settled; when absent, checkout decides by itself (tolerance and settle time)'),
  })
  .describe('One reading of a lane scale');
export type WeightReading = z.infer<typeof weightReadingSchema>;

export const productRefSchema = z
  .strictObject({
    sku: skuSchema,
    label: labelSchema.describe('the model label it was recognised by'),
    name: z.string().min(1).max(120).describe('display name in the lane locale'),
    spoken: spokenNameSchema.describe('how to say it in the lane locale'),
  })
  .describe('A catalog product, named in the lane locale');
export type ProductRef = z.infer<typeof productRefSchema>;

export const basketSummarySchema = z
  .strictObject({
    id: eventIdSchema.describe('basket id'),
    count: countSchema(MAX_QUANTITY * MAX_BASKET_ITEMS).describe('items in the basket'),
    totalMinor: minor.describe('basket total, minor units'),
  })
  .describe('The basket after this event');

export const scanSchema = z
  .strictObject({
    id: eventIdSchema.describe('scan id, also the basket item id'),
    lane: idSchema,
    locale: localeSchema.describe('the lane locale: what the shopper hears and reads'),
    at: epochMs.describe('when the scan was decided'),
    camera: idSchema.describe('camera that saw the item'),
    seq: seqSchema.describe('sequence number of the frame that completed the scan'),
    capturedAt: epochMs.describe('capture time of that frame'),
    product: productRefSchema,
    confidence: z.number().min(0).max(1).describe('mean detector score over the frames that made the scan'),
    pricing: z.enum(['unit', 'kg']).describe('priced per item or by weight'),
    quantity: z.number().int().min(1).max(MAX_QUANTITY).describe('items (1 for goods sold by weight)'),
    weightGrams: z
      .number()
      .min(0)
      .max(MAX_SCALE_GRAMS)
      .nullable()
      .describe('the settled scale reading that priced the item; null when the scale was not needed'),
    unitPriceMinor: minor.describe('price per item or per kilogram, minor units'),
    priceMinor: minor.describe('what this scan costs, minor units (rounded half up from weight x price per kg)'),
    currency: currencySchema,
    basket: basketSummarySchema,
  })
  .describe('An item scanned at a checkout lane and added to its basket');
export type Scan = z.infer<typeof scanSchema>;

export const basketItemSchema = z.strictObject({
  id: eventIdSchema.describe('scan id'),
  sku: skuSchema,
  name: z.string().min(1).max(120),
  quantity: z.number().int().min(1).max(MAX_QUANTITY),
  weightGrams: z.number().min(0).max(MAX_SCALE_GRAMS).nullable(),
  unitPriceMinor: minor,
  priceMinor: minor,
  at: epochMs.describe('when it was scanned'),
});
export type BasketItem = z.infer<typeof basketItemSchema>;

export const basketSchema = z
  .strictObject({
    id: eventIdSchema.describe('basket id; a new one starts after finish or clear'),
    lane: idSchema,
    status: z
      .enum(['open', 'finished', 'abandoned'])
      .describe('finished after the finish command (the total is final); abandoned when the shopper left it idle past the session time'),
    currency: currencySchema,
    items: z.array(basketItemSchema).max(MAX_BASKET_ITEMS),
    count: countSchema(MAX_QUANTITY * MAX_BASKET_ITEMS),
    totalMinor: minor,
    updatedAt: epochMs,
  })
  .describe('The basket of a lane, republished (retained) after every change');
export type Basket = z.infer<typeof basketSchema>;

export const basketCommandSchema = z
  .strictObject({
    action: z.enum(['remove-last', 'clear', 'finish']).describe('remove the last item, empty the basket, or end the purchase with its total'),
    transaction: eventIdSchema.optional().describe('echoed in the result, to match the answer to the request'),
  })
  .describe('A command to a lane basket');
export type BasketCommand = z.infer<typeof basketCommandSchema>;

export const basketResultSchema = z
  .discriminatedUnion('status', [
    z.strictObject({
      status: z.literal('ok'),
      action: basketCommandSchema.shape.action,
      transaction: eventIdSchema.optional(),
      basket: basketSummarySchema,
    }),
    z.strictObject({
      status: z.literal('error'),
      action: basketCommandSchema.shape.action.optional(),
      transaction: eventIdSchema.optional(),
      error: safeTextSchema(2000, 1),
    }),
  ])
  .describe('The answer to a basket command');
export type BasketResult = z.infer<typeof basketResultSchema>;

/** Lines a receipt or a basket read-out speaks one by one; beyond them it says how many more. */
export const MAX_SPOKEN_LINES = 30;

export const spokenLineSchema = z
  .strictObject({
    product: productRefSchema,
    pricing: z.enum(['unit', 'kg']).describe('priced per item or by weight: the weight is said only for the latter'),
    quantity: z.number().int().min(1).max(MAX_QUANTITY),
    weightGrams: z.number().min(0).max(MAX_SCALE_GRAMS).nullable(),
    priceMinor: minor,
  })
  .describe('One basket line as it is read to the shopper');
export type SpokenLine = z.infer<typeof spokenLineSchema>;

export const spokenLinesSchema = z
  .strictObject({
    lines: z.array(spokenLineSchema).max(MAX_SPOKEN_LINES).describe(`the first ${MAX_SPOKEN_LINES} lines of the basket, in scanning order`),
    more: countSchema(MAX_BASKET_ITEMS).describe('lines not listed (said as "and 3 more items")'),
  })
  .describe('The basket read line by line');
export type SpokenLines = z.infer<typeof spokenLinesSchema>;

const laneEventBase = {
  id: eventIdSchema.describe('event id'),
  lane: idSchema,
  locale: localeSchema,
  at: epochMs,
};

export const troubleSchema = z.enum(['camera-offline', 'inference-offline', 'scale-offline', 'speech-unavailable']);
export type Trouble = z.infer<typeof troubleSchema>;

export const laneEventSchema = z
  .discriminatedUnion('type', [
    z.strictObject({
      ...laneEventBase,
      type: z.literal('not-recognised'),
      camera: idSchema,
      frame: frameRefSchema.optional().describe('the frame that showed it, when the camera saw something (for an alert snapshot)'),
      label: labelSchema.optional().describe('what the model saw, when it saw something the catalog does not sell'),
    }),
    z.strictObject({ ...laneEventBase, type: z.literal('place-on-scale'), product: productRefSchema }),
    z.strictObject({
      ...laneEventBase,
      type: z.literal('weight-mismatch'),
      product: productRefSchema,
      frame: frameRefSchema.optional().describe('the frame that completed the scan the scale disagreed with (for an alert snapshot)'),
      weightGrams: z.number().min(0).max(MAX_SCALE_GRAMS),
      expected: z
        .strictObject({
          min: z
            .number()
            .min(0)
            .max(MAX_QUANTITY * MAX_SCALE_GRAMS),
          max: z
            .number()
            .min(0)
            .max(MAX_QUANTITY * MAX_SCALE_GRAMS),
        })
        .describe('expected grams for the counted items'),
    }),
    z.strictObject({
      ...laneEventBase,
      type: z.literal('removed'),
      item: basketItemSchema,
      product: productRefSchema,
      currency: currencySchema,
      basket: basketSummarySchema,
    }),
    z.strictObject({ ...laneEventBase, type: z.literal('cleared'), currency: currencySchema, basket: basketSummarySchema }),
    z.strictObject({
      ...laneEventBase,
      type: z.literal('total'),
      currency: currencySchema,
      basket: basketSummarySchema,
      receipt: spokenLinesSchema.optional().describe('every line with its price: the spoken receipt (absent from older checkouts: the total alone is said)'),
    }),
    z.strictObject({
      ...laneEventBase,
      type: z.literal('idle-warning'),
      remainingSeconds: z.number().int().min(1).max(86_400).describe('the session ends this long after the warning unless the shopper asks for more time'),
      moreTimeKey: z
        .string()
        .regex(/^[A-Z0-9]{1,16}$/)
        .optional()
        .describe('the keypad key that asks for more time (a key name like KP3), when the lane has a keypad'),
    }),
    z.strictObject({
      ...laneEventBase,
      type: z.literal('session-ended'),
      reason: z.enum(['timeout']).describe('why: the shopper did nothing through the warning and the time after it'),
      currency: currencySchema,
      basket: basketSummarySchema.describe('the basket that was abandoned'),
    }),
    z.strictObject({
      ...laneEventBase,
      type: z.literal('trouble'),
      problem: troubleSchema,
      state: z.enum(['begin', 'end']).describe('the problem started or went away'),
    }),
  ])
  .describe('Something the shopper must be told that is not a scan');
export type LaneEvent = z.infer<typeof laneEventSchema>;
export type LaneEventType = LaneEvent['type'];

export const speechSchema = z
  .strictObject({
    id: eventIdSchema.describe('utterance id'),
    lane: idSchema,
    at: epochMs.describe('when the audio was ready'),
    source: z
      .strictObject({
        kind: z.enum(['scan', 'control', ...laneEventSchema.options.map((option) => option.shape.type.value)]),
        id: eventIdSchema.describe('the scan, lane event or control result id'),
        at: epochMs.describe('when that scan, event or result happened'),
        command: z
          .string()
          .regex(/^[a-z-]{1,32}$/)
          .optional()
          .describe('for `control`: the command it answers'),
      })
      .describe('what is being announced'),
    text: plainTextSchema(1000).describe('the sentence, as plain text'),
    locale: localeSchema,
    provider: safeTextSchema(32, 1).describe('the voice that spoke it: `espeak` (offline) or `azure`'),
    voice: safeTextSchema(128, 1),
    cached: z.boolean().describe('served from the audio cache'),
    fallback: z
      .strictObject({ from: safeTextSchema(32), reason: safeTextSchema(500) })
      .optional()
      .describe('present when the configured provider failed or was too slow and the offline voice spoke instead'),
    synthMs: durationMsSchema.describe('time to get the audio (0 when cached)'),
    durationMs: durationMsSchema.describe('length of the audio'),
    interruptible: z.boolean().describe('a newer announcement may cut this one short; false for totals'),
    part: z
      .strictObject({
        index: z
          .number()
          .int()
          .min(0)
          .max(MAX_SPOKEN_LINES + 4),
        count: z
          .number()
          .int()
          .min(1)
          .max(MAX_SPOKEN_LINES + 5),
      })
      .optional()
      .describe('a long announcement (a receipt, a basket read-out) comes as one audio message per line: which one this is'),
  })
  .describe('What is being said to the shopper');
export type Speech = z.infer<typeof speechSchema>;

export interface Audio {
  meta: Speech;
  /** The spoken audio; the WAV around it (with `meta` in its `slmd` chunk) is built only by `encode`. */
  pcm: Pcm;
}

/** Audio is parsed once where it arrives (`decode`: metadata and PCM) and built once where it leaves (`encode`). */
export const audioCodec = {
  encode({ meta, pcm }: Audio): Buffer {
    checkPcm(pcm);
    return buildWav(pcm.samples, pcm.format, JSON.stringify(speechSchema.parse(meta)));
  },
  decode(payload: Buffer): Audio {
    if (payload.length === 0) throw new PayloadError('empty', 'empty payload');
    if (payload.length > MAX_WAV_BYTES) throw new PayloadError('oversize', `payload of ${payload.length} bytes exceeds ${MAX_WAV_BYTES}`);
    const { pcm, metadata } = parseWav(payload);
    if (metadata === undefined) throw new PayloadError('no-metadata', 'WAV has no slmd metadata chunk');
    let raw: unknown;
    try {
      raw = JSON.parse(metadata);
    } catch (err) {
      throw new PayloadError('no-metadata', `slmd chunk is not JSON: ${(err as Error).message}`);
    }
    const meta = speechSchema.safeParse(raw);
    if (!meta.success) throw new PayloadError('invalid', z.prettifyError(meta.error));
    return { meta: meta.data, pcm };
  },
};

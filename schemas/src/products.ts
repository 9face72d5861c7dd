import { z } from 'zod';
import { epochMsSchema, safeTextSchema, seqSchema } from './bounds.ts';
import { idSchema } from './ids.ts';
import { boxSchema } from './vision.ts';

/** Payloads of product enrollment: teaching the inference service the store's own products. */

/** A product's id: also the label its recognised objects get, which the catalog maps to a SKU. */
export const productIdSchema = idSchema.describe('product id (1-64 of A-Z a-z 0-9 _ -): the label recognised objects get, named in the catalog');

/** The label an object gets when products are enrolled and none is close enough. */
export const UNKNOWN_PRODUCT_LABEL = 'unknown-product';

/** How a photo is cut before it is learned. */
export const cropModeSchema = z
  .enum(['whole', 'detector', 'box'])
  .describe('`whole`: the whole photo; `detector`: the box of the best object the running detector finds (else the whole photo); `box`: the box given');

/** Standard base64 of at most ~4 MB (the broker's payload limit). */
const base64Schema = z
  .string()
  .min(4)
  .max(5_600_000)
  .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be standard base64');

export const productPhotoUploadSchema = z.strictObject({
  image: base64Schema.describe('the photo: JPEG, PNG or WebP, base64'),
  crop: cropModeSchema.default('detector'),
  box: boxSchema.optional().describe('the part of the photo that shows the product (with crop `box`)'),
});

/** Frames (or kept images) one request may add to a product. */
export const MAX_LANE_PHOTOS = 20;

/**
 * The name sync stores a kept frame under, as its `/kept` listing gives it:
 * `<camera>/<yyyy>/<mm>/<dd>/<capturedAt>-<seq>.jpg`, or with `-<12 hex>` before `.jpg` when
 * another image already held that name. Never a path that climbs (`..`) or starts at the root.
 */
export const keptImageNameSchema = z
  .string()
  .max(160)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\/\d{4}\/\d{2}\/\d{2}\/\d{1,16}-\d{1,16}(-[0-9a-f]{12})?\.jpg$/,
    'must be a kept image name as sync lists it: <camera>/<yyyy>/<mm>/<dd>/<capturedAt>-<seq>.jpg',
  )
  .describe("a frame sync kept, by its blob name (from sync's GET /kept)");

/**
 * One picture the lane saw, to learn from: a recent frame by camera and seq (still held by the
 * inference service, the last ~30 s of each camera), or a frame sync kept, by name. The part
 * learned is `box` when given, else the frame's object number `object` (as its detections listed
 * them, best score first), else the object the lane most likely meant (the best-scored object the
 * recognition compares, people aside), else the whole frame. A kept image without a box is cut
 * to the best object the running detector finds in it, as an upload is.
 */
export const laneFrameSchema = z
  .strictObject({
    camera: idSchema.optional().describe('camera id of a recent frame'),
    seq: seqSchema.optional().describe('sequence number of a recent frame, as in its detections'),
    object: z.number().int().min(0).max(999).optional().describe("index into the frame's detections `objects` (0 = best score)"),
    kept: keptImageNameSchema.optional(),
    box: boxSchema.optional().describe('the part of the frame that shows the product'),
  })
  .superRefine((frame, ctx) => {
    const recent = frame.camera !== undefined || frame.seq !== undefined;
    if (recent && frame.kept !== undefined) ctx.addIssue({ code: 'custom', message: 'give camera and seq (a recent frame) or kept (a kept image), not both' });
    else if (!recent && frame.kept === undefined) ctx.addIssue({ code: 'custom', message: 'give camera and seq (a recent frame) or kept (a kept image)' });
    else if (recent && (frame.camera === undefined || frame.seq === undefined))
      ctx.addIssue({ code: 'custom', message: 'a recent frame needs both camera and seq' });
    if (frame.kept !== undefined && frame.object !== undefined)
      ctx.addIssue({ code: 'custom', path: ['object'], message: 'a kept image has no objects listed; give a box instead' });
  })
  .describe('A frame the lane saw: {camera, seq, object?, box?} or {kept, box?}');
export type LaneFrame = z.infer<typeof laneFrameSchema>;

export const addFromLaneSchema = z
  .strictObject({
    frames: z.array(laneFrameSchema).min(1).max(MAX_LANE_PHOTOS),
    name: safeTextSchema(120, 1).optional().describe('display name, set when given'),
  })
  .describe('Frames the lane saw, added to a product in one call: all of them, or none');
export type AddFromLane = z.infer<typeof addFromLaneSchema>;

export const productCommandSchema = z
  .discriminatedUnion('action', [
    z.strictObject({
      action: z.literal('add-photos'),
      product: productIdSchema,
      name: safeTextSchema(120, 1).optional().describe('display name, set when given'),
      photos: z.array(productPhotoUploadSchema).min(1).max(10),
    }),
    z.strictObject({
      action: z.literal('add-from-lane'),
      product: productIdSchema,
      name: safeTextSchema(120, 1).optional().describe('display name, set when given'),
      frames: z.array(laneFrameSchema).min(1).max(MAX_LANE_PHOTOS),
    }),
    z.strictObject({ action: z.literal('remove-photo'), product: productIdSchema, photo: idSchema.describe('photo id, from the product list') }),
    z.strictObject({ action: z.literal('remove-product'), product: productIdSchema }),
  ])
  .describe('Teach the inference service a product from photos or from frames the lane saw, or forget a photo or a product');
export type ProductCommand = z.infer<typeof productCommandSchema>;

export const productSummarySchema = z.strictObject({
  id: productIdSchema,
  name: safeTextSchema(120).nullable().describe('display name, null when none was given'),
  photos: z.number().int().min(0).describe('photos enrolled'),
  updatedAt: epochMsSchema.describe('last change, milliseconds since the Unix epoch (UTC)'),
});
export type ProductSummary = z.infer<typeof productSummarySchema>;

export const productStateSchema = z
  .strictObject({
    products: z.array(productSummarySchema).max(10_000),
    backbone: safeTextSchema(128, 1).describe('the image backbone that turns photos into vectors (its name and source hash)'),
    threshold: z.number().min(0).max(1).describe('similarity below which an object is `unknown-product`'),
    last: z
      .strictObject({
        action: z.enum(['add-photos', 'add-from-lane', 'remove-photo', 'remove-product']),
        product: productIdSchema,
        outcome: z.enum(['done', 'refused']),
        error: safeTextSchema(2000).optional().describe('why it was refused'),
      })
      .optional()
      .describe('the outcome of the last command received over MQTT'),
  })
  .describe('The products the inference service recognises (retained), republished after every change');
export type ProductState = z.infer<typeof productStateSchema>;

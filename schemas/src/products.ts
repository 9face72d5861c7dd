import { z } from 'zod';
import { epochMsSchema, safeTextSchema } from './bounds.ts';
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

export const productCommandSchema = z
  .discriminatedUnion('action', [
    z.strictObject({
      action: z.literal('add-photos'),
      product: productIdSchema,
      name: safeTextSchema(120, 1).optional().describe('display name, set when given'),
      photos: z.array(productPhotoUploadSchema).min(1).max(10),
    }),
    z.strictObject({ action: z.literal('remove-photo'), product: productIdSchema, photo: idSchema.describe('photo id, from the product list') }),
    z.strictObject({ action: z.literal('remove-product'), product: productIdSchema }),
  ])
  .describe('Teach the inference service a product from photos, or forget a photo or a product');
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
        action: z.enum(['add-photos', 'remove-photo', 'remove-product']),
        product: productIdSchema,
        outcome: z.enum(['done', 'refused']),
        error: safeTextSchema(2000).optional().describe('why it was refused'),
      })
      .optional()
      .describe('the outcome of the last command received over MQTT'),
  })
  .describe('The products the inference service recognises (retained), republished after every change');
export type ProductState = z.infer<typeof productStateSchema>;

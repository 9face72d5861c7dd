import { z } from 'zod';
import { unsafeTextProblem } from './bounds.ts';

/**
 * The product catalog: one file (YAML or JSON) read by checkout (labels to products, prices,
 * weights) and by tts (names to pre-render). Money is always integer minor units of one currency.
 */

/** A BCP 47 language tag with a region, as Intl and the speech providers name voices: `en-US`. */
export const localeSchema = z
  .string()
  .regex(/^[a-z]{2,3}-[A-Z]{2}$/, 'must be a locale like en-US or fr-FR (language-REGION)')
  .refine((tag) => {
    try {
      return Intl.getCanonicalLocales(tag)[0] === tag;
    } catch {
      return false;
    }
  }, 'is not a valid locale');
export type Locale = z.infer<typeof localeSchema>;

const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));
export const currencySchema = z
  .string()
  .length(3, 'must be an ISO 4217 currency code Intl knows, like USD or EUR')
  .refine((code) => CURRENCIES.has(code), 'must be an ISO 4217 currency code Intl knows, like USD or EUR');

export const skuSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . - starting with a letter or digit');

/** Words that are spoken or shown: plain text, never markup (SSML and HTML are built around them). */
export const plainTextSchema = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine(
      (text) => !/[<>&{}\\]/.test(text) && unsafeTextProblem(text) === null,
      'must be plain text (no < > & { } \\, control characters or bidirectional overrides)',
    );

/**
 * Any text made into what `plainTextSchema(max)` accepts (or '' when nothing is left): what the
 * rule refuses becomes a space ('&' becomes ' and'), lone surrogates become U+FFFD, whitespace
 * runs become one space, and a text over `max` is cut at a word boundary when one is near the end.
 */
export function toPlainText(text: string, max: number): string {
  const cleaned = text
    .toWellFormed()
    .replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069<>{}\\]/g, ' ')
    .replace(/&/g, ' and ')
    .replace(/\s+/g, ' ')
    .trim();
  if (cleaned.length <= max) return cleaned;
  // Never cut a surrogate pair in two: half of one is not text.
  const cut = cleaned.slice(0, /[\ud800-\udbff]/.test(cleaned[max - 1] ?? '') ? max - 1 : max);
  const space = cut.lastIndexOf(' ');
  return (space > max * 0.8 ? cut.slice(0, space) : cut).trimEnd();
}

/** How model labels compare everywhere (catalog, lanes, rules): trimmed, lower-cased. */
export function normaliseLabel(label: string): string {
  return label.trim().toLowerCase();
}

export const spokenNameSchema = z
  .strictObject({
    one: plainTextSchema(80).describe('the name of one item, as said after an article: "banana"'),
    other: plainTextSchema(80).optional().describe('the plural, when it is not regular: "bananas"'),
    article: plainTextSchema(16)
      .optional()
      .describe('the indefinite article when the locale template would pick the wrong one ("an" for "herb" in en-US, "une" in fr-FR)'),
  })
  .describe('How a product is said in one locale');
export type SpokenName = z.infer<typeof spokenNameSchema>;

export const MAX_ITEM_GRAMS = 30_000;

const gramsSchema = z.number().finite().positive().max(MAX_ITEM_GRAMS);

export const productSchema = z
  .strictObject({
    sku: skuSchema,
    labels: z.array(plainTextSchema(256)).min(1).max(32).describe('model labels that mean this product (a detector class name, a Custom Vision tag)'),
    name: z.record(localeSchema, plainTextSchema(120)).describe('display name per locale'),
    spoken: z.record(localeSchema, spokenNameSchema).optional().describe('spoken name per locale; the display name is said when missing'),
    price: z
      .discriminatedUnion('per', [
        z.strictObject({ per: z.literal('unit'), minor: z.number().int().min(0).max(100_000_000) }),
        z.strictObject({ per: z.literal('kg'), minor: z.number().int().min(0).max(100_000_000) }),
      ])
      .describe('price in integer minor units of the catalog currency, per item or per kilogram'),
    weight: z
      .strictObject({ min: gramsSchema, max: gramsSchema })
      .refine((w) => w.min <= w.max, 'min must not exceed max')
      .describe('expected weight of one item, grams: outside it the scale disagrees with the camera'),
    threshold: z.number().min(0).max(1).optional().describe('lowest detector score that counts as this product'),
  })
  .describe('A product the lane can sell');
export type Product = z.infer<typeof productSchema>;

export const catalogSchema = z
  .strictObject({
    currency: currencySchema,
    locales: z.array(localeSchema).min(1).max(16).describe('locales every product must be named in'),
    products: z.array(productSchema).min(1).max(10_000),
  })
  .superRefine((catalog, ctx) => {
    const skus = new Map<string, number>();
    const labels = new Map<string, number>();
    catalog.products.forEach((product, index) => {
      const previous = skus.get(product.sku);
      if (previous !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['products', index, 'sku'], message: `duplicate sku "${product.sku}" (also products[${previous}])` });
      }
      skus.set(product.sku, index);
      product.labels.forEach((label, labelIndex) => {
        const owner = labels.get(normaliseLabel(label));
        if (owner !== undefined && owner !== index) {
          ctx.addIssue({
            code: 'custom',
            path: ['products', index, 'labels', labelIndex],
            message: `label "${label}" already belongs to products[${owner}] (${catalog.products[owner]?.sku})`,
          });
        }
        labels.set(normaliseLabel(label), index);
      });
      for (const locale of catalog.locales) {
        if (!(locale in product.name)) {
          ctx.addIssue({ code: 'custom', path: ['products', index, 'name'], message: `no display name for locale ${locale}` });
        }
      }
    });
  })
  .describe('The product catalog');
export type Catalog = z.infer<typeof catalogSchema>;

import { z } from 'zod';
import { idSchema, normaliseLabel, polygonSchema, severitySchema, type AlertType, type Severity } from '@sightline/schemas';

/** A rules file is a few hundred lines at most; anything this big is a mistake or an attack. */
export const MAX_RULES_FILE_BYTES = 256 * 1024;
export const MAX_RULES = 200;

const unit = z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1');
const seconds = (fallback: number) => z.number().min(0, 'must be at least 0').max(86_400, 'must be at most 86400').default(fallback);

const base = {
  id: idSchema,
  severity: severitySchema.default('warning'),
};
/** Rules on events: resolved after this long without a repeat (omitted: the service default). */
const expiring = {
  expireSeconds: z
    .number()
    .min(1)
    .max(30 * 86_400)
    .optional(),
};

export const ruleSchema = z.discriminatedUnion('type', [
  z.strictObject({
    ...base,
    type: z.literal('person-in-zone'),
    camera: idSchema,
    zone: polygonSchema,
    dwellSeconds: seconds(0),
    clearSeconds: seconds(5),
    // Compared as checkout compares them: trimmed, lower case.
    labels: z.array(z.string().min(1).max(256).transform(normaliseLabel)).min(1).max(32).default(['person']),
    minScore: unit.default(0.5),
  }),
  z.strictObject({ ...base, ...expiring, type: z.literal('unknown-item'), lane: idSchema.optional() }),
  z.strictObject({ ...base, ...expiring, type: z.literal('low-confidence-scan'), lane: idSchema.optional(), below: unit.default(0.35) }),
  z.strictObject({ ...base, ...expiring, type: z.literal('weight-mismatch'), lane: idSchema.optional() }),
  z.strictObject({ ...base, type: z.literal('camera-offline'), camera: idSchema.optional(), offlineSeconds: z.number().min(1).max(86_400).default(30) }),
  z.strictObject({
    ...base,
    type: z.literal('service-offline'),
    service: idSchema.optional(),
    // A service that is back within this long (a restart, or offline messages a persistent session
    // held while alert itself was down) raises nothing.
    graceSeconds: z.number().min(0).max(3600).default(5),
  }),
  z.strictObject({ ...base, ...expiring, type: z.literal('images-evicted'), camera: idSchema.optional() }),
  z.strictObject({
    ...base,
    type: z.literal('model-drift'),
    lane: idSchema.optional(),
    window: z.number().int().min(2).max(10_000).default(20),
    margin: unit.default(0.15),
    baselines: z
      .record(z.string().min(1).max(64), unit)
      .optional()
      .describe('baseline mean confidence per sku; skus not listed learn theirs from their first `window` scans'),
  }),
]);

export type Rule = z.infer<typeof ruleSchema>;
export type RuleOf<T extends AlertType> = Extract<Rule, { type: T }>;

export const rulesFileSchema = z
  .strictObject({
    rules: z.array(ruleSchema).max(MAX_RULES, `must list at most ${MAX_RULES} rules`),
  })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.rules.forEach((rule, index) => {
      if (seen.has(rule.id)) ctx.addIssue({ code: 'custom', path: ['rules', index, 'id'], message: `duplicate rule id ${rule.id}` });
      seen.add(rule.id);
    });
  });

/** Rules used when no rules file is given. */
export function defaultRules(severity: Severity = 'warning'): Rule[] {
  return [
    { id: 'camera-offline', type: 'camera-offline', severity: 'critical', offlineSeconds: 30 },
    { id: 'service-offline', type: 'service-offline', severity: 'critical', graceSeconds: 5 },
    { id: 'weight-mismatch', type: 'weight-mismatch', severity },
    { id: 'unknown-item', type: 'unknown-item', severity },
    { id: 'low-confidence-scan', type: 'low-confidence-scan', severity: 'info', below: 0.35 },
    { id: 'model-drift', type: 'model-drift', severity, window: 20, margin: 0.15 },
    { id: 'images-evicted', type: 'images-evicted', severity },
  ];
}

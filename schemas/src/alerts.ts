import { z } from 'zod';
import { plainTextSchema } from './catalog.ts';
import { countSchema, epochMsSchema, safeTextSchema } from './bounds.ts';
import { frameRefSchema } from './frame-ref.ts';
import { idSchema } from './ids.ts';

/** Alerts: what needs a person's attention, kept by the alert service and announced on `alerts`. */

const epochMs = epochMsSchema;

export const alertIdSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . : -');

export const alertTypeSchema = z.enum([
  'person-in-zone',
  'unknown-item',
  'low-confidence-scan',
  'weight-mismatch',
  'camera-offline',
  'service-offline',
  'model-drift',
  'images-evicted',
]);
export type AlertType = z.infer<typeof alertTypeSchema>;

export const severitySchema = z.enum(['info', 'warning', 'critical']);
export type Severity = z.infer<typeof severitySchema>;

export const alertStateSchema = z.enum(['active', 'acknowledged', 'resolved']);
export type AlertState = z.infer<typeof alertStateSchema>;

export const snapshotRefSchema = frameRefSchema.describe('The frame that shows it (the sync service stores it under a name made from these three)');
export type SnapshotRef = z.infer<typeof snapshotRefSchema>;

export const alertSchema = z
  .strictObject({
    id: alertIdSchema.describe('stable id: the same alert keeps it through every update'),
    type: alertTypeSchema,
    rule: idSchema.describe('the configured rule that raised it'),
    severity: severitySchema,
    camera: idSchema.optional(),
    lane: idSchema.optional(),
    service: idSchema.optional().describe('for service-offline: the service'),
    message: plainTextSchema(500).describe('what happened, for a person'),
    firstSeen: epochMs,
    lastSeen: epochMs,
    count: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).describe('how many times it was seen; repeats aggregate here instead of raising new alerts'),
    snapshot: snapshotRefSchema.nullable(),
    state: alertStateSchema,
    acknowledgedAt: epochMs.optional(),
    resolvedAt: epochMs.optional(),
    details: z
      .record(
        z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'must be a field name'),
        z.union([safeTextSchema(256), z.number().min(-1e15).max(1e15), z.boolean()]),
      )
      .refine((details) => Object.keys(details).length <= 32, 'at most 32 details')
      .optional()
      .describe('rule-specific facts (label, score, grams, baseline...)'),
  })
  .describe('An alert');
export type Alert = z.infer<typeof alertSchema>;

export const alertEventSchema = z
  .strictObject({
    type: z.enum(['new', 'update', 'end']).describe('raised, changed (seen again, acknowledged), or resolved'),
    alert: alertSchema,
  })
  .describe('A change to an alert');
export type AlertEvent = z.infer<typeof alertEventSchema>;

export const evictionSchema = z
  .strictObject({
    at: epochMs.describe('when the image was dropped'),
    reason: z.enum(['ttl', 'disk', 'corrupt', 'rejected']).describe('older than the TTL, disk cap reached, unreadable on disk, or refused by the blob store'),
    blob: safeTextSchema(1024, 1).describe('the blob name it would have had'),
    camera: idSchema.optional(),
    capturedAt: epochMs.optional(),
    bytes: countSchema(2 ** 40),
  })
  .describe('An image the sync service dropped from its outbox without uploading it');
export type Eviction = z.infer<typeof evictionSchema>;

import { z } from 'zod';
import { countSchema, epochMsSchema, safeTextSchema } from './bounds.ts';

/** Payloads of the uplink: how the link to the upstream broker stands and what its queue holds. */

const count = countSchema(Number.MAX_SAFE_INTEGER);

export const uplinkStateSchema = z
  .strictObject({
    upstream: z
      .strictObject({
        url: safeTextSchema(512, 1).describe('the upstream broker, without credentials'),
        state: z
          .enum(['connecting', 'connected', 'unreachable', 'refused'])
          .describe(
            '`connected`; `unreachable` (no answer, connection lost: messages wait in the queue); `refused` (the upstream turned the credentials or the certificate down: fix the configuration; messages wait in the queue)',
          ),
        reason: safeTextSchema(500, 1).optional().describe('why it is not connected'),
        since: epochMsSchema.describe('when it entered this state'),
      })
      .describe('the link to the upstream broker'),
    queue: z
      .strictObject({
        messages: count.describe('messages waiting to be delivered upstream (on disk)'),
        bytes: count.describe('their size on disk'),
        oldestAt: epochMsSchema.optional().describe('when the oldest waiting message arrived'),
      })
      .describe('the store-and-forward queue'),
    forwarded: count.describe('messages delivered upstream (acknowledged at QoS 1) since the uplink started'),
    dropped: z
      .strictObject({
        overflow: count.describe('oldest messages dropped because the queue was over its message or byte limit'),
        tooLarge: count.describe('messages larger than the whole queue, never stored'),
        corrupt: count.describe('unreadable stretches of the queue files skipped when reading them back'),
      })
      .describe('what was lost, since the uplink started'),
    at: epochMsSchema.describe('when this state was published'),
  })
  .describe('The uplink to the upstream broker');
export type UplinkState = z.infer<typeof uplinkStateSchema>;

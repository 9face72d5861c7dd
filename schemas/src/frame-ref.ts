import { z } from 'zod';
import { epochMsSchema, seqSchema } from './bounds.ts';
import { idSchema } from './ids.ts';

/**
 * One published frame, named by what its metadata carries. A message that is about a frame (a
 * scan, a lane event, an alert's snapshot) refers to it this way; the sync service stores frames
 * under a blob name made from these three, so the picture can be found again.
 */
export const frameRefSchema = z
  .strictObject({
    camera: idSchema,
    seq: seqSchema,
    capturedAt: epochMsSchema,
  })
  .describe('A frame: its camera, sequence number and capture time');
export type FrameRef = z.infer<typeof frameRefSchema>;

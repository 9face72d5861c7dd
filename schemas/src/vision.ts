import { z } from 'zod';
import { durationMsSchema, epochMsSchema, labelSchema, pixelsSchema, safeTextSchema, seqSchema } from './bounds.ts';
import { idSchema, modelIdSchema } from './ids.ts';

/** Payloads of the vision channels: what a camera delivers and what the model sees in it. */

const unitInterval = z.number().min(0).max(1);

export const boxSchema = z
  .strictObject({
    x: unitInterval.describe('left edge, 0 = left of the frame, 1 = right'),
    y: unitInterval.describe('top edge, 0 = top of the frame, 1 = bottom'),
    width: unitInterval.describe('width as a share of the frame width'),
    height: unitInterval.describe('height as a share of the frame height'),
  })
  .describe('A rectangle normalised to the frame (origin top-left, all values 0-1)');

const modelRefSchema = z
  .strictObject({
    id: safeTextSchema(64, 1).describe('model id (its folder name, or `centernet-coco` for the built-in model)'),
    version: safeTextSchema(64, 1).describe('model version, from its descriptor'),
  })
  .describe('The model that produced the result');

const msSchema = durationMsSchema;

export const detectionsSchema = z
  .strictObject({
    camera: idSchema.describe('camera id, the same as in the topic'),
    seq: seqSchema.describe('sequence number of the frame these detections belong to'),
    capturedAt: epochMsSchema.describe('capture time of the frame, milliseconds since the Unix epoch (UTC)'),
    width: pixelsSchema.describe('frame width in pixels (after EXIF orientation)'),
    height: pixelsSchema.describe('frame height in pixels (after EXIF orientation)'),
    model: modelRefSchema,
    objects: z
      .array(
        z.strictObject({
          label: labelSchema.describe('class name'),
          score: unitInterval.describe('confidence, 0-1'),
          box: boxSchema.nullable().describe('where the object is; null for a classification model (the label is about the whole frame)'),
          recognition: z
            .strictObject({
              product: idSchema
                .nullable()
                .describe('the enrolled product it looks most like, or null when none is close enough (the label is then `unknown-product`)'),
              similarity: unitInterval.describe('cosine similarity to the closest photo of that product (0-1)'),
              detectorLabel: labelSchema.describe("the detector's own label for the object"),
            })
            .optional()
            .describe('present when products are enrolled and the object was compared with them; the label is then the product id'),
        }),
      )
      .max(1000)
      .describe('what the model saw, best score first; empty when nothing passed the score threshold'),
    timings: z
      .strictObject({
        decodeMs: msSchema.describe('JPEG decoding and resizing (sharp)'),
        preprocessMs: msSchema.describe('pixels to the input tensor'),
        inferenceMs: msSchema.describe('onnxruntime session.run'),
        postprocessMs: msSchema.describe('model outputs to objects'),
        recognitionMs: msSchema.optional().describe('cropping the objects and comparing them with the enrolled products (when any are)'),
        totalMs: msSchema.describe('from taking the frame off the queue to the message being ready; excludes the time it waited'),
      })
      .describe('where the time went, milliseconds'),
  })
  .describe('Objects the inference service found in one frame');
export type Detections = z.infer<typeof detectionsSchema>;

export const modelCommandSchema = z
  .strictObject({
    model: modelIdSchema.describe('id of the model to switch to (a folder of the models directory, or `centernet-coco`)'),
  })
  .describe('Ask the inference service to switch models');
export type ModelCommand = z.infer<typeof modelCommandSchema>;

export const modelStateSchema = z
  .strictObject({
    model: modelRefSchema.nullable().describe('the model now running; null while none is loaded'),
    since: epochMsSchema.describe('when it started running, milliseconds since the Unix epoch (UTC)'),
    request: safeTextSchema(64).optional().describe('the model asked for by the last command, when it was refused'),
    error: safeTextSchema(2000).optional().describe('why the last requested switch was refused; the model above keeps running'),
  })
  .describe('The model the inference service runs, and the outcome of the last switch request');
export type ModelState = z.infer<typeof modelStateSchema>;

const replicaIdsSchema = (max: number, what: string) => z.array(idSchema).max(max, `at most ${max} ${what}`);

export const inferenceReplicaSchema = z
  .strictObject({
    replica: idSchema.describe('replica id, the same as in the topic'),
    state: z
      .enum(['joining', 'online', 'offline'])
      .describe('`joining`: listening for the others before taking cameras; `online`: sharing the cameras; `offline`: left'),
    replicas: replicaIdsSchema(64, 'replicas').describe('the replicas it counts as live (itself included when online): its view of the group'),
    cameras: replicaIdsSchema(1024, 'cameras').describe('the cameras it knows of (configured, or seen lately)'),
    serving: replicaIdsSchema(1024, 'cameras').describe('the cameras it serves now'),
    at: epochMsSchema.describe('when it was published, milliseconds since the Unix epoch (UTC)'),
  })
  .describe('One inference replica: its state, its view of the group and the cameras it serves');
export type InferenceReplica = z.infer<typeof inferenceReplicaSchema>;

export const cameraStatusSchema = z
  .strictObject({
    camera: idSchema.describe('camera id, the same as in the topic'),
    state: z
      .enum(['online', 'offline'])
      .describe("`online` while capture publishes the camera's frames; `offline` while it does not (starting, source failed or stalled, stopped)"),
    reason: safeTextSchema(500, 1).optional().describe('why the camera is offline; present exactly when `state` is `offline`'),
    fps: z.number().min(0).max(1000).describe('frames published per second, measured over the last 10 s (longer for rates under 0.3 fps); 0 while offline'),
    width: pixelsSchema.describe('width of the frames, in pixels (the configured size until the first frame)'),
    height: pixelsSchema.describe('height of the frames, in pixels'),
    since: epochMsSchema.describe('when the camera entered this state, milliseconds since the Unix epoch (UTC)'),
    at: epochMsSchema.describe('when capture published this status; a heartbeat refreshes it'),
  })
  .superRefine((status, ctx) => {
    if ((status.state === 'offline') !== (status.reason !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['reason'],
        message: status.state === 'offline' ? 'an offline camera needs a reason' : 'an online camera has no reason',
      });
    }
  })
  .describe('The state of one camera as capture sees it');
export type CameraStatus = z.infer<typeof cameraStatusSchema>;

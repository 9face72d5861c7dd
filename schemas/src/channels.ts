import { z } from 'zod';
import { PayloadError } from './errors.ts';
import { decodeFrame, encodeFrame, frameMetaSchema, MAX_FRAME_BYTES, type Frame } from './frame.ts';
import { idSchema, modelIdSchema } from './ids.ts';

/**
 * Every MQTT topic Sightline uses, with its payload, defined once. Services build topic strings
 * only through `topics.ts`, and encode/decode payloads only through a channel's codec.
 */

export type Encoding = 'jpeg' | 'json' | 'text';

export interface Codec<T> {
  encode(value: T): Buffer;
  /** Throws a PayloadError when the payload is not a valid T. */
  decode(payload: Buffer): T;
}

export interface Channel<T, P extends string = string> {
  /** Stable name, used in metrics labels and the docs. */
  readonly name: string;
  /** Levels under the prefix; `{param}` marks a level chosen by the user. */
  readonly template: string;
  readonly params: readonly P[];
  readonly qos: 0 | 1;
  readonly retain: boolean;
  readonly encoding: Encoding;
  readonly summary: string;
  readonly publishedBy: string;
  /** The schema of the payload (for a JPEG, of its metadata) for docs and JSON Schema. */
  readonly schema: z.ZodType;
  readonly maxBytes: number;
  readonly example: T;
  readonly codec: Codec<T>;
}

function jsonCodec<S extends z.ZodType>(schema: S, maxBytes: number): Codec<z.infer<S>> {
  return {
    encode(value) {
      return Buffer.from(JSON.stringify(schema.parse(value)), 'utf8');
    },
    decode(payload) {
      if (payload.length === 0) throw new PayloadError('empty', 'empty payload');
      if (payload.length > maxBytes) throw new PayloadError('oversize', `payload of ${payload.length} bytes exceeds ${maxBytes}`);
      let raw: unknown;
      try {
        raw = JSON.parse(payload.toString('utf8'));
      } catch (err) {
        throw new PayloadError('not-json', `payload is not JSON: ${(err as Error).message}`);
      }
      const parsed = schema.safeParse(raw);
      if (!parsed.success) throw new PayloadError('invalid', z.prettifyError(parsed.error));
      return parsed.data;
    },
  };
}

function textCodec<S extends z.ZodType<string>>(schema: S, maxBytes: number): Codec<z.infer<S>> {
  return {
    encode(value) {
      return Buffer.from(schema.parse(value), 'utf8');
    },
    decode(payload) {
      if (payload.length === 0) throw new PayloadError('empty', 'empty payload');
      if (payload.length > maxBytes) throw new PayloadError('oversize', `payload of ${payload.length} bytes exceeds ${maxBytes}`);
      const parsed = schema.safeParse(payload.toString('utf8'));
      if (!parsed.success) throw new PayloadError('invalid', z.prettifyError(parsed.error));
      return parsed.data;
    },
  };
}

const frameCodec: Codec<Frame> = {
  encode: (frame) => encodeFrame(frame.jpeg, frame.meta),
  decode: decodeFrame,
};

/** A tiny but complete 1x1 grey JPEG, for examples. */
const EXAMPLE_JPEG = Buffer.from(
  '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD/wAALCAABAAEBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAACf/EABQQAQAAAAAAAAAAAAAAAAAAAAD/2gAIAQEAAD8AKp//2Q==',
  'base64',
);

export const availabilitySchema = z.enum(['online', 'offline']).describe('service availability');
export type Availability = z.infer<typeof availabilitySchema>;

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
    id: z.string().min(1).max(64).describe('model id (its folder name, or `centernet-coco` for the built-in model)'),
    version: z.string().min(1).max(64).describe('model version, from its descriptor'),
  })
  .describe('The model that produced the result');

const msSchema = z.number().min(0);

export const detectionsSchema = z
  .strictObject({
    camera: idSchema.describe('camera id, the same as in the topic'),
    seq: z.number().int().min(0).describe('sequence number of the frame these detections belong to'),
    capturedAt: z.number().int().min(0).describe('capture time of the frame, milliseconds since the Unix epoch (UTC)'),
    width: z.number().int().positive().describe('frame width in pixels (after EXIF orientation)'),
    height: z.number().int().positive().describe('frame height in pixels (after EXIF orientation)'),
    model: modelRefSchema,
    objects: z
      .array(
        z.strictObject({
          label: z.string().min(1).max(256).describe('class name'),
          score: unitInterval.describe('confidence, 0-1'),
          box: boxSchema.nullable().describe('where the object is; null for a classification model (the label is about the whole frame)'),
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
    since: z.number().int().min(0).describe('when it started running, milliseconds since the Unix epoch (UTC)'),
    request: z.string().max(64).optional().describe('the model asked for by the last command, when it was refused'),
    error: z.string().max(2000).optional().describe('why the last requested switch was refused; the model above keeps running'),
  })
  .describe('The model the inference service runs, and the outcome of the last switch request');
export type ModelState = z.infer<typeof modelStateSchema>;

const EXAMPLE_MODEL = { id: 'centernet-coco', version: '1' };

export const channels = {
  frame: {
    name: 'frame',
    template: 'cameras/{camera}/frame',
    params: ['camera'],
    qos: 0,
    retain: false,
    encoding: 'jpeg',
    summary:
      'One camera frame as a plain JPEG (any MQTT image viewer shows it). Its metadata is JSON in a JPEG comment (COM, 0xFFFE) segment whose text starts with `sightline-frame/1 `, placed after the APP0/APP1 headers.',
    publishedBy: 'capture',
    schema: frameMetaSchema,
    maxBytes: MAX_FRAME_BYTES,
    example: { meta: { camera: 'demo', seq: 42, capturedAt: 1795000000000, width: 640, height: 480 }, jpeg: EXAMPLE_JPEG },
    codec: frameCodec,
  } satisfies Channel<Frame, 'camera'>,
  detections: {
    name: 'detections',
    template: 'cameras/{camera}/detections',
    params: ['camera'],
    qos: 0,
    retain: false,
    encoding: 'json',
    summary:
      'What the inference service found in one frame: the frame it belongs to (seq, capture time, size), the model, the objects (label, score, box normalised to the frame) and where the time went. Frames arriving while one is being processed replace each other (latest wins), so under load some frames have no detections message.',
    publishedBy: 'inference',
    schema: detectionsSchema,
    maxBytes: 256 * 1024,
    example: {
      camera: 'demo',
      seq: 42,
      capturedAt: 1795000000000,
      width: 640,
      height: 480,
      model: EXAMPLE_MODEL,
      objects: [{ label: 'orange', score: 0.47, box: { x: 0.31, y: 0.25, width: 0.38, height: 0.5 } }],
      timings: { decodeMs: 4.1, preprocessMs: 0.9, inferenceMs: 180.2, postprocessMs: 2.3, totalMs: 187.5 },
    } as Detections,
    codec: jsonCodec(detectionsSchema, 256 * 1024),
  } satisfies Channel<Detections, 'camera'>,
  modelCommand: {
    name: 'model-command',
    template: 'services/inference/model/set',
    params: [],
    qos: 1,
    retain: false,
    encoding: 'json',
    summary:
      'Switch the inference model at run time. The new model is loaded, checked and warmed up while the old one keeps serving, then swapped in between two frames; the outcome is published on `services/inference/model/state`.',
    publishedBy: 'integrators (anyone allowed to write it)',
    schema: modelCommandSchema,
    maxBytes: 1024,
    example: { model: 'my-detector' } as ModelCommand,
    codec: jsonCodec(modelCommandSchema, 1024),
  } satisfies Channel<ModelCommand, never>,
  modelState: {
    name: 'model-state',
    template: 'services/inference/model/state',
    params: [],
    qos: 1,
    retain: true,
    encoding: 'json',
    summary:
      'The model the inference service runs (retained), republished after each switch request: on success the new model, on refusal the old one with `error` saying why.',
    publishedBy: 'inference',
    schema: modelStateSchema,
    maxBytes: 4096,
    example: { model: EXAMPLE_MODEL, since: 1795000000000 } as ModelState,
    codec: jsonCodec(modelStateSchema, 4096),
  } satisfies Channel<ModelState, never>,
  availability: {
    name: 'availability',
    template: 'services/{service}/availability',
    params: ['service'],
    qos: 1,
    retain: true,
    encoding: 'text',
    summary:
      'Whether a service is up: `online` once it has connected, `offline` when it stops or, as its MQTT last will, when it vanishes. Retained, so a new subscriber learns the state at once.',
    publishedBy: 'every service',
    schema: availabilitySchema,
    maxBytes: 16,
    example: 'online',
    codec: textCodec(availabilitySchema, 16),
  } satisfies Channel<Availability, 'service'>,
} as const;

export type Channels = typeof channels;

/**
 * Topics whose names are promised to integrators but whose payloads are defined by the services
 * that will publish them; listed so the docs show the whole tree and no one takes the names.
 */
export const reservedTopics = [
  { template: 'lanes/{lane}/scan', summary: 'an item scanned at a checkout lane' },
  { template: 'lanes/{lane}/basket', summary: 'the basket of a lane (retained)' },
  { template: 'lanes/{lane}/weight', summary: 'scale readings of a lane' },
  { template: 'lanes/{lane}/speech', summary: 'what is being said to the shopper (metadata)' },
  { template: 'lanes/{lane}/audio', summary: 'the spoken audio (WAV)' },
  { template: 'alerts', summary: 'alert events: new, update, end' },
] as const;
export type ChannelName = keyof Channels;
export type PayloadOf<C> = C extends Channel<infer T, string> ? T : never;
export type ParamsOf<C> = C extends Channel<unknown, infer P> ? Record<P, string> : never;

/** Channels whose payload is JSON share this codec factory; exported for the channels still to come. */
export { jsonCodec };

import { z } from 'zod';
import { PayloadError } from './errors.ts';
import { decodeFrame, encodeFrame, frameMetaSchema, MAX_FRAME_BYTES, type Frame } from './frame.ts';

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
  { template: 'cameras/{camera}/detections', summary: 'objects the inference service found in a frame' },
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

import { z } from 'zod';
import { PayloadError } from './errors.ts';
import type { BusService, Party } from './parties.ts';

/** What a channel is: its topic, its payload and its codec, and who publishes and subscribes. */

export type Encoding = 'jpeg' | 'json' | 'text' | 'wav';

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
  /** Who may publish it: the services (with their broker users' write rights) and integrators. */
  readonly publishers: readonly Party[];
  /** Which services subscribe to it (their broker users' read rights). Integrators may read everything. */
  readonly subscribers: readonly BusService[];
  /** A parameter each publisher may fill only with its own name (`services/{service}/availability`). */
  readonly ownParam?: P;
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

/** The parts every JSON channel shares, from its schema and its size limit. */
export function json<S extends z.ZodType>(schema: S, maxBytes: number) {
  return { encoding: 'json' as const, schema, maxBytes, codec: jsonCodec(schema, maxBytes) };
}

export type PayloadOf<C> = C extends Channel<infer T, string> ? T : never;
export type ParamsOf<C> = C extends Channel<unknown, infer P> ? Record<P, string> : never;

export { jsonCodec, textCodec };

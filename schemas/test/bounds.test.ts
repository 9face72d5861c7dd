import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { catalogSchema, channels, encodeFrame, FRAME_COMMENT_TAG, MAX_EPOCH_MS, PayloadError, type Channel } from '../src/index.ts';

const all = Object.values(channels) as Channel<unknown, string>[];

type JsonSchema = {
  type?: string | string[];
  maximum?: number;
  exclusiveMaximum?: number;
  maxLength?: number;
  pattern?: string;
  enum?: unknown[];
  const?: unknown;
  format?: string;
  maxItems?: number;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
};

/** Every place in a JSON Schema where a number, string or array has no upper bound. */
function unbounded(schema: JsonSchema, path: string, out: string[]): string[] {
  for (const part of [...(schema.anyOf ?? []), ...(schema.oneOf ?? []), ...(schema.allOf ?? [])]) unbounded(part, path, out);
  if (schema.enum !== undefined || schema.const !== undefined) return out;
  const types = Array.isArray(schema.type) ? schema.type : schema.type === undefined ? [] : [schema.type];
  if ((types.includes('number') || types.includes('integer')) && schema.maximum === undefined && schema.exclusiveMaximum === undefined)
    out.push(`${path}: number without a maximum`);
  // A pattern with an anchored length ({0,63}) bounds a string as well as maxLength does.
  if (types.includes('string') && schema.maxLength === undefined && !/\{\d*,?\d+\}\$?\)?\$?$/.test(schema.pattern ?? ''))
    out.push(`${path}: string without a maximum length`);
  if (types.includes('array')) {
    if (schema.maxItems === undefined) out.push(`${path}: array without maxItems`);
    if (schema.items) unbounded(schema.items, `${path}[]`, out);
  }
  for (const [key, property] of Object.entries(schema.properties ?? {})) unbounded(property, `${path}.${key}`, out);
  if (typeof schema.additionalProperties === 'object') unbounded(schema.additionalProperties, `${path}.*`, out);
  if (schema.propertyNames) unbounded(schema.propertyNames, `${path}.<key>`, out);
  return out;
}

test('every number, string and array of every channel payload has an upper bound', () => {
  const problems: string[] = [];
  for (const channel of all) {
    const schema = z.toJSONSchema(channel.schema, { target: 'draft-2020-12', unrepresentable: 'any' }) as JsonSchema;
    unbounded(schema, channel.name, problems);
  }
  assert.deepEqual(problems, []);
});

test('a time past the end of the Date range, or any time after 2200, is refused wherever a message carries a time', () => {
  const hostile = [8.64e15 + 1, 2 ** 53 - 1, MAX_EPOCH_MS + 1];
  for (const capturedAt of hostile) {
    // Made by hand, as a hostile publisher would: encodeFrame refuses such metadata.
    const text = Buffer.from(`${FRAME_COMMENT_TAG}${JSON.stringify({ ...channels.frame.example.meta, capturedAt })}`);
    const comment = Buffer.concat([Buffer.from([0xff, 0xfe, (text.length + 2) >> 8, (text.length + 2) & 0xff]), text]);
    const bare = channels.frame.example.jpeg;
    const frame = Buffer.concat([bare.subarray(0, 2), comment, bare.subarray(2)]);
    assert.throws(
      () => channels.frame.codec.decode(frame),
      (err: unknown) => err instanceof PayloadError && /before the year 2200/.test(err.message),
    );
    const detections = { ...channels.detections.example, capturedAt };
    assert.throws(() => channels.detections.codec.decode(Buffer.from(JSON.stringify(detections))), /before the year 2200/);
    const scan = { ...channels.scan.example, at: capturedAt };
    assert.throws(() => channels.scan.codec.decode(Buffer.from(JSON.stringify(scan))), /before the year 2200/);
  }
  // Every value that is still accepted is one Date can represent.
  const ok = channels.frame.codec.decode(encodeFrame(channels.frame.example.jpeg, { ...channels.frame.example.meta, capturedAt: MAX_EPOCH_MS }));
  assert.equal(new Date(ok.meta.capturedAt).toISOString(), '2200-01-01T00:00:00.000Z');
});

test('text that lies about itself is refused: bidi overrides, control characters, lone surrogates', () => {
  const withLabel = (label: string) => Buffer.from(JSON.stringify({ ...channels.detections.example, objects: [{ label, score: 0.5, box: null }] }));
  assert.equal(channels.detections.codec.decode(withLabel('café au lait')).objects[0]!.label, 'café au lait');
  assert.throws(() => channels.detections.codec.decode(withLabel('orange\u202Eegnaro')), /bidirectional override/);
  assert.throws(() => channels.detections.codec.decode(withLabel('orange\u0007')), /control character/);
  assert.throws(() => channels.detections.codec.decode(withLabel('orange\uD800')), /lone surrogate/);
  // Errors and reasons may span lines (zod's own messages do); labels may not.
  const result = { status: 'error', error: 'invalid command:\n  ✖ action\tunknown' };
  assert.equal(channels.basketResult.codec.decode(Buffer.from(JSON.stringify(result))).status, 'error');
  assert.throws(() => channels.detections.codec.decode(withLabel('two\nlines')), /control character/);
  const catalog = {
    currency: 'USD',
    locales: ['en-US'],
    products: [{ sku: 'A', labels: ['apple'], name: { 'en-US': 'Apple\u2066' }, price: { per: 'unit', minor: 1 } }],
  };
  assert.equal(catalogSchema.safeParse(catalog).success, false);
});

test('alert details are bounded in number and in size', () => {
  const alert = channels.alerts.example;
  const details = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i]));
  const payload = Buffer.from(JSON.stringify({ ...alert, alert: { ...alert.alert, details } }));
  assert.throws(() => channels.alerts.codec.decode(payload), /at most 32 details/);
  const huge = Buffer.from(JSON.stringify({ ...alert, alert: { ...alert.alert, details: { score: 1e300 } } }));
  assert.throws(() => channels.alerts.codec.decode(huge), /invalid|Too big|<=/i);
});

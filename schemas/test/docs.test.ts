import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { channelJsonSchemas, mqttApiMarkdown } from '../src/json-schema.ts';

const root = join(import.meta.dirname, '..', '..');

test('docs/mqtt-api.md is what the schemas generate (run `pnpm docs:api` after changing a schema)', () => {
  assert.equal(readFileSync(join(root, 'docs', 'mqtt-api.md'), 'utf8'), mqttApiMarkdown());
});

test('schemas/json holds the JSON Schema of every channel as generated', () => {
  for (const [name, schema] of Object.entries(channelJsonSchemas())) {
    const committed = JSON.parse(readFileSync(join(root, 'schemas', 'json', `${name}.schema.json`), 'utf8')) as unknown;
    assert.deepEqual(committed, schema, `${name}.schema.json drifted; run pnpm docs:api`);
  }
});

test('the generated docs name every topic integrators rely on', () => {
  const doc = mqttApiMarkdown();
  for (const topic of [
    'sightline/cameras/{camera}/frame',
    'sightline/cameras/{camera}/detections',
    'sightline/lanes/{lane}/scan',
    'sightline/lanes/{lane}/basket',
    'sightline/lanes/{lane}/weight',
    'sightline/lanes/{lane}/speech',
    'sightline/lanes/{lane}/audio',
    'sightline/alerts',
    'sightline/services/{service}/availability',
  ]) {
    assert.ok(doc.includes(`\`${topic}\``), topic);
  }
});

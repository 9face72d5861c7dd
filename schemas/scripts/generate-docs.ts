import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { channelJsonSchemas, mqttApiMarkdown } from '../src/json-schema.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const jsonDir = join(root, 'schemas', 'json');
mkdirSync(jsonDir, { recursive: true });
for (const [name, schema] of Object.entries(channelJsonSchemas())) {
  writeFileSync(join(jsonDir, `${name}.schema.json`), `${JSON.stringify(schema, null, 2)}\n`);
}
mkdirSync(join(root, 'docs'), { recursive: true });
writeFileSync(join(root, 'docs', 'mqtt-api.md'), mqttApiMarkdown());
console.log('wrote docs/mqtt-api.md and schemas/json/*.schema.json');

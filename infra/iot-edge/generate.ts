/** `pnpm iot-edge:manifest`: writes infra/iot-edge/deployment.template.json from compose.yaml. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { manifestText } from './manifest.ts';

export const COMPOSE_PATH = join(import.meta.dirname, '..', '..', 'compose.yaml');
export const MANIFEST_PATH = join(import.meta.dirname, 'deployment.template.json');

if (import.meta.main) {
  writeFileSync(MANIFEST_PATH, manifestText(readFileSync(COMPOSE_PATH, 'utf8')));
  console.log(`wrote ${MANIFEST_PATH}`);
}

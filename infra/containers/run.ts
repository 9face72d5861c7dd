/** The one image's entry point: runs the service its SIGHTLINE_SERVICE names (set when it was built). */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SERVICES } from '../../packages/kit/src/services.ts';

const name = process.env.SIGHTLINE_SERVICE;
const service = SERVICES.find((s) => s.name === name);
if (service === undefined) {
  process.stderr.write(`SIGHTLINE_SERVICE=${JSON.stringify(name)} is not a Sightline service: one of ${SERVICES.map((s) => s.name).join(', ')}\n`);
  process.exit(2);
}
await import(pathToFileURL(join(import.meta.dirname, '..', '..', service.entry)).href);

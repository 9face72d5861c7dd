/** The image's health check: the service's /healthz on its HTTP port (its setting, else the list's default). */
import { SERVICES } from '../../packages/kit/src/services.ts';

const service = SERVICES.find((s) => s.name === process.env.SIGHTLINE_SERVICE);
const port = service === undefined ? undefined : (process.env[`SIGHTLINE_${service.name.toUpperCase()}_HTTP_PORT`] ?? String(service.httpPort));
fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2500) }).then(
  (response) => process.exit(response.ok ? 0 : 1),
  () => process.exit(1),
);

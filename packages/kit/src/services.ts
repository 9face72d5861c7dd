/**
 * Every process Sightline runs, in start order, written once: its name (also the prefix of its
 * settings, `SIGHTLINE_<NAME>_`), its folder, its entry point, its HTTP port and the services it
 * needs up first. Each service's config takes its default port from here, `pnpm start` runs this
 * list, the one Dockerfile builds any entry of it, and a test checks compose.yaml against it.
 */
export const SERVICES = [
  { name: 'broker', dir: 'services/broker', entry: 'services/broker/src/main.ts', httpPort: 8081, needs: [] },
  // The voice comes up before anything that announces: checkout's first scan is heard, not lost.
  { name: 'tts', dir: 'services/tts', entry: 'services/tts/src/main.ts', httpPort: 8085, needs: ['broker'] },
  { name: 'speaker', dir: 'services/speaker', entry: 'services/speaker/src/main.ts', httpPort: 8086, needs: ['broker'] },
  { name: 'capture', dir: 'services/capture', entry: 'services/capture/src/main.ts', httpPort: 8082, needs: ['broker'] },
  { name: 'inference', dir: 'services/inference', entry: 'services/inference/src/main.ts', httpPort: 8083, needs: ['broker'] },
  { name: 'checkout', dir: 'services/checkout', entry: 'services/checkout/src/main.ts', httpPort: 8084, needs: ['broker', 'tts', 'speaker'] },
  { name: 'alert', dir: 'services/alert', entry: 'services/alert/src/main.ts', httpPort: 8087, needs: ['broker'] },
  // Microsoft's Blob Storage emulator, so sync needs no cloud account; in compose it waits for the
  // broker only because the broker makes the HTTP token they share.
  { name: 'azurite', dir: 'infra/azurite', entry: 'infra/azurite/main.ts', httpPort: 8089, needs: ['broker'] },
  { name: 'sync', dir: 'services/sync', entry: 'services/sync/src/main.ts', httpPort: 8088, needs: ['broker', 'azurite'] },
  // The web app staff use; it calls the others' HTTP APIs, which may come up after it.
  { name: 'console', dir: 'services/console', entry: 'services/console/src/main.ts', httpPort: 8090, needs: ['broker'] },
  // Forwards chosen channels to an upstream broker; the dev stack starts it only when SIGHTLINE_UPLINK_URL is set.
  { name: 'uplink', dir: 'services/uplink', entry: 'services/uplink/src/main.ts', httpPort: 8091, needs: ['broker'] },
] as const satisfies ReadonlyArray<{ name: string; dir: string; entry: string; httpPort: number; needs: readonly string[] }>;

export type ServiceName = (typeof SERVICES)[number]['name'];

/** The default HTTP port of a service (health, metrics and its API). */
export function httpPortOf(name: ServiceName): number {
  return SERVICES.find((service) => service.name === name)!.httpPort;
}

import { join } from 'node:path';
import { httpPortOf, SERVICES, type ServiceName } from '@sightline/kit';
import { busServices, isBusService } from '@sightline/schemas';
import { azuriteConnectionString } from '../azurite/account.ts';

/** A service as the one-command stack runs it: the kit's list, plus what the stack sets for it. */
export interface StackService {
  name: ServiceName;
  entry: string;
  /** The variable holding its HTTP port, and that port's default. */
  httpPortKey: string;
  defaultHttpPort: number;
  /** Defaults the stack sets for it, under anything the user's environment says. */
  defaults: Record<string, string>;
  /** False for a helper that is not on the bus (it announces no availability). */
  onBus?: false;
}

/** What the stack sets for a service on a developer's desk; the list itself is the kit's SERVICES. */
const STACK_DEFAULTS: Partial<Record<ServiceName, Record<string, string>>> = {
  // Users and passwords come from stackCredentials (below); anonymous clients may only watch, from loopback.
  broker: { SIGHTLINE_BROKER_ANONYMOUS: 'loopback' },
  // No scale on a developer's desk: the simulator weighs what the camera sees, over MQTT.
  checkout: { SIGHTLINE_CHECKOUT_SCALE_SIMULATOR: 'true' },
  // Capture's camera is one alert knows: its offline alert keeps the rule's severity (cameras only
  // seen on the bus get warnings). With a cameras file, list them in SIGHTLINE_ALERT_CAMERAS.
  alert: process.env.SIGHTLINE_CAPTURE_CAMERAS_FILE === undefined ? { SIGHTLINE_ALERT_CAMERAS: process.env.SIGHTLINE_CAPTURE_CAMERA ?? 'demo' } : {},
  // Frames sync kept are taught to products from sync's GET /kept/<name>, on the port the stack runs it on.
  inference: { SIGHTLINE_INFERENCE_SYNC_URL: `http://127.0.0.1:${process.env.SIGHTLINE_SYNC_HTTP_PORT ?? httpPortOf('sync')}` },
  // Azurite's published development account, on the port the stack runs it on.
  sync: { SIGHTLINE_SYNC_CONNECTION_STRING: azuriteConnectionString('127.0.0.1', Number(process.env.SIGHTLINE_AZURITE_BLOB_PORT ?? 10000)) },
};

/**
 * Services the stack starts only when a setting says where they would go: there is no upstream
 * broker on a developer's desk, so the uplink waits for SIGHTLINE_UPLINK_URL (or its _FILE).
 */
const STARTS_ONLY_WITH: Partial<Record<ServiceName, string>> = { uplink: 'SIGHTLINE_UPLINK_URL' };

/** Why the stack leaves a service out in this environment, or null when it runs it. */
export function whyNotStarted(name: ServiceName, environment: NodeJS.ProcessEnv = process.env): string | null {
  const key = STARTS_ONLY_WITH[name];
  if (key === undefined || environment[key] !== undefined || environment[`${key}_FILE`] !== undefined) return null;
  return `${name} starts only when ${key} is set`;
}

/** The services the one-command stack runs, in start order. A new service is one more entry in the kit's SERVICES. */
export const stackServices: StackService[] = SERVICES.filter((service) => whyNotStarted(service.name) === null).map((service) => ({
  name: service.name,
  entry: service.entry,
  httpPortKey: `SIGHTLINE_${service.name.toUpperCase()}_HTTP_PORT`,
  defaultHttpPort: service.httpPort,
  defaults: STACK_DEFAULTS[service.name] ?? {},
  ...(service.name === 'azurite' ? { onBus: false as const } : {}),
}));

/**
 * How every Node process of a service runs, on a developer's desk and in its container (the
 * Dockerfile's ENV holds the same values, with `/data` for the data dir; a test compares them).
 * Measured on the idle default stack with `pnpm bench:stack` (infra/stack/bench/RESULTS.md):
 * - `--max-semi-space-size=1` (MB): V8 grows the young generation to 2 x 16 MB in every process
 *   that allocates at all, resident after the first scavenges; capped, each service idles 25-35 MB
 *   lower (a scavenge per MB allocated: at 5 frames of 60 KB a second, a few a second at most).
 * - NODE_COMPILE_CACHE: Node keeps the stripped TypeScript and V8's code cache on disk, so a
 *   service started again loads neither the type stripper (a WebAssembly swc, 17-20 MB per
 *   process) nor compiles its modules again: 20-25 MB less each, and a warm start 35 % quicker.
 * - MALLOC_ARENA_MAX=2: glibc gives each thread that allocates (libuv's pool, LevelDB,
 *   onnxruntime) an arena of its own, kept after use: the broker idled 60 MB lower with 2.
 */
export const RUNTIME_NODE_OPTIONS = '--max-semi-space-size=1';
export const COMPILE_CACHE_DIR = 'node-compile-cache';

/** The runtime settings above for a service whose data dir is `dataDir`; NODE_OPTIONS already set are kept after ours (the later flag wins). */
export function runtimeEnv(dataDir: string, inherited: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return {
    NODE_OPTIONS: [RUNTIME_NODE_OPTIONS, inherited.NODE_OPTIONS].filter(Boolean).join(' '),
    NODE_COMPILE_CACHE: inherited.NODE_COMPILE_CACHE ?? join(dataDir, COMPILE_CACHE_DIR),
    MALLOC_ARENA_MAX: inherited.MALLOC_ARENA_MAX ?? '2',
  };
}

/** The integrator account the dev stack makes for people: reads everything, sends commands and scale readings. */
export const OPERATOR_USER = 'operator';
/** The console's first account, an operator, made on first start with its password beside the others. */
export const CONSOLE_ADMIN_FILE = 'console-admin';

/**
 * Broker accounts in the dev stack, as in compose: on first start the broker creates one user per
 * bus service, with exactly the rights its channels give it (schemas/src/access.ts), and an
 * `operator` integrator, each with a random password in `<data>/credentials/<user>` (mode
 * 0600). Nothing on the bus runs with more rights than it needs, even on a developer's desk.
 */
export function stackCredentials(dataDir: string) {
  const dir = join(dataDir, 'credentials');
  return {
    usersFile: join(dataDir, 'broker', 'users.json'),
    passwordsDir: dir,
    passwordFile: (user: string) => join(dir, user),
    brokerEnv: {
      SIGHTLINE_BROKER_USERS_FILE: join(dataDir, 'broker', 'users.json'),
      SIGHTLINE_BROKER_PROVISION_USERS: [...busServices.map((name) => `${name}:service`), `${OPERATOR_USER}:integrator`].join(','),
      SIGHTLINE_BROKER_PROVISION_DIR: dir,
    },
    /** What a service needs to log in as itself; nothing for a service that is not on the bus. */
    serviceEnv(name: string): Record<string, string> {
      if (!isBusService(name)) return {};
      if (name === 'console')
        return {
          SIGHTLINE_MQTT_USERNAME: name,
          SIGHTLINE_MQTT_PASSWORD_FILE: join(dir, name),
          SIGHTLINE_CONSOLE_PROVISION_ADMIN_FILE: join(dir, CONSOLE_ADMIN_FILE),
        };
      return { SIGHTLINE_MQTT_USERNAME: name, SIGHTLINE_MQTT_PASSWORD_FILE: join(dir, name) };
    },
  };
}

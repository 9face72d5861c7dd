import { join } from 'node:path';
import { busServices, isBusService } from '@sightline/schemas';
import { azuriteConnectionString } from '../azurite/account.ts';

/**
 * The services the one-command stack runs, in start order. A new service is one more entry here
 * (and one more in compose.yaml).
 */
export interface StackService {
  name: string;
  entry: string;
  /** The variable holding its HTTP port, and that port's default. */
  httpPortKey: string;
  defaultHttpPort: number;
  /** Defaults the stack sets for it, under anything the user's environment says. */
  defaults: Record<string, string>;
  /** False for a helper that is not on the bus (it announces no availability). */
  onBus?: false;
}

export const stackServices: StackService[] = [
  {
    name: 'broker',
    entry: 'services/broker/src/main.ts',
    httpPortKey: 'SIGHTLINE_BROKER_HTTP_PORT',
    defaultHttpPort: 8081,
    // Users and passwords come from stackCredentials (below); anonymous clients may only watch, from loopback.
    defaults: { SIGHTLINE_BROKER_ANONYMOUS: 'loopback' },
  },
  {
    name: 'capture',
    entry: 'services/capture/src/main.ts',
    httpPortKey: 'SIGHTLINE_CAPTURE_HTTP_PORT',
    defaultHttpPort: 8082,
    defaults: {},
  },
  {
    name: 'inference',
    entry: 'services/inference/src/main.ts',
    httpPortKey: 'SIGHTLINE_INFERENCE_HTTP_PORT',
    defaultHttpPort: 8083,
    // Converts the default model into the data dir on first start (well under a second).
    defaults: {},
  },
  {
    name: 'checkout',
    entry: 'services/checkout/src/main.ts',
    httpPortKey: 'SIGHTLINE_CHECKOUT_HTTP_PORT',
    defaultHttpPort: 8084,
    // No scale on a developer's desk: the simulator weighs what the camera sees, over MQTT.
    defaults: { SIGHTLINE_CHECKOUT_SCALE_SIMULATOR: 'true' },
  },
  {
    name: 'tts',
    entry: 'services/tts/src/main.ts',
    httpPortKey: 'SIGHTLINE_TTS_HTTP_PORT',
    defaultHttpPort: 8085,
    // The offline espeak-ng voice unless an Azure key is set; ready once the voice is warm.
    defaults: {},
  },
  {
    name: 'speaker',
    entry: 'services/speaker/src/main.ts',
    httpPortKey: 'SIGHTLINE_SPEAKER_HTTP_PORT',
    defaultHttpPort: 8086,
    // Output `auto`: the desktop's PulseAudio (or PipeWire) when there is one, else WAV files in the data dir.
    defaults: {},
  },
  {
    name: 'alert',
    entry: 'services/alert/src/main.ts',
    httpPortKey: 'SIGHTLINE_ALERT_HTTP_PORT',
    defaultHttpPort: 8087,
    // The default rules: offline cameras and services, unknown items, weight mismatches, low-confidence scans, drift.
    // Capture's camera is one alert knows: its offline alert keeps the rule's severity (cameras only
    // seen on the bus get warnings). With a cameras file, list them in SIGHTLINE_ALERT_CAMERAS.
    defaults: process.env.SIGHTLINE_CAPTURE_CAMERAS_FILE === undefined ? { SIGHTLINE_ALERT_CAMERAS: process.env.SIGHTLINE_CAPTURE_CAMERA ?? 'demo' } : {},
  },
  {
    name: 'azurite',
    entry: 'infra/azurite/main.ts',
    httpPortKey: 'SIGHTLINE_AZURITE_HTTP_PORT',
    defaultHttpPort: 8089,
    // Microsoft's Blob Storage emulator, so sync needs no cloud account.
    defaults: {},
    onBus: false,
  },
  {
    name: 'sync',
    entry: 'services/sync/src/main.ts',
    httpPortKey: 'SIGHTLINE_SYNC_HTTP_PORT',
    defaultHttpPort: 8088,
    // Azurite's published development account, on the port the stack runs it on.
    defaults: { SIGHTLINE_SYNC_CONNECTION_STRING: azuriteConnectionString('127.0.0.1', Number(process.env.SIGHTLINE_AZURITE_BLOB_PORT ?? 10000)) },
  },
];

/** The integrator account the dev stack makes for people: reads everything, sends commands and scale readings. */
export const OPERATOR_USER = 'operator';

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
      return { SIGHTLINE_MQTT_USERNAME: name, SIGHTLINE_MQTT_PASSWORD_FILE: join(dir, name) };
    },
  };
}

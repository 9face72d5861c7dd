/**
 * An Azure IoT Edge deployment manifest built from compose.yaml, so a fleet device runs the same
 * services, images, volumes, ports and environment as `docker compose up`. No secret goes in: the
 * registry credentials and every secret-named variable become `$NAME` placeholders filled at deploy
 * time, and secret files stay on the device (the `credentials` volume the broker provisions).
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

export const REGISTRY_ADDRESS = '$CONTAINER_REGISTRY_ADDRESS';
export const REGISTRY_USERNAME = '$CONTAINER_REGISTRY_USERNAME';
export const REGISTRY_PASSWORD = '$CONTAINER_REGISTRY_PASSWORD';

const EDGE_RUNTIME_VERSION = '1.5';
/** IoT Edge caps each createOptions string at 512 characters and reads up to 8 (createOptions, 01..07). */
const CREATE_OPTIONS_CHUNK = 512;
const CREATE_OPTIONS_MAX_CHUNKS = 8;
/** Messages edgeHub keeps while offline: a day covers a shop's connection dropping overnight. */
const STORE_AND_FORWARD_TTL_SECS = 86_400;

/** A variable with one of these name endings holds a secret: its value never enters the manifest. */
export const SECRET_NAME = /(PASSWORD|TOKEN|KEY|SECRET|CONNECTION_STRING)$/;
/** Values that carry a credential whatever the variable is called. */
const SECRET_VALUE = /AccountKey=|SharedAccessKey=|SharedAccessSignature|password=/i;

const stringList = z.array(z.string());
const environment = z.union([
  z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
  z.array(z.string()).transform((entries) => Object.fromEntries(entries.map((entry) => [entry.split('=')[0]!, entry.slice(entry.indexOf('=') + 1)]))),
]);
const byteSize = z.union([z.string(), z.number()]);

/** The part of a compose service the manifest is made from; keys it does not need are ignored. */
const composeService = z.object({
  image: z.string(),
  restart: z.enum(['no', 'always', 'on-failure', 'unless-stopped']).optional(),
  command: z.union([z.string(), stringList]).optional(),
  depends_on: z.union([stringList, z.record(z.string(), z.unknown())]).optional(),
  environment: environment.optional(),
  ports: z.array(z.union([z.string(), z.number()])).optional(),
  expose: z.array(z.union([z.string(), z.number()])).optional(),
  volumes: stringList.optional(),
  devices: stringList.optional(),
  user: z.string().optional(),
  read_only: z.boolean().optional(),
  tmpfs: z.union([z.string(), stringList]).optional(),
  cap_drop: stringList.optional(),
  security_opt: stringList.optional(),
  mem_limit: byteSize.optional(),
  cpus: z.union([z.string(), z.number()]).optional(),
  deploy: z
    .object({
      resources: z.object({ limits: z.object({ cpus: z.union([z.string(), z.number()]).optional(), memory: byteSize.optional() }).optional() }).optional(),
    })
    .optional(),
  healthcheck: z
    .object({
      test: z.union([z.string(), stringList]),
      interval: z.string().optional(),
      timeout: z.string().optional(),
      retries: z.number().optional(),
      start_period: z.string().optional(),
    })
    .optional(),
});
const composeFile = z.object({ services: z.record(z.string().regex(/^[a-zA-Z0-9_-]+$/, 'an IoT Edge module name'), composeService) });
type ComposeService = z.infer<typeof composeService>;

type EnvValue = { value: string | number | boolean };
type ModuleSettings = { image: string } & Record<`createOptions${string}`, string>;
export interface EdgeModule {
  version: string;
  type: 'docker';
  status: 'running';
  restartPolicy: 'never' | 'on-failure' | 'always';
  startupOrder: number;
  env?: Record<string, EnvValue>;
  settings: ModuleSettings;
}
export interface DeploymentManifest {
  modulesContent: {
    $edgeAgent: {
      'properties.desired': {
        schemaVersion: string;
        runtime: {
          type: 'docker';
          settings: { minDockerVersion: string; registryCredentials: Record<string, { username: string; password: string; address: string }> };
        };
        systemModules: Record<'edgeAgent' | 'edgeHub', Record<string, unknown>>;
        modules: Record<string, EdgeModule>;
      };
    };
    $edgeHub: { 'properties.desired': { schemaVersion: string; routes: Record<string, string>; storeAndForwardConfiguration: { timeToLiveSecs: number } } };
  };
}

export function parseCompose(text: string): Record<string, ComposeService> {
  const result = composeFile.safeParse(parseYaml(text, { merge: true }));
  if (!result.success) throw new Error(`compose file: ${result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  return result.data.services;
}

function dependencies(service: ComposeService): string[] {
  const dependsOn = service.depends_on ?? [];
  return Array.isArray(dependsOn) ? dependsOn : Object.keys(dependsOn);
}

/**
 * Each service's start position: 0 for one that depends on nothing, else one past its latest
 * dependency. edgeAgent starts modules in that order but does not wait for health as compose's
 * `service_healthy` does; services already retry their broker connection.
 */
export function startupOrders(services: Record<string, ComposeService>): Map<string, number> {
  const orders = new Map<string, number>();
  const visiting: string[] = [];
  const visit = (name: string): number => {
    const known = orders.get(name);
    if (known !== undefined) return known;
    if (visiting.includes(name)) throw new Error(`depends_on cycle: ${[...visiting.slice(visiting.indexOf(name)), name].join(' -> ')}`);
    visiting.push(name);
    let order = 0;
    for (const dependency of dependencies(services[name]!)) {
      if (services[dependency] === undefined) throw new Error(`${name} depends_on ${dependency}, which is not a service`);
      order = Math.max(order, visit(dependency) + 1);
    }
    visiting.pop();
    orders.set(name, order);
    return order;
  };
  for (const name of Object.keys(services)) visit(name);
  return orders;
}

/** The placeholder a secret-valued variable gets; the deployer substitutes it from a vault. */
export function secretPlaceholder(name: string): string {
  return `$${name}`;
}

function environmentOf(service: ComposeService): Record<string, EnvValue> | undefined {
  const entries = Object.entries(service.environment ?? {});
  if (entries.length === 0) return undefined;
  const env: Record<string, EnvValue> = {};
  for (const [name, value] of entries) {
    const text = value === null ? '' : String(value);
    // A `*_FILE` path is a reference to a secret kept on the device, not the secret, so it is kept.
    env[name] = { value: SECRET_NAME.test(name) || SECRET_VALUE.test(text) ? secretPlaceholder(name) : text };
  }
  return env;
}

function restartPolicy(restart: ComposeService['restart']): EdgeModule['restartPolicy'] {
  if (restart === 'no') return 'never';
  if (restart === 'on-failure') return 'on-failure';
  return 'always';
}

/** "127.0.0.1:8082:8082", "8082:8082", "8082", "1883/udp" as Docker's ExposedPorts and PortBindings. */
function portBindings(ports: (string | number)[]): { exposed: Record<string, object>; bindings: Record<string, { HostIp?: string; HostPort: string }[]> } {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostIp?: string; HostPort: string }[]> = {};
  for (const port of ports) {
    const [spec, protocol = 'tcp'] = String(port).split('/');
    const parts = spec!.split(':');
    const key = `${parts.at(-1)}/${protocol}`;
    exposed[key] = {};
    if (parts.length === 1) continue;
    const binding = parts.length === 3 ? { HostIp: parts[0]!, HostPort: parts[1]! } : { HostPort: parts[0]! };
    (bindings[key] ??= []).push(binding);
  }
  return { exposed, bindings };
}

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
/** A compose duration ("5s", "1m30s") in nanoseconds, as Docker's Healthcheck wants. */
function nanoseconds(duration: string): number {
  let total = 0;
  for (const match of duration.matchAll(/(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/g)) total += Number(match[1]) * DURATION_UNITS[match[2]!]!;
  return total;
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
function bytes(size: string | number): number {
  if (typeof size === 'number') return size;
  const match = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(size.trim());
  if (match === null) throw new Error(`not a memory size: ${size}`);
  return Math.round(Number(match[1]) * BYTE_UNITS[match[2]!.toLowerCase()]!);
}

/** The Docker create options (the Engine API's container create body) a compose service implies. */
export function createOptionsOf(service: ComposeService): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  const hostConfig: Record<string, unknown> = {};
  if (service.command !== undefined) options.Cmd = typeof service.command === 'string' ? ['sh', '-c', service.command] : service.command;
  if (service.user !== undefined) options.User = service.user;
  const { exposed, bindings } = portBindings([...(service.expose ?? []), ...(service.ports ?? [])]);
  if (Object.keys(exposed).length > 0) options.ExposedPorts = exposed;
  if (service.healthcheck !== undefined) {
    const check = service.healthcheck;
    options.Healthcheck = {
      Test: typeof check.test === 'string' ? ['CMD-SHELL', check.test] : check.test,
      ...(check.interval && { Interval: nanoseconds(check.interval) }),
      ...(check.timeout && { Timeout: nanoseconds(check.timeout) }),
      ...(check.retries !== undefined && { Retries: check.retries }),
      ...(check.start_period && { StartPeriod: nanoseconds(check.start_period) }),
    };
  }
  if ((service.volumes ?? []).length > 0) hostConfig.Binds = service.volumes;
  if (Object.keys(bindings).length > 0) hostConfig.PortBindings = bindings;
  if ((service.devices ?? []).length > 0) {
    hostConfig.Devices = service.devices!.map((device) => {
      const [onHost, inContainer = onHost, permissions = 'rwm'] = device.split(':');
      return { PathOnHost: onHost, PathInContainer: inContainer, CgroupPermissions: permissions };
    });
  }
  const limits = service.deploy?.resources?.limits;
  const memory = limits?.memory ?? service.mem_limit;
  const cpus = limits?.cpus ?? service.cpus;
  if (memory !== undefined) hostConfig.Memory = bytes(memory);
  if (cpus !== undefined) hostConfig.NanoCpus = Math.round(Number(cpus) * 1e9);
  if (service.read_only !== undefined) hostConfig.ReadonlyRootfs = service.read_only;
  if (service.tmpfs !== undefined) {
    // "/tmp" or "/tmp:size=64m": Docker's Tmpfs maps each path to its mount options.
    const mounts = typeof service.tmpfs === 'string' ? [service.tmpfs] : service.tmpfs;
    hostConfig.Tmpfs = Object.fromEntries(mounts.map((mount) => [mount.split(':')[0]!, mount.split(':').slice(1).join(':')]));
  }
  if (service.cap_drop !== undefined) hostConfig.CapDrop = service.cap_drop;
  if (service.security_opt !== undefined) hostConfig.SecurityOpt = service.security_opt;
  if (Object.keys(hostConfig).length > 0) options.HostConfig = hostConfig;
  return options;
}

/** createOptions as IoT Edge stores it: one JSON string, split into createOptions01.. past 512 characters. */
export function splitCreateOptions(options: Record<string, unknown>): Record<`createOptions${string}`, string> {
  const json = JSON.stringify(options);
  const chunks: string[] = [];
  for (let start = 0; start < json.length; start += CREATE_OPTIONS_CHUNK) chunks.push(json.slice(start, start + CREATE_OPTIONS_CHUNK));
  if (chunks.length > CREATE_OPTIONS_MAX_CHUNKS)
    throw new Error(`createOptions of ${json.length} characters exceeds IoT Edge's ${CREATE_OPTIONS_MAX_CHUNKS} x 512`);
  return Object.fromEntries(chunks.map((chunk, index) => [index === 0 ? 'createOptions' : `createOptions${String(index).padStart(2, '0')}`, chunk]));
}

/** The module's image in the fleet's registry: compose's `sightline/broker:dev` under the registry address. */
export function registryImage(composeImage: string): string {
  return `${REGISTRY_ADDRESS}/${composeImage}`;
}

export function buildDeploymentManifest(composeText: string): DeploymentManifest {
  const services = parseCompose(composeText);
  const orders = startupOrders(services);
  const modules: Record<string, EdgeModule> = {};
  const routes: Record<string, string> = {};
  for (const [name, service] of Object.entries(services)) {
    const env = environmentOf(service);
    modules[name] = {
      version: '1.0',
      type: 'docker',
      status: 'running',
      restartPolicy: restartPolicy(service.restart),
      startupOrder: orders.get(name)!,
      ...(env && { env }),
      settings: { image: registryImage(service.image), ...splitCreateOptions(createOptionsOf(service)) },
    };
    routes[`${name.replace(/[^a-zA-Z0-9_]/g, '_')}ToUpstream`] = `FROM /messages/modules/${name}/outputs/* INTO $upstream`;
  }
  return {
    modulesContent: {
      $edgeAgent: {
        'properties.desired': {
          schemaVersion: '1.1',
          runtime: {
            type: 'docker',
            settings: {
              minDockerVersion: 'v1.25',
              registryCredentials: { sightline: { username: REGISTRY_USERNAME, password: REGISTRY_PASSWORD, address: REGISTRY_ADDRESS } },
            },
          },
          systemModules: {
            edgeAgent: { type: 'docker', settings: { image: `mcr.microsoft.com/azureiotedge-agent:${EDGE_RUNTIME_VERSION}` } },
            edgeHub: {
              type: 'docker',
              status: 'running',
              restartPolicy: 'always',
              startupOrder: 0,
              settings: {
                image: `mcr.microsoft.com/azureiotedge-hub:${EDGE_RUNTIME_VERSION}`,
                ...splitCreateOptions({
                  HostConfig: { PortBindings: { '5671/tcp': [{ HostPort: '5671' }], '8883/tcp': [{ HostPort: '8883' }], '443/tcp': [{ HostPort: '443' }] } },
                }),
              },
            },
          },
          modules,
        },
      },
      $edgeHub: {
        'properties.desired': { schemaVersion: '1.1', routes, storeAndForwardConfiguration: { timeToLiveSecs: STORE_AND_FORWARD_TTL_SECS } },
      },
    },
  };
}

export function manifestText(composeText: string): string {
  return `${JSON.stringify(buildDeploymentManifest(composeText), null, 2)}\n`;
}

/**
 * The Azure IoT Edge manifest is compose.yaml for a fleet: the committed one must be what the
 * generator makes from today's compose.yaml, valid against the published schema, carry every
 * service over, and hold no secret.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import AjvDraft04 from 'ajv-draft-04';
import { COMPOSE_PATH, MANIFEST_PATH } from '../infra/iot-edge/generate.ts';
import { buildDeploymentManifest, manifestText, parseCompose, registryImage, SECRET_NAME, type DeploymentManifest } from '../infra/iot-edge/manifest.ts';

const SCHEMA_PATH = join(import.meta.dirname, '..', 'infra', 'iot-edge', 'schema', 'azure-iot-edge-deployment-2.0.json');
const composeText = readFileSync(COMPOSE_PATH, 'utf8');
const committedText = readFileSync(MANIFEST_PATH, 'utf8');
const manifest = JSON.parse(committedText) as DeploymentManifest;
const services = parseCompose(composeText);
const modules = manifest.modulesContent.$edgeAgent['properties.desired'].modules;

/** The Docker create options of a module, its createOptions01.. pieces joined back. */
function createOptions(name: string): { HostConfig?: { Binds?: string[]; PortBindings?: Record<string, { HostIp?: string; HostPort: string }[]> } } {
  const settings = modules[name]!.settings as Record<string, string>;
  const keys = Object.keys(settings)
    .filter((key) => /^createOptions\d*$/.test(key))
    .sort();
  return JSON.parse(keys.map((key) => settings[key]).join(''));
}

test('the committed IoT Edge manifest is what compose.yaml generates', () => {
  assert.equal(committedText, manifestText(composeText), 'infra/iot-edge/deployment.template.json is stale: run `pnpm iot-edge:manifest` and commit it');
});

test('the IoT Edge manifest is valid against the SchemaStore deployment schema', () => {
  // The schema declares draft-04; the package is CommonJS, so its class is the default's `default`.
  const ajv = new AjvDraft04.default({ allErrors: true, strict: false });
  const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')));
  const valid = validate(manifest);
  assert.ok(valid, `schema errors:\n${JSON.stringify(validate.errors, null, 2)}`);
});

test('every compose service is a module with its image, ports, binds and environment, started after what it depends on', () => {
  assert.deepEqual(Object.keys(modules).sort(), Object.keys(services).sort());
  for (const [name, service] of Object.entries(services)) {
    const edgeModule = modules[name]!;
    assert.equal(edgeModule.settings.image, registryImage(service.image), name);
    const dependsOn = Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {});
    for (const dependency of dependsOn) {
      assert.ok(edgeModule.startupOrder > modules[dependency]!.startupOrder, `${name} starts after ${dependency}`);
    }
    const options = createOptions(name);
    assert.deepEqual(options.HostConfig?.Binds ?? [], service.volumes ?? [], `${name} binds`);
    for (const port of service.ports ?? []) {
      const [hostIp, hostPort, containerPort] = String(port).split(':');
      assert.deepEqual(options.HostConfig?.PortBindings?.[`${containerPort}/tcp`], [{ HostIp: hostIp, HostPort: hostPort }], `${name} port ${port}`);
    }
    for (const [variable, value] of Object.entries(service.environment ?? {})) {
      if (SECRET_NAME.test(variable)) continue;
      assert.deepEqual(edgeModule.env?.[variable], { value: String(value) }, `${name} ${variable}`);
    }
  }
  assert.equal(modules.broker!.startupOrder, 0);
  assert.ok(modules.sync!.startupOrder > modules.azurite!.startupOrder);
});

test('every service runs confined, in compose and on the device: read-only root, a /tmp in memory, no capabilities, no privilege gain, memory and CPU limits', () => {
  for (const [name, service] of Object.entries(services)) {
    const limits = service.deploy?.resources?.limits;
    assert.ok(service.read_only === true && limits?.memory !== undefined && limits.cpus !== undefined, `${name} is read-only with limits in compose.yaml`);
    const host = (createOptions(name) as { HostConfig?: Record<string, unknown> }).HostConfig ?? {};
    assert.equal(host.ReadonlyRootfs, true, name);
    assert.deepEqual(host.Tmpfs, { '/tmp': '' }, name);
    assert.deepEqual(host.CapDrop, ['ALL'], name);
    assert.deepEqual(host.SecurityOpt, ['no-new-privileges:true'], name);
    assert.ok(typeof host.Memory === 'number' && host.Memory >= 128 * 1024 ** 2, `${name} memory limit ${String(host.Memory)}`);
    assert.equal(host.NanoCpus, Math.round(Number(limits.cpus) * 1e9), name);
  }
});

test('the IoT Edge manifest holds no secret from compose.yaml', () => {
  const secrets: string[] = [];
  for (const [name, service] of Object.entries(services)) {
    for (const [variable, value] of Object.entries(service.environment ?? {})) {
      if (!SECRET_NAME.test(variable) || value === null || String(value) === '') continue;
      secrets.push(String(value));
      assert.deepEqual(modules[name]!.env?.[variable], { value: `$${variable}` }, `${name} ${variable} is a placeholder`);
    }
  }
  // Azurite's published development key is the one credential compose.yaml spells out.
  const accountKey = /AccountKey=([^;]+)/.exec(composeText)?.[1];
  assert.ok(accountKey !== undefined && secrets.length > 0, 'compose.yaml no longer has the development key this test looks for');
  for (const secret of [...secrets, accountKey]) assert.ok(!committedText.includes(secret), `the manifest contains a secret: ${secret.slice(0, 12)}...`);
  assert.doesNotMatch(committedText, /AccountKey=|SharedAccessKey=/);
  const registry = manifest.modulesContent.$edgeAgent['properties.desired'] as {
    runtime: { settings: { registryCredentials: Record<string, Record<string, string>> } };
  };
  for (const credential of Object.values(registry.runtime.settings.registryCredentials)) {
    for (const value of Object.values(credential)) assert.match(value, /^\$CONTAINER_REGISTRY_[A-Z_]+$/);
  }
});

test('a compose file whose depends_on loops or names no service is refused', () => {
  const cycle = `services:
  a: { image: x/a:1, depends_on: [b] }
  b: { image: x/b:1, depends_on: { c: { condition: service_healthy } } }
  c: { image: x/c:1, depends_on: [a] }
`;
  assert.throws(() => buildDeploymentManifest(cycle), /depends_on cycle: a -> b -> c -> a/);
  const unknown = `services:
  a: { image: x/a:1, depends_on: [ghost] }
`;
  assert.throws(() => buildDeploymentManifest(unknown), /a depends_on ghost, which is not a service/);
});

test('long create options are split in 512-character pieces and a restart, device and limits carry over', () => {
  const compose = `services:
  cam:
    image: x/cam:1
    restart: "no"
    user: "1000:1000"
    read_only: true
    devices: ["/dev/video0:/dev/video0"]
    deploy: { resources: { limits: { cpus: "0.5", memory: 256M } } }
    volumes: [${Array.from({ length: 20 }, (_, index) => `"volume-${index}:/data/${index}"`).join(', ')}]
`;
  const cam = buildDeploymentManifest(compose).modulesContent.$edgeAgent['properties.desired'].modules.cam!;
  assert.equal(cam.restartPolicy, 'never');
  const pieces = Object.entries(cam.settings).filter(([key]) => key.startsWith('createOptions'));
  assert.deepEqual(
    pieces.map(([key]) => key),
    ['createOptions', 'createOptions01'],
  );
  assert.ok(pieces.every(([, value]) => value.length <= 512));
  const options = JSON.parse(pieces.map(([, value]) => value).join(''));
  assert.equal(options.User, '1000:1000');
  assert.deepEqual(options.HostConfig.Devices, [{ PathOnHost: '/dev/video0', PathInContainer: '/dev/video0', CgroupPermissions: 'rwm' }]);
  assert.equal(options.HostConfig.ReadonlyRootfs, true);
  assert.equal(options.HostConfig.Memory, 256 * 1024 ** 2);
  assert.equal(options.HostConfig.NanoCpus, 500_000_000);
});

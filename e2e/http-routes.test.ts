import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { composeServices } from './compose-files.ts';
import { ConfigError, createLogger, httpRoutes, JSON_BODY_LIMIT, type HttpRoute, type Runtime } from '@sightline/kit';

type FastifyInstance = Runtime['http'];
import { createAlertApp, loadAlertConfig } from '@sightline/alert';
import { createBrokerApp } from '@sightline/broker/src/app.ts';
import { loadBrokerConfig } from '@sightline/broker/src/config.ts';
import { createCaptureApp } from '@sightline/capture/src/app.ts';
import { loadCaptureConfig } from '@sightline/capture/src/config.ts';
import { createCheckoutApp, loadCheckoutConfig } from '@sightline/checkout';
import { createInferenceApp } from '@sightline/inference/src/app.ts';
import { loadInferenceConfig } from '@sightline/inference/src/config.ts';
import { createSpeakerApp, loadSpeakerConfig } from '@sightline/speaker';
import { createSyncApp, loadSyncConfig } from '@sightline/sync';
import { createTtsApp, loadTtsConfig } from '@sightline/tts';
import { createUplinkApp, loadUplinkConfig } from '@sightline/uplink';

/**
 * Every route of every service's HTTP app, as the service registers it: built without starting
 * (no broker, no socket), its routes listed by the kit, each one asked what a web page could ask.
 * A route added tomorrow is walked too.
 */

const TOKEN = 'walk-every-route-0123456789abcdefghijklmnop';
const logger = createLogger('http-routes', 'silent');

interface Built {
  http: FastifyInstance;
  stop(): Promise<void>;
}

type Builder = (env: NodeJS.ProcessEnv, cwd: string) => Built;

const SERVICES: Record<string, Builder> = {
  alert: (env, cwd) => {
    const app = createAlertApp(loadAlertConfig(env, cwd), logger);
    return { http: app.http, stop: () => app.stop() };
  },
  capture: (env, cwd) => {
    const app = createCaptureApp(loadCaptureConfig(env, cwd), logger);
    return { http: app.runtime.http, stop: () => app.stop() };
  },
  checkout: (env, cwd) => {
    const app = createCheckoutApp(loadCheckoutConfig(env, cwd), logger);
    return { http: app.runtime.http, stop: () => app.stop() };
  },
  inference: (env, cwd) => {
    const app = createInferenceApp(loadInferenceConfig(env, cwd), logger);
    return { http: app.runtime.http, stop: () => app.stop() };
  },
  speaker: (env, cwd) => {
    const app = createSpeakerApp(loadSpeakerConfig({ ...env, SIGHTLINE_SPEAKER_OUTPUT: 'none' }, cwd), logger);
    return { http: app.runtime.http, stop: () => app.stop() };
  },
  sync: (env, cwd) => {
    const app = createSyncApp(loadSyncConfig(env, cwd), logger);
    return { http: app.runtime.http, stop: () => app.stop() };
  },
  tts: (env, cwd) => {
    const app = createTtsApp(loadTtsConfig(env, cwd), logger);
    return { http: app.runtime.http, stop: () => app.stop() };
  },
  uplink: (env, cwd) => {
    const upstream = { SIGHTLINE_UPLINK_URL: 'mqtts://upstream.example:8883', SIGHTLINE_UPLINK_TOPIC_PREFIX: 'sites/routes' };
    const app = createUplinkApp(loadUplinkConfig({ ...env, ...upstream }, cwd), logger);
    return { http: app.runtime.http, stop: () => app.stop() };
  },
};

/** The broker's HTTP app answers only health and metrics, behind the same gate. */
const broker: Builder = (env) => {
  const app = createBrokerApp(loadBrokerConfig({ ...env, SIGHTLINE_BROKER_ANONYMOUS: 'loopback', SIGHTLINE_BROKER_PERSISTENCE: 'memory' }), logger);
  return { http: app.http, stop: async () => {} };
};

function environment(t: TestContext, service: string, extra: NodeJS.ProcessEnv = {}): { env: NodeJS.ProcessEnv; cwd: string } {
  const dir = mkdtempSync(join(tmpdir(), `sightline-routes-${service}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env: NodeJS.ProcessEnv = {
    SIGHTLINE_DATA_DIR: dir,
    SIGHTLINE_LOG_LEVEL: 'silent',
    // never connected: the apps are built, not started
    SIGHTLINE_MQTT_URL: 'mqtt://127.0.0.1:1',
    [`SIGHTLINE_${service.toUpperCase()}_HTTP_PORT`]: '0',
    ...extra,
  };
  return { env, cwd: dir };
}

async function build(
  t: TestContext,
  service: string,
  builder: Builder,
  extra: NodeJS.ProcessEnv = {},
): Promise<{ http: FastifyInstance; routes: readonly HttpRoute[] }> {
  const { env, cwd } = environment(t, service, extra);
  const app = builder(env, cwd);
  t.after(() => app.stop());
  await app.http.ready();
  const routes = httpRoutes(app.http);
  assert.ok(
    routes.some((r) => r.url === '/healthz'),
    `${service}: routes are listed`,
  );
  return { http: app.http, routes };
}

/** A URL that matches the route: every parameter filled in. */
const concrete = (url: string) => url.replace(/:[A-Za-z0-9_]+/g, 'x1').replace(/\*$/, 'x1');
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

for (const [service, builder] of [...Object.entries(SERVICES), ['broker', broker] as const]) {
  test(`${service}: every route refuses a foreign Host; every mutating route refuses text/plain, a form and no body; only image routes take large bodies`, async (t) => {
    const { http, routes } = await build(t, service, builder);
    const mutating = routes.filter((r) => MUTATING.has(r.method));
    for (const route of routes) {
      const url = concrete(route.url);
      const rebound = await http.inject({
        method: route.method as 'GET',
        url,
        headers: { host: 'rebound.attacker.example', 'content-type': 'application/json' },
        ...(MUTATING.has(route.method) ? { payload: '{}' } : {}),
      });
      assert.equal(rebound.statusCode, 403, `${route.method} ${route.url} with a foreign Host: ${rebound.body.slice(0, 200)}`);
      assert.ok(
        route.bodyLimit <= JSON_BODY_LIMIT || !route.bodyTypes.includes('application/json'),
        `${route.method} ${route.url}: a JSON route with a ${route.bodyLimit}-byte limit`,
      );
    }
    for (const route of mutating) {
      const url = concrete(route.url);
      for (const [type, payload] of [
        ['text/plain', '{}'],
        ['application/x-www-form-urlencoded', 'a=1'],
        [undefined, undefined],
      ] as const) {
        const response = await http.inject({
          method: route.method as 'POST',
          url,
          headers: type === undefined ? {} : { 'content-type': type },
          ...(payload === undefined ? {} : { payload }),
        });
        assert.equal(response.statusCode, 415, `${route.method} ${route.url} with ${type ?? 'no body'}: ${response.body.slice(0, 200)}`);
      }
      if (route.bodyTypes.includes('application/json')) {
        const big = await http.inject({
          method: route.method as 'POST',
          url,
          headers: { 'content-type': 'application/json' },
          payload: `{"a":"${'x'.repeat(JSON_BODY_LIMIT)}"}`,
        });
        assert.equal(big.statusCode, 413, `${route.method} ${route.url} with a body over ${JSON_BODY_LIMIT} bytes`);
      }
    }
    t.diagnostic(`${routes.length} routes, ${mutating.length} mutating: ${mutating.map((r) => `${r.method} ${r.url}`).join(', ') || 'none'}`);
  });
}

for (const [service, builder] of [...Object.entries(SERVICES), ['broker', broker] as const]) {
  test(`${service}: beyond loopback it refuses to start without SIGHTLINE_HTTP_TOKEN, and with one every route but /healthz and /readyz needs it`, async (t) => {
    const beyond = { [`SIGHTLINE_${service.toUpperCase()}_HTTP_HOST`]: '0.0.0.0' };
    const { env, cwd } = environment(t, service, beyond);
    assert.throws(
      () => builder(env, cwd),
      (err: unknown) => err instanceof ConfigError && /SIGHTLINE_HTTP_TOKEN \(or SIGHTLINE_HTTP_TOKEN_FILE\) is required/.test(err.message),
    );

    const { http, routes } = await build(t, service, builder, { ...beyond, SIGHTLINE_HTTP_TOKEN: TOKEN, SIGHTLINE_HTTP_ALLOWED_HOSTS: service });
    for (const route of routes) {
      const url = concrete(route.url);
      const body = MUTATING.has(route.method) ? { payload: '{}' } : {};
      const without = await http.inject({
        method: route.method as 'GET',
        url,
        headers: { host: `${service}:8080`, 'content-type': 'application/json' },
        ...body,
      });
      if (route.url === '/healthz' || route.url === '/readyz') assert.notEqual(without.statusCode, 401, `${route.method} ${route.url}`);
      else assert.equal(without.statusCode, 401, `${route.method} ${route.url} without the token`);
      const withToken = await http.inject({
        method: route.method as 'GET',
        url,
        headers: { host: `${service}:8080`, authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        ...body,
      });
      assert.ok(![401, 403].includes(withToken.statusCode), `${route.method} ${route.url} with the token: ${withToken.statusCode}`);
    }
  });
}

interface ComposeService {
  command?: string[];
  environment?: Record<string, string | number | boolean>;
  volumes?: string[];
  depends_on?: Record<string, unknown>;
}

test('compose.yaml: the broker makes the HTTP token before anything starts; every service reads it, loads its config and requires it', async (t) => {
  const root = join(import.meta.dirname, '..');
  // The uplink's upstream, as a site would set it; its secrets folder is the temp dir below.
  const upstream = { SIGHTLINE_UPLINK_URL: 'mqtts://upstream.example:8883', SIGHTLINE_UPLINK_TOPIC_PREFIX: 'sites/test', SIGHTLINE_UPLINK_USERNAME: 'store' };
  const compose = { services: composeServices<ComposeService>(upstream) };
  const credentials = '/run/sightline/credentials';
  const dir = mkdtempSync(join(tmpdir(), 'sightline-compose-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const local = (value: string | number | boolean) => String(value).replaceAll(credentials, dir).replaceAll('/run/secrets/uplink', dir);

  const [shell, flag, script] = compose.services['broker']!.command!;
  assert.deepEqual([shell, flag], ['sh', '-c']);
  const [makeToken, startBroker] = script!.split(' && exec ');
  assert.match(startBroker!, /^node infra\/containers\/run\.ts$/);
  await promisify(execFile)('sh', ['-c', local(makeToken!)], { cwd: root });
  const token = readFileSync(join(dir, 'http-token'), 'utf8');

  for (const [name, service] of Object.entries(compose.services)) {
    const environment = service.environment ?? {};
    const hostKey = Object.keys(environment).find((key) => key.endsWith('_HTTP_HOST'));
    if (hostKey === undefined || environment[hostKey] === '127.0.0.1') continue;
    assert.equal(environment['SIGHTLINE_HTTP_TOKEN_FILE'], `${credentials}/http-token`, `${name} listens on ${environment[hostKey]}`);
    assert.ok(
      service.volumes?.some((v) => v.startsWith(`credentials:${credentials}`)),
      `${name} mounts the credentials`,
    );
    assert.ok(service.depends_on?.['broker'] !== undefined, `${name} starts after the broker made the token`);
    assert.ok(String(environment['SIGHTLINE_HTTP_ALLOWED_HOSTS']).split(',').includes(name), `${name} answers to its compose name`);
  }

  for (const [name, builder] of Object.entries(SERVICES)) {
    const service = compose.services[name];
    assert.ok(service, `${name} is in compose.yaml`);
    const environment = Object.fromEntries(Object.entries(service.environment ?? {}).map(([key, value]) => [key, local(value)]));
    const passwordFile = environment['SIGHTLINE_MQTT_PASSWORD_FILE'];
    if (passwordFile !== undefined) writeFileSync(passwordFile, 'a-password');
    const upstreamPasswordFile = environment['SIGHTLINE_UPLINK_PASSWORD_FILE'];
    if (upstreamPasswordFile !== undefined) writeFileSync(upstreamPasswordFile, 'upstream-password');
    const { http } = await build(t, name, builder, { ...environment, SIGHTLINE_MQTT_URL: 'mqtt://127.0.0.1:1' });
    const host = { host: `${name}:8080` };
    assert.equal((await http.inject({ url: '/readyz', headers: host })).statusCode, 503, `${name}: /readyz answers without the token`);
    assert.equal((await http.inject({ url: '/metrics', headers: host })).statusCode, 401, `${name}: /metrics needs the token`);
    assert.equal(
      (await http.inject({ url: '/metrics', headers: { ...host, authorization: `Bearer ${token}` } })).statusCode,
      200,
      `${name}: the token from the volume`,
    );
  }
});

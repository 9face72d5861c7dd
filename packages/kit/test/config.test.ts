import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { ConfigError, env, loadConfig, mqttSettingsSchema } from '../src/index.ts';

const schema = z.strictObject({
  ...mqttSettingsSchema,
  SIGHTLINE_CAPTURE_HTTP_PORT: env.port(8082),
  SIGHTLINE_CAPTURE_FPS: env.number(5, 0.1, 60),
  SIGHTLINE_CAPTURE_MOTION: env.bool(false),
});

function problems(environment: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig('capture', schema, environment);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

test('defaults apply and strings are coerced', () => {
  const config = loadConfig('capture', schema, { PATH: '/bin', SIGHTLINE_CAPTURE_FPS: '2.5', SIGHTLINE_CAPTURE_MOTION: 'yes' });
  assert.equal(config.SIGHTLINE_CAPTURE_HTTP_PORT, 8082);
  assert.equal(config.SIGHTLINE_CAPTURE_FPS, 2.5);
  assert.equal(config.SIGHTLINE_CAPTURE_MOTION, true);
  assert.equal(config.SIGHTLINE_MQTT_URL, 'mqtt://127.0.0.1:1883');
  assert.equal(config.SIGHTLINE_TOPIC_PREFIX, 'sightline');
});

test('every problem is reported at once, unknown own keys included', () => {
  const found = problems({
    SIGHTLINE_CAPTURE_FSP: '5',
    SIGHTLINE_CAPTURE_HTTP_PORT: '70000',
    SIGHTLINE_CAPTURE_FPS: 'fast',
    SIGHTLINE_MQTT_URL: 'localhost',
    SIGHTLINE_TOPIC_PREFIX: 'a/#',
    SIGHTLINE_WHATEVER: '1',
  });
  assert.equal(found.length, 6, found.join('\n'));
  assert.ok(found.some((p) => p.startsWith('SIGHTLINE_CAPTURE_FSP: unknown setting')));
  assert.ok(found.some((p) => p.startsWith('SIGHTLINE_WHATEVER: unknown setting')));
  assert.ok(found.some((p) => p.startsWith('SIGHTLINE_CAPTURE_HTTP_PORT: must be 0-65535')));
  assert.ok(found.some((p) => p.startsWith('SIGHTLINE_CAPTURE_FPS: must be a number')));
  assert.ok(found.some((p) => p.startsWith('SIGHTLINE_MQTT_URL:')));
  assert.ok(found.some((p) => p.startsWith('SIGHTLINE_TOPIC_PREFIX:')));
});

test("another service's settings and settings all services share are not this service's problem", () => {
  const config = loadConfig('capture', schema, { SIGHTLINE_BROKER_MQTT_PORT: '1884', SIGHTLINE_DATA_DIR: '/tmp/x' });
  assert.equal(config.SIGHTLINE_CAPTURE_HTTP_PORT, 8082);
});

test('NAME_FILE reads a secret from a file; the secret is never echoed in an error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  writeFileSync(join(dir, 'password'), 'hunter2\n');
  const config = loadConfig('capture', schema, { SIGHTLINE_MQTT_PASSWORD_FILE: join(dir, 'password') });
  assert.equal(config.SIGHTLINE_MQTT_PASSWORD, 'hunter2');

  const missing = problems({ SIGHTLINE_MQTT_PASSWORD_FILE: join(dir, 'nope') });
  assert.match(missing[0]!, /SIGHTLINE_MQTT_PASSWORD_FILE: cannot read .*ENOENT/);
  assert.match(problems({ SIGHTLINE_MQTT_PASSWORD: 'a', SIGHTLINE_MQTT_PASSWORD_FILE: join(dir, 'password') })[0]!, /both set/);
  const empty = problems({ SIGHTLINE_MQTT_PASSWORD: '' });
  assert.ok(!empty.join('\n').includes('got'), 'no value shown for a password');
});

test('the error message lists each problem on its own line under the service name', () => {
  try {
    loadConfig('capture', schema, { SIGHTLINE_CAPTURE_FPS: '0', SIGHTLINE_CAPTURE_MOTION: 'maybe' });
    assert.fail('expected a ConfigError');
  } catch (err) {
    assert.match(
      (err as Error).message,
      /^capture: invalid configuration:\n {2}- SIGHTLINE_CAPTURE_FPS: must be at least 0.1 \(got "0"\)\n {2}- SIGHTLINE_CAPTURE_MOTION: must be true or false/,
    );
  }
});

test('a setting whose own name ends in _FILE is a plain setting, not a secret indirection', () => {
  const withFile = z.strictObject({ SIGHTLINE_BROKER_USERS_FILE: env.optionalString() });
  assert.equal(loadConfig('broker', withFile, { SIGHTLINE_BROKER_USERS_FILE: '/etc/users.json' }).SIGHTLINE_BROKER_USERS_FILE, '/etc/users.json');
});

test('id lists: each id checked and named when wrong, repeats dropped, an empty list refused', () => {
  const schema = z.strictObject({ SIGHTLINE_CAPTURE_CAMERAS: env.idList('camera', 3) });
  assert.deepEqual(loadConfig('capture', schema, { SIGHTLINE_CAPTURE_CAMERAS: ' a, b,a ' }).SIGHTLINE_CAPTURE_CAMERAS, ['a', 'b']);
  assert.equal(loadConfig('capture', schema, {}).SIGHTLINE_CAPTURE_CAMERAS, undefined);
  assert.throws(() => loadConfig('capture', schema, { SIGHTLINE_CAPTURE_CAMERAS: 'a,cam/1,#' }), /"cam\/1" is not a camera id[\s\S]*"#" is not a camera id/);
  assert.throws(() => loadConfig('capture', schema, { SIGHTLINE_CAPTURE_CAMERAS: ' , ' }), /lists no camera/);
  assert.throws(() => loadConfig('capture', schema, { SIGHTLINE_CAPTURE_CAMERAS: 'a,b,c,d' }), /lists 4 cameras; at most 3/);
});

import assert from 'node:assert/strict';
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '@sightline/kit';
import { createBrokerApp } from '../src/app.ts';
import { brokerConfig, loadBrokerConfig, redactUrl } from '../src/config.ts';
import { MAX_USERS_FILE_BYTES, readUsersFile } from '../src/users-file.ts';
import { quietLogger, tempDir } from './helpers.ts';

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadBrokerConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

test('defaults: loopback host, standard ports, data dir under SIGHTLINE_DATA_DIR', () => {
  const config = loadBrokerConfig({ SIGHTLINE_BROKER_USERS_FILE: '/etc/sightline/users.json', SIGHTLINE_DATA_DIR: '/var/lib/sightline' });
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.httpHost, '127.0.0.1');
  assert.deepEqual(config.ports, { mqtt: 1883, ws: 9001, mqtts: 8883, wss: 9443, http: 8081 });
  assert.equal(config.anonymous, 'off');
  assert.equal(config.usersFile, '/etc/sightline/users.json');
  assert.equal(config.dataDir, '/var/lib/sightline/broker');
  assert.equal(config.maxPayloadBytes, 4 * 1024 * 1024);
  assert.equal(config.persistence, 'level');
  assert.equal(config.tls, null);
});

test('every problem is reported at once: unknown key, bad port, bad enum, lone TLS cert', () => {
  const problems = problemsOf({
    SIGHTLINE_BROKER_MQTT_PROT: '1883',
    SIGHTLINE_BROKER_WS_PORT: '70000',
    SIGHTLINE_BROKER_HTTP_PORT: 'eighty',
    SIGHTLINE_BROKER_ANONYMOUS: 'maybe',
    SIGHTLINE_BROKER_USERS_FILE: '/x.json',
  });
  assert.deepEqual(problems, [
    'SIGHTLINE_BROKER_MQTT_PROT: unknown setting for broker',
    'SIGHTLINE_BROKER_WS_PORT: must be 0-65535 (got "70000")',
    'SIGHTLINE_BROKER_HTTP_PORT: must be a port number (got "eighty")',
    'SIGHTLINE_BROKER_ANONYMOUS: must be off, loopback or on (got "maybe")',
  ]);
  assert.deepEqual(problemsOf({ SIGHTLINE_BROKER_TLS_CERT: '/c.pem', SIGHTLINE_BROKER_ANONYMOUS: 'loopback' }), [
    'SIGHTLINE_BROKER_TLS_CERT and SIGHTLINE_BROKER_TLS_KEY must be given together',
  ]);
});

test('anonymous off without a users file, provisioning without a dir, and clashing ports are refused', () => {
  assert.match(problemsOf({})[0] ?? '', /ANONYMOUS is off and there is no SIGHTLINE_BROKER_USERS_FILE/);
  assert.deepEqual(problemsOf({ SIGHTLINE_BROKER_USERS_FILE: '/u.json', SIGHTLINE_BROKER_PROVISION_USERS: 'capture,inference' }), [
    'SIGHTLINE_BROKER_PROVISION_USERS needs SIGHTLINE_BROKER_USERS_FILE and SIGHTLINE_BROKER_PROVISION_DIR',
  ]);
  assert.deepEqual(problemsOf({ SIGHTLINE_BROKER_ANONYMOUS: 'loopback', SIGHTLINE_BROKER_WS_PORT: '1883' }), [
    'SIGHTLINE_BROKER_WS_PORT and SIGHTLINE_BROKER_MQTT_PORT are both 1883',
  ]);
  assert.deepEqual(
    problemsOf({
      SIGHTLINE_BROKER_ANONYMOUS: 'loopback',
      SIGHTLINE_BROKER_PROVISION_USERS: 'ok,bad/name',
      SIGHTLINE_BROKER_PROVISION_DIR: '/p',
    })[0]?.startsWith('SIGHTLINE_BROKER_PROVISION_USERS.1.username: must be'),
    true,
  );
  assert.match(
    problemsOf({ SIGHTLINE_BROKER_ANONYMOUS: 'loopback', SIGHTLINE_BROKER_PROVISION_USERS: 'capture,viewer:admin', SIGHTLINE_BROKER_PROVISION_DIR: '/p' })[0] ??
      '',
    /^SIGHTLINE_BROKER_PROVISION_USERS\.1\.rights: rights must be "read", "write", "readwrite", "service" or "integrator"/,
  );
});

test('a Redis URL selects Redis persistence; a bad one is refused without printing its password', () => {
  const base = { SIGHTLINE_BROKER_ANONYMOUS: 'loopback' };
  const config = loadBrokerConfig({ ...base, SIGHTLINE_BROKER_REDIS_URL: 'redis://:pw@redis:6379/2' });
  assert.equal(config.persistence, 'redis');
  assert.equal(config.redisUrl, 'redis://:pw@redis:6379/2');
  assert.equal(loadBrokerConfig(base).redisUrl, null);
  assert.equal(redactUrl('redis://:pw@redis:6379/2'), 'redis://***@redis:6379/2');
  assert.equal(redactUrl('rediss://user:pw@redis/0'), 'rediss://***@redis/0');
  assert.equal(redactUrl('redis://redis:6379'), 'redis://redis:6379');

  const cases: [string, string][] = [
    ['', 'SIGHTLINE_BROKER_REDIS_URL: must not be empty (got "")'],
    ['redis-host:6379', 'SIGHTLINE_BROKER_REDIS_URL must start with redis:// or rediss:// (got redis-host://)'],
    ['not a url', 'SIGHTLINE_BROKER_REDIS_URL is not a URL (expected redis://[:password@]host[:port][/db])'],
    ['http://:pw@redis:6379', 'SIGHTLINE_BROKER_REDIS_URL must start with redis:// or rediss:// (got http://)'],
    ['redis:///0', 'SIGHTLINE_BROKER_REDIS_URL names no host (redis:///0)'],
    ['redis://:pw@redis:6379/cache', 'SIGHTLINE_BROKER_REDIS_URL: the path must be a database number (redis://***@redis:6379/cache)'],
  ];
  for (const [url, problem] of cases) assert.deepEqual(problemsOf({ ...base, SIGHTLINE_BROKER_REDIS_URL: url }), [problem], url);
  assert.deepEqual(problemsOf({ ...base, SIGHTLINE_BROKER_PERSISTENCE: 'redis' }), ['SIGHTLINE_BROKER_PERSISTENCE=redis needs SIGHTLINE_BROKER_REDIS_URL']);
  assert.deepEqual(problemsOf({ ...base, SIGHTLINE_BROKER_PERSISTENCE: 'level', SIGHTLINE_BROKER_REDIS_URL: 'redis://redis' }), [
    'SIGHTLINE_BROKER_PERSISTENCE=level and SIGHTLINE_BROKER_REDIS_URL are both set: a broker with a Redis URL keeps its state in Redis',
  ]);
});

test('users file problems name the file and the problem', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'users.json');
  const cases: [string, RegExp][] = [
    ['', /users\.json: is empty/],
    ['   \n', /users\.json: is empty/],
    ['{"version":1,"users":{', /is not valid JSON/],
    ['[]', /has the wrong shape:\n.*\(top level\): /],
    ['{"version":2,"users":{}}', /version: version must be 1/],
    ['{"version":1,"users":{},"admins":[]}', /\(top level\): Unrecognized key: "admins"/],
    ['{"version":1,"users":{"bob":{"hash":"md5$abc","acl":[]}}}', /users\.bob\.hash: bad password hash: must look like scrypt\$N\$r\$p\$salt\$hash/],
    [
      '{"version":1,"users":{"bob":{"hash":"scrypt$1073741824$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==","acl":[]}}}',
      /users\.bob\.hash: bad password hash: N must be a power of 2/,
    ],
    [
      '{"version":1,"users":{"bob":{"hash":"scrypt$16384$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==","acl":[{"pattern":"a/#/b","access":"read"}]}}}',
      /users\.bob\.acl\.0\.pattern: ACL pattern "a\/#\/b" "#" must be a whole level/,
    ],
    [
      '{"version":1,"users":{"bob":{"hash":"scrypt$16384$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==","acl":[{"pattern":"a","access":"all"}]}}}',
      /access must be "read", "write" or "readwrite"/,
    ],
    ['{"version":1,"users":{"bad name":{"hash":"x","acl":[]}}}', /users\.bad name: username must be 1-64 characters/],
  ];
  for (const [content, expected] of cases) {
    await writeFile(path, content);
    await assert.rejects(readUsersFile(path), expected, `for ${JSON.stringify(content)}`);
  }
  await assert.rejects(readUsersFile(join(dir, 'missing.json')), /missing\.json: cannot be read: ENOENT/);
  // A huge file is refused before it is read.
  await writeFile(path, '');
  await truncate(path, MAX_USERS_FILE_BYTES + 1);
  await assert.rejects(readUsersFile(path), /is too large \(1048577 bytes; at most 1048576\)/);
  // The broker refuses to start with it, naming the problem.
  await writeFile(path, '{"version":1,"users":{"bob":{"hash":"scrypt$3$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==","acl":[]}}}');
  const app = createBrokerApp(brokerConfig({ usersFile: path, anonymous: 'off' }), quietLogger());
  await assert.rejects(app.start(), /users file .*users\.json: has the wrong shape:\n.*users\.bob\.hash: bad password hash: N must be a power of 2/);
});

test('the data dir of a running broker cannot be opened twice', async (t) => {
  const dataDir = await tempDir(t);
  const first = createBrokerApp(brokerConfig({ persistence: 'level', dataDir }), quietLogger());
  await first.start();
  t.after(() => first.stop());
  const second = createBrokerApp(brokerConfig({ persistence: 'level', dataDir }), quietLogger());
  await assert.rejects(second.start(), /cannot open the broker data dir/);
});

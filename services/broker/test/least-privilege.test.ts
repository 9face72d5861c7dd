import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { ConfigError } from '@sightline/kit';
import { busServices, channels, createTopics, serviceAccessRules, type Channel, type Party } from '@sightline/schemas';
import { createBrokerApp, type BrokerApp } from '../src/app.ts';
import { brokerConfig, loadBrokerConfig, type BrokerConfig, type ProvisionedUser } from '../src/config.ts';
import { readUsersFile, writeUsersFile } from '../src/users-file.ts';
import { collect, connectClient, metric, mqttUrl, openBroker, quietLogger, sleep, startBroker, subscribeGranted, tempDir } from './helpers.ts';

const topics = createTopics('sightline');
const allChannels = Object.values(channels) as Channel<unknown, string>[];

test('anonymous clients read the prefix and write nothing, unless the users file says otherwise', async (t) => {
  const app = await startBroker(t, { anonymous: 'loopback' });
  const watcher = await connectClient(t, mqttUrl(app));
  const inbox = collect(watcher);
  assert.deepEqual(await subscribeGranted(watcher, ['sightline/#', 'elsewhere/#']), [1, 128]);
  const anonymous = await connectClient(t, mqttUrl(app));
  await anonymous.publishAsync('sightline/lanes/1/scan', 'forged', { qos: 1 });
  await anonymous.publishAsync('sightline/services/broker/availability', 'offline', { qos: 1, retain: true });
  await sleep(200);
  assert.deepEqual(
    inbox.filter((m) => !m.retain),
    [],
  );
  assert.equal(await metric(app, 'sightline_broker_denied_publishes_total'), 2);
  // A will needs write rights too.
  const withWill = await connectClient(t, mqttUrl(app), { will: { topic: 'sightline/x', payload: Buffer.from('bye'), qos: 0, retain: false } }).catch(
    (err: Error) => err,
  );
  assert.ok(withWill instanceof Error, 'a will on a topic anonymous clients cannot write was accepted');

  const open = await openBroker(t);
  const reader = await connectClient(t, mqttUrl(open));
  const readerInbox = collect(reader);
  await reader.subscribeAsync('sightline/#', { qos: 1 });
  const writer = await connectClient(t, mqttUrl(open));
  await writer.publishAsync('sightline/lanes/1/scan', 'allowed by the users file', { qos: 1 });
  assert.equal((await readerInbox.next((m) => !m.retain)).payload.toString(), 'allowed by the users file');
});

async function provisionedBroker(
  t: TestContext,
  users: ProvisionedUser[],
  overrides: Partial<BrokerConfig> = {},
): Promise<{ app: BrokerApp; password(name: string): Promise<string>; config: BrokerConfig }> {
  const dir = await tempDir(t);
  const provisionDir = join(dir, 'credentials');
  const config = brokerConfig({ usersFile: join(dir, 'users.json'), anonymous: 'off', provision: { users, dir: provisionDir }, ...overrides });
  const app = createBrokerApp(config, quietLogger());
  await app.start();
  t.after(() => app.stop());
  return { app, config, password: (name) => readFile(join(provisionDir, name), 'utf8') };
}

function paramsFor(channel: Channel<unknown, string>, party: string, own: string): Record<string, string> {
  return Object.fromEntries(channel.params.map((param) => [param, param === channel.ownParam ? own : `lp-${party}`]));
}

/** Publishes on every channel as `party` (and on another service's availability) and checks which reach an observer that reads everything. */
async function checkPublishing(
  app: BrokerApp,
  party: Party,
  client: Awaited<ReturnType<typeof connectClient>>,
  observerInbox: ReturnType<typeof collect>,
): Promise<void> {
  const attempts: { payload: string; topic: string; allowed: boolean }[] = [];
  for (const channel of allChannels) {
    attempts.push({
      topic: topics.topic(channel, paramsFor(channel, party, party)),
      payload: `${party}/${channel.name}`,
      allowed: channel.publishers.includes(party),
    });
  }
  const other = busServices.find((service) => service !== party)!;
  attempts.push({ topic: topics.topic(channels.availability, { service: other }), payload: `${party}/availability-of-${other}`, allowed: false });
  const deniedBefore = await metric(app, 'sightline_broker_denied_publishes_total');
  for (const { topic, payload } of attempts) await client.publishAsync(topic, payload, { qos: 1 });
  for (const { payload, topic } of attempts.filter((a) => a.allowed)) {
    const got = await observerInbox.next((m) => m.payload.toString() === payload).catch(() => null);
    assert.ok(got !== null, `${party} may publish ${topic} but it was not delivered`);
  }
  const denied = attempts.filter((a) => !a.allowed);
  assert.equal((await metric(app, 'sightline_broker_denied_publishes_total')) - deniedBefore, denied.length, `${party}: publishes dropped`);
  for (const { payload, topic } of denied) {
    assert.equal(
      observerInbox.some((m) => m.payload.toString() === payload),
      false,
      `${party} may not publish ${topic} but it was delivered`,
    );
  }
}

test('each bus service provisioned as name:service can publish and subscribe exactly what its channels say', async (t) => {
  const users: ProvisionedUser[] = [
    ...busServices.map((username) => ({ username, rights: 'service' as const })),
    { username: 'operator', rights: 'integrator' },
  ];
  const { app, password } = await provisionedBroker(t, users);
  const url = mqttUrl(app);
  const observer = await connectClient(t, url, { username: 'operator', password: await password('operator') });
  const observerInbox = collect(observer);
  await observer.subscribeAsync('sightline/#', { qos: 1 });

  for (const service of busServices) {
    const client = await connectClient(t, url, { username: service, password: await password(service), clientId: `lp-${service}` });
    await checkPublishing(app, service, client, observerInbox);
    const filters = allChannels.map((channel) => topics.filter(channel));
    const other = busServices.find((s) => s !== service)!;
    filters.push(topics.topic(channels.availability, { service: other }));
    const expected = allChannels.map((channel) => (channel.subscribers.includes(service) ? 1 : 128));
    expected.push((channels.availability.subscribers as readonly string[]).includes(service) ? 1 : 128);
    const granted: number[] = [];
    for (const filter of filters) granted.push(...(await subscribeGranted(client, [filter])));
    assert.deepEqual(
      Object.fromEntries(filters.map((f, i) => [f, granted[i]])),
      Object.fromEntries(filters.map((f, i) => [f, expected[i]])),
      `${service}: SUBACK per channel`,
    );
    // Its own will (availability offline) is accepted.
    const withWill = await connectClient(t, url, {
      username: service,
      password: await password(service),
      will: { topic: topics.topic(channels.availability, { service }), payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    await withWill.endAsync();
    await client.endAsync();
  }
});

test('an integrator (name:integrator) reads everything and writes only the channels meant for integrators', async (t) => {
  const { app, password } = await provisionedBroker(t, [
    { username: 'operator', rights: 'integrator' },
    { username: 'viewer', rights: 'read' },
  ]);
  const url = mqttUrl(app);
  const observer = await connectClient(t, url, { username: 'viewer', password: await password('viewer') });
  const observerInbox = collect(observer);
  await observer.subscribeAsync('sightline/#', { qos: 1 });
  const operator = await connectClient(t, url, { username: 'operator', password: await password('operator') });
  await checkPublishing(app, 'integrator', operator, observerInbox);
  const granted = await subscribeGranted(
    operator,
    allChannels.map((channel) => topics.filter(channel)),
  );
  assert.deepEqual(
    granted,
    allChannels.map(() => 1),
  );
});

test('role entries get their rights derived again at every start; the password is kept', async (t) => {
  const { app, config, password } = await provisionedBroker(t, [{ username: 'capture', rights: 'service' }]);
  const before = await password('capture');
  const hash = (await readUsersFile(config.usersFile!)).users.capture!.hash;
  await app.stop();
  // Someone widened capture's rights by hand.
  const file = await readUsersFile(config.usersFile!);
  file.users.capture!.acl = [{ pattern: '#', access: 'readwrite' }];
  await writeUsersFile(config.usersFile!, file);

  const again = createBrokerApp(config, quietLogger());
  await again.start();
  t.after(() => again.stop());
  const after = await readUsersFile(config.usersFile!);
  assert.deepEqual(after.users.capture!.acl, serviceAccessRules('capture', 'sightline'));
  assert.equal(after.users.capture!.hash, hash);
  assert.equal(await password('capture'), before);
  const capture = await connectClient(t, mqttUrl(again), { username: 'capture', password: before });
  assert.deepEqual(await subscribeGranted(capture, ['sightline/lanes/+/scan']), [128]);
});

test('name:service must name a bus service', () => {
  let problems: string[] = [];
  try {
    loadBrokerConfig({
      SIGHTLINE_BROKER_USERS_FILE: '/u.json',
      SIGHTLINE_BROKER_PROVISION_DIR: '/p',
      SIGHTLINE_BROKER_PROVISION_USERS: 'capture:service,camera:service,operator:integrator',
    });
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    problems = err.problems;
  }
  assert.deepEqual(problems, [
    'SIGHTLINE_BROKER_PROVISION_USERS.1.rights: "camera:service": camera is not a bus service (capture, inference, checkout, tts, speaker, alert, sync, console, uplink)',
  ]);
});

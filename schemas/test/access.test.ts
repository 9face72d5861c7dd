import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Aedes } from 'aedes';
import { connectAsync } from 'mqtt';
import {
  busServices,
  channels,
  channelsPublishedBy,
  createBus,
  createTopics,
  integratorAccessRules,
  serviceAccessRules,
  viewerAccessRules,
} from '../src/index.ts';

test('least privilege: each service may write exactly the channels it publishes and read exactly those it subscribes to', () => {
  assert.deepEqual(serviceAccessRules('capture', 'sightline'), [
    { pattern: 'sightline/cameras/+/frame', access: 'write' },
    { pattern: 'sightline/cameras/+/status', access: 'write' },
    { pattern: 'sightline/services/capture/availability', access: 'write' },
  ]);
  assert.deepEqual(
    serviceAccessRules('speaker', 'site/a')
      .map((r) => `${r.access} ${r.pattern}`)
      .sort(),
    [
      'read site/a/lanes/+/audio',
      'read site/a/lanes/+/event',
      'read site/a/lanes/+/scan',
      'read site/a/services/+/availability',
      'readwrite site/a/lanes/+/control',
      'write site/a/lanes/+/control/result',
      'write site/a/services/speaker/availability',
    ],
  );
  const checkout = serviceAccessRules('checkout', 'sightline');
  assert.deepEqual(checkout.map((r) => `${r.access} ${r.pattern}`).sort(), [
    'read sightline/cameras/+/detections',
    'read sightline/cameras/+/status',
    'read sightline/lanes/+/basket/set',
    'read sightline/services/+/availability',
    'readwrite sightline/lanes/+/control',
    'readwrite sightline/lanes/+/weight',
    'write sightline/lanes/+/basket',
    'write sightline/lanes/+/basket/result',
    'write sightline/lanes/+/control/result',
    'write sightline/lanes/+/event',
    'write sightline/lanes/+/scan',
    'write sightline/services/checkout/availability',
  ]);
  // No service may write another's availability, nor anything outside the prefix.
  for (const service of busServices) {
    for (const rule of serviceAccessRules(service, 'sightline')) {
      assert.ok(rule.pattern.startsWith('sightline/'), rule.pattern);
      assert.ok(!rule.pattern.includes('#'), `${service} has a multi-level wildcard: ${rule.pattern}`);
      if (rule.pattern.includes('/availability') && rule.access !== 'read') assert.equal(rule.pattern, `sightline/services/${service}/availability`);
    }
  }
});

test('least privilege: integrators read everything and write only the command and input channels; viewers write nothing', () => {
  assert.deepEqual(
    channelsPublishedBy('integrator')
      .map((c) => c.name)
      .sort(),
    ['basket-command', 'lane-control', 'model-command', 'product-command', 'weight'],
  );
  assert.deepEqual(
    integratorAccessRules('sightline').map((r) => `${r.access} ${r.pattern}`),
    [
      'read sightline/#',
      'write sightline/services/inference/model/set',
      'write sightline/services/inference/products/set',
      'write sightline/lanes/+/weight',
      'write sightline/lanes/+/basket/set',
      'write sightline/lanes/+/control',
    ],
  );
  assert.deepEqual(viewerAccessRules('sightline'), [{ pattern: 'sightline/#', access: 'read' }]);
});

test('a service bus refuses, with the reason, to publish or subscribe outside its channels; a tool bus refuses nothing', async (t) => {
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle).listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    server.close();
  });
  const client = await connectAsync(`mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, { protocolVersion: 4, reconnectPeriod: 0 });
  t.after(() => client.endAsync(true));
  const logger = { warn: () => {}, error: () => {}, debug: () => {} };
  const capture = createBus({ client, topics: createTopics(), logger, party: 'capture' });
  await assert.rejects(
    capture.publish(channels.scan, { lane: 'lane-1' }, channels.scan.example),
    /capture does not publish scan \(its publishers are checkout/,
  );
  await assert.rejects(
    capture.subscribe(channels.frame, {}, () => {}),
    /capture does not subscribe to frame/,
  );
  assert.ok((await capture.publish(channels.frame, { camera: 'demo' }, channels.frame.example)) > 0);
  const tool = createBus({ client, topics: createTopics(), logger });
  await tool.subscribe(channels.basket, {}, () => {});
  assert.ok((await tool.publish(channels.scan, { lane: 'lane-1' }, channels.scan.example)) > 0);
});

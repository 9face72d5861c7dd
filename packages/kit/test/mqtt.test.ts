import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { pino } from 'pino';
import { createServiceMqttClient } from '../src/mqtt.ts';
import { startTestBroker } from '../src/testing.ts';

// mqtt-packet, the encoder mqtt.js uses, as mqtt.js itself loads it.
const packets = createRequire(import.meta.resolve('mqtt'));
const numbers = packets('mqtt-packet/numbers.js') as { cache: Record<number, Buffer> };

test('a service client sends QoS 1 packets without mqtt-packet filling its 65536-entry number cache', async (t) => {
  const broker = await startTestBroker(t);
  const { client } = createServiceMqttClient('kit-test', { url: broker.url, topicPrefix: 'sightline' }, pino({ level: 'silent' }));
  t.after(() => client.endAsync(true));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
    client.connect();
  });
  await client.publishAsync('sightline/test', 'x', { qos: 1 });
  await client.subscribeAsync('sightline/test', { qos: 1 });
  assert.equal(Object.keys(numbers.cache).length, 0);
});

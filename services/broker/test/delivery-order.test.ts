import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { MqttClient } from 'mqtt';
import { DEDUPE_WINDOW } from '../src/dedupe.ts';
import { connectClient, mqttUrl, openBroker, sleep, tempDir } from './helpers.ts';

/** Every message a client got on the counted topics, by topic and the number its payload starts with, with how many times. */
function tally(client: MqttClient, counted: (topic: string) => boolean): Map<string, number> {
  const got = new Map<string, number>();
  client.on('message', (topic, payload) => {
    if (!counted(topic)) return;
    const key = `${topic}#${payload.readUInt32BE(0)}`;
    got.set(key, (got.get(key) ?? 0) + 1);
  });
  return got;
}

function numbered(n: number, bytes: number): Buffer {
  const payload = Buffer.alloc(bytes, 1);
  payload.writeUInt32BE(n, 0);
  return payload;
}

/** What is missing from, or came twice to, each subscriber, by name. */
async function gaps(
  subscribers: Array<{ name: string; got: Map<string, number> }>,
  expected: string[],
): Promise<Record<string, { missing: number; twice: number }>> {
  for (let i = 0; i < 100 && subscribers.some(({ got }) => got.size < expected.length); i++) await sleep(100);
  return Object.fromEntries(
    subscribers.map(({ name, got }) => [
      name,
      { missing: expected.filter((key) => !got.has(key)).length, twice: [...got.values()].filter((count) => count > 1).length },
    ]),
  );
}

async function subscriber(
  t: TestContext,
  app: Awaited<ReturnType<typeof openBroker>>,
  clientId: string,
  clean: boolean,
  filters: Record<string, 0 | 1>,
  counted: (topic: string) => boolean = () => true,
) {
  const client = await connectClient(t, mqttUrl(app), { clientId, clean });
  const got = tally(client, counted);
  for (const [filter, qos] of Object.entries(filters)) await client.subscribeAsync(filter, { qos });
  return { name: clientId, got };
}

test('a burst of large QoS 1 messages, each followed by a small one, reaches persistent and clean subscribers whole, on the disk store', async (t) => {
  // As tts says a receipt: audio, then its speech, each acknowledged before the next. The speech
  // was stored faster than the audio before it, overtook it, and aedes then took the audio for a
  // duplicate: about 1 in 10 audio messages reached nobody.
  const app = await openBroker(t, { persistence: 'level', dataDir: await tempDir(t) });
  const filters = { 'sightline/lanes/+/audio': 1, 'sightline/lanes/+/speech': 1 } as const;
  const subscribers = [
    await subscriber(t, app, 'speaker', false, filters),
    await subscriber(t, app, 'integrator', false, filters),
    await subscriber(t, app, 'viewer', true, filters),
  ];
  const tts = await connectClient(t, mqttUrl(app), { clientId: 'tts', clean: false });
  const expected: string[] = [];
  for (let n = 0; n < 120; n++) {
    await tts.publishAsync('sightline/lanes/l1/audio', numbered(n, 40_000 + ((n * 7919) % 120_000)), { qos: 1 });
    await tts.publishAsync('sightline/lanes/l1/speech', numbered(n, 400), { qos: 1 });
    expected.push(`sightline/lanes/l1/audio#${n}`, `sightline/lanes/l1/speech#${n}`);
  }
  assert.deepEqual(await gaps(subscribers, expected), {
    speaker: { missing: 0, twice: 0 },
    integrator: { missing: 0, twice: 0 },
    viewer: { missing: 0, twice: 0 },
  });
});

test('QoS 1 detections overtaken by QoS 0 frames still reach a subscriber of both', async (t) => {
  const app = await openBroker(t, { persistence: 'level', dataDir: await tempDir(t) });
  // A persistent subscriber makes every detection wait for the store; frames never do.
  const alert = await subscriber(t, app, 'alert', false, { 'sightline/cameras/+/detections': 1 });
  const sync = await subscriber(t, app, 'sync', true, { 'sightline/cameras/+/frame': 0, 'sightline/cameras/+/detections': 1 }, (topic) =>
    topic.endsWith('/detections'),
  );
  const inference = await connectClient(t, mqttUrl(app), { clientId: 'inference' });
  const capture = await connectClient(t, mqttUrl(app), { clientId: 'capture' });
  const expected: string[] = [];
  for (let n = 0; n < 200; n++) {
    const detections = inference.publishAsync('sightline/cameras/c1/detections', numbered(n, 2_000 + ((n * 7919) % 30_000)), { qos: 1 });
    const frames = [0, 1, 2].map((i) => capture.publishAsync('sightline/cameras/c1/frame', numbered(n * 3 + i, 20_000), { qos: 0 }));
    await Promise.all([detections, ...frames]);
    expected.push(`sightline/cameras/c1/detections#${n}`);
  }
  assert.deepEqual(await gaps([alert, sync], expected), { alert: { missing: 0, twice: 0 }, sync: { missing: 0, twice: 0 } });
});

test('a message matching two subscriptions of one client still arrives once, also after a window of other deliveries', async (t) => {
  const app = await openBroker(t);
  const both = await subscriber(t, app, 'overlapping', false, { 'sightline/#': 1, 'sightline/lanes/+/audio': 1 });
  const publisher = await connectClient(t, mqttUrl(app));
  const expected: string[] = [];
  for (let n = 0; n < DEDUPE_WINDOW + 50; n++) {
    await publisher.publishAsync('sightline/lanes/l1/audio', numbered(n, 64), { qos: n % 2 === 0 ? 1 : 0 });
    expected.push(`sightline/lanes/l1/audio#${n}`);
  }
  assert.deepEqual(await gaps([both], expected), { overlapping: { missing: 0, twice: 0 } });
});

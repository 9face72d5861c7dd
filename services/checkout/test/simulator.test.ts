import assert from 'node:assert/strict';
import { test } from 'node:test';
import { channels, type WeightReading } from '@sightline/schemas';
import { sleep, startTestBroker, waitUntil } from '@sightline/kit/testing';
import { createCheckoutApp } from '../src/app.ts';
import { ScaleSimulator } from '../src/simulator.ts';
import { Clock, connectPeer, detections, laneConfig, metricValue, sampleCatalog, silentLogger, tempDir, testConfig } from './helpers.ts';

test('the simulator publishes over the broker what the camera sees, and checkout prices with it', async (t) => {
  const broker = await startTestBroker(t);
  const peer = await connectPeer(t, broker.url);
  const readings: Array<{ reading: WeightReading; at: number }> = [];
  await peer.bus.subscribe(channels.weight, { lane: 'lane-1' }, (reading) => {
    readings.push({ reading, at: Date.now() });
  });
  const scans = await peer.collect(channels.scan);
  const app = createCheckoutApp({ ...testConfig(tempDir(t), broker.url), scaleSimulator: true }, silentLogger);
  t.after(() => app.stop());
  await app.start();
  await waitUntil('ready', () => app.runtime.bus.ready());

  let showing = true;
  const camera = (async () => {
    while (showing) {
      await peer.bus.publish(
        channels.detections,
        { camera: 'demo' },
        detections('demo', Date.now(), [
          { label: 'orange', score: 0.45 },
          { label: 'person', score: 0.8 },
        ]),
      );
      await sleep(200);
    }
  })();
  t.after(() => {
    showing = false;
  });
  await waitUntil('checkout scans the orange with the simulated weight', () => scans.length === 1, 8000);
  const scan = scans[0]!;
  assert.equal(scan.product.sku, 'PRODUCE-ORANGE');
  assert.ok(Math.abs(scan.weightGrams! - 190) <= 2, `weighed ${scan.weightGrams} g, the middle of 120-260 g`);
  assert.ok(readings.length > 3, 'the readings went through the broker');
  assert.ok((await metricValue(app.runtime.registry, 'sightline_checkout_simulated_readings_total')) >= readings.length);

  // steady: about 2 readings a second
  const before = readings.length;
  await sleep(1500);
  const steady = readings.length - before;
  assert.ok(steady >= 2 && steady <= 5, `${steady} readings in 1.5 s while steady`);

  showing = false;
  await camera;
  const cleared = readings.length;
  await peer.bus.publish(channels.detections, { camera: 'demo' }, detections('demo', Date.now(), []));
  await waitUntil('back to zero', () => readings.at(-1)!.reading.grams === 0, 3000);
  const changing = readings.slice(cleared);
  assert.ok(changing.length >= 3, `${changing.length} readings while changing (~10 Hz)`);
  assert.equal(scans.length, 1, 'one orange, one scan');
});

test('simulated weights: middle of the range x count, only for catalog products in the zone', () => {
  const clock = new Clock();
  const published: Array<[string, WeightReading]> = [];
  const zone = [
    { x: 0, y: 0 },
    { x: 0.5, y: 0 },
    { x: 0.5, y: 1 },
    { x: 0, y: 1 },
  ];
  const sim = new ScaleSimulator({
    lanes: [laneConfig({ zone }), laneConfig({ id: 'lane-2', camera: 'other' }), laneConfig({ id: 'no-scale', scale: false })],
    catalog: sampleCatalog(),
    now: clock.now,
    random: () => 0.5,
    publish: async (lane, reading) => published.push([lane, reading]),
  });
  const lane = laneConfig({ zone });
  const frame = detections('demo', clock.t, [
    { label: 'bottle', at: [0.2, 0.5] },
    { label: 'bottle', at: [0.3, 0.5] },
    { label: 'bottle', at: [0.8, 0.5] },
    { label: 'person', at: [0.2, 0.2] },
    { label: 'kite', at: [0.2, 0.2] },
    { label: 'orange', score: 0.1, at: [0.2, 0.2] },
  ]);
  assert.equal(sim.weighFrame(lane, frame), 1055);
  sim.onDetections('demo', frame);
  clock.advance(400);
  sim.tick();
  const last = published.filter(([id]) => id === 'lane-1').at(-1)!;
  assert.equal(last[1].grams, 1055);
  assert.equal(published.filter(([id]) => id === 'lane-2').at(-1)![1].grams, 0, 'lane-2 watches another camera');
  // a one-frame dropout does not take the weight off; a clear zone for the hold time does
  sim.onDetections('demo', detections('demo', clock.t, []));
  clock.advance(600);
  sim.tick();
  assert.equal(published.filter(([id]) => id === 'lane-1').at(-1)![1].grams, 1055);
  clock.advance(100);
  sim.onDetections('demo', frame);
  sim.onDetections('demo', detections('demo', clock.t, []));
  clock.advance(499);
  sim.tick();
  clock.advance(1000);
  sim.tick();
  clock.advance(300);
  sim.tick();
  assert.equal(published.filter(([id]) => id === 'lane-1').at(-1)![1].grams, 0);
  assert.deepEqual(new Set(published.map(([id]) => id)), new Set(['lane-1', 'lane-2']), 'no readings for a lane without a scale');
  assert.ok(published.every(([, r]) => r.grams >= 0));
});

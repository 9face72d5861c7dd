import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectAsync } from 'mqtt';
import {
  channels,
  decodeFrame,
  detectionsSchema,
  laneEventSchema,
  scanSchema,
  speechSchema,
  type Detections,
  type LaneEvent,
  type Scan,
  type Speech,
} from '@sightline/schemas';
import { launchStack } from './launch.ts';
import { makeItemVideo } from './item-video.ts';

/**
 * A store teaches Sightline a product of its own where it stands: on the whole dev stack, a
 * teddy bear (which the COCO detector knows, but the catalog sells no "teddy bear") is "not
 * recognised"; a frame of the lane's own camera is sent to inference as a photo of the product
 * `plush-bear`, and with no restart the next pass of the same bear is recognised as it, scanned
 * as the catalog's plush bear, and said by name.
 */

const CATALOG = `currency: USD
locales: [en-US]
products:
  - sku: TOY-PLUSH-BEAR
    labels: [plush-bear]
    name: { en-US: Plush bear }
    spoken:
      en-US: { one: plush bear, other: plush bears }
    price: { per: unit, minor: 1299 }
    weight: { min: 150, max: 400 }
`;

test('a product taught from one frame of the lane camera is scanned and spoken by name on the next pass', { timeout: 240_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sightline-e2e-products-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const video = await makeItemVideo(dataDir, { codepoint: '1f9f8' });
  const catalogFile = join(dataDir, 'catalog.yaml');
  writeFileSync(catalogFile, CATALOG);
  const stack = await launchStack(dataDir, {
    SIGHTLINE_CAPTURE_SOURCE: video,
    SIGHTLINE_CAPTURE_FPS: '5',
    SIGHTLINE_CHECKOUT_CATALOG_FILE: catalogFile,
    SIGHTLINE_SPEAKER_OUTPUT: 'none',
  });
  t.after(() => stack.kill());
  const inferenceUrl = `http://127.0.0.1:${stack.httpPorts.SIGHTLINE_INFERENCE_HTTP_PORT}`;

  const bus = await connectAsync(`mqtt://127.0.0.1:${stack.mqttPort}`, { protocolVersion: 4 });
  t.after(() => bus.endAsync(true));
  const detections: Detections[] = [];
  const frames = new Map<number, Buffer>();
  const events: LaneEvent[] = [];
  const scans: Scan[] = [];
  const speeches: Speech[] = [];
  bus.on('message', (topic, payload) => {
    if (topic.endsWith('/frame')) {
      const frame = decodeFrame(payload);
      frames.set(frame.meta.seq, frame.jpeg);
      if (frames.size > 100) frames.delete(frames.keys().next().value!);
    } else if (topic.endsWith('/detections')) detections.push(detectionsSchema.parse(JSON.parse(payload.toString())));
    else if (topic.endsWith('/event')) events.push(laneEventSchema.parse(JSON.parse(payload.toString())));
    else if (topic.endsWith('/scan')) scans.push(scanSchema.parse(JSON.parse(payload.toString())));
    else if (topic.endsWith('/speech')) speeches.push(speechSchema.parse(JSON.parse(payload.toString())));
  });
  await bus.subscribeAsync(
    [
      'sightline/cameras/demo/frame',
      'sightline/cameras/demo/detections',
      'sightline/lanes/lane-1/event',
      'sightline/lanes/lane-1/scan',
      'sightline/lanes/lane-1/speech',
    ],
    { qos: 0 },
  );
  const waitFor = async <T>(what: string, find: () => T | undefined, timeoutMs = 60_000): Promise<T> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      if (Date.now() > until) assert.fail(`${what} did not happen:\n${stack.output().slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  // Before: the bear is seen by the detector but sold by no one.
  const notRecognised = await waitFor('a not-recognised teddy bear', () => events.find((e) => e.type === 'not-recognised' && e.label === 'teddy bear'));
  assert.ok(notRecognised);
  assert.equal(scans.length, 0);

  // Teach it from a frame the lane's camera sent with the bear in view (the detector's box cuts it).
  const bearFrame = await waitFor('a frame with the bear and its JPEG', () => {
    const seen = detections.findLast((d) => d.objects.some((o) => o.label === 'teddy bear') && frames.has(d.seq));
    return seen ? frames.get(seen.seq) : undefined;
  });
  const form = new FormData();
  form.append('name', 'Plush bear');
  form.append('photo', new Blob([new Uint8Array(bearFrame)], { type: 'image/jpeg' }), 'bear.jpg');
  const taught = await fetch(`${inferenceUrl}/products/plush-bear/photos`, { method: 'POST', body: form });
  assert.equal(taught.status, 201, await taught.clone().text());
  const taughtAt = Date.now();

  // After, no restart: the bear's objects are the product, and the lane scans and says it by name.
  const recognised = await waitFor('detections naming the product', () =>
    detections.find((d) => d.objects.some((o) => o.label === 'plush-bear' && o.recognition?.detectorLabel === 'teddy bear')),
  );
  assert.ok(recognised.timings.recognitionMs !== undefined);
  const scan = await waitFor('the plush bear scanned', () => scans.find((s) => s.product.sku === 'TOY-PLUSH-BEAR'), 90_000);
  assert.ok(scan.at >= taughtAt);
  assert.equal(scan.priceMinor, 1299);
  const speech = await waitFor('the scan said', () => speeches.find((s) => s.source.id === scan.id));
  assert.equal(speech.text, 'You scanned a plush bear, 12 dollars 99.');
  t.diagnostic(
    `taught to scanned: ${scan.at - taughtAt} ms; similarity ${recognised.objects.find((o) => o.label === 'plush-bear')!.recognition!.similarity.toFixed(3)}`,
  );

  // The product list says what was taught; the retained state carries it for anyone connecting later.
  const listed = (await (await fetch(`${inferenceUrl}/products`)).json()) as {
    products: Array<{ id: string; name: string; photos: number; updatedAt: number }>;
  };
  assert.deepEqual(listed.products, [{ id: 'plush-bear', name: 'Plush bear', photos: 1, updatedAt: listed.products[0]!.updatedAt }]);
  const late = await connectAsync(`mqtt://127.0.0.1:${stack.mqttPort}`, { protocolVersion: 4 });
  t.after(() => late.endAsync(true));
  const retained = new Promise<Buffer>((resolve) => late.once('message', (_topic, payload) => resolve(payload)));
  await late.subscribeAsync('sightline/services/inference/products/state', { qos: 1 });
  const state = channels.productState.codec.decode(await retained);
  assert.deepEqual(
    state.products.map((p) => [p.id, p.photos]),
    [['plush-bear', 1]],
  );
});

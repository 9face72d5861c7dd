import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import sharp from 'sharp';
import { startApp, startBroker, testConfig, waitUntil, watch } from './service-helpers.ts';

const KiB = 1024;

/** Per-camera label values of a metric. */
async function cameraLabels(app: Awaited<ReturnType<typeof startApp>>, name: string): Promise<Set<string>> {
  const values = (await app.runtime.registry.getSingleMetric(name)!.get()).values;
  return new Set(values.map((v) => v.labels['camera']).filter((camera): camera is string => camera !== undefined));
}

test(
  '400 camera ids with large frames: at most MAX_CAMERAS served, the waiting frames within their byte bound, the rest dropped and counted; quiet cameras are forgotten',
  { timeout: 120_000 },
  async (t) => {
    const broker = await startBroker(t);
    let clock = Date.now();
    const app = await startApp(t, testConfig(broker.url, { maxCameras: 16, cameraIdleMs: 60_000, waitingMaxBytes: 1024 * KiB }), { now: () => clock });
    const peer = await watch(t, broker.url);
    // Noise does not compress: about 256 KiB of JPEG.
    const jpeg = await sharp(randomBytes(440 * 400 * 3), { raw: { width: 440, height: 400, channels: 3 } })
      .jpeg({ quality: 100 })
      .toBuffer();
    assert.ok(jpeg.length > 200 * KiB, `frame of ${jpeg.length} bytes`);

    let peak = 0;
    let peakFrames = 0;
    for (let i = 0; i < 400; i++) {
      await peer.sendFrame(`cam-${i}`, 1, jpeg);
      peakFrames = Math.max(peakFrames, app.scheduler.waiting());
      peak = Math.max(peak, app.scheduler.waitingBytes?.() ?? app.scheduler.waiting() * jpeg.length);
    }
    assert.ok(peakFrames <= 4, `at most four 256 KiB frames wait within 1 MiB: ${peakFrames} waited`);
    const dropped = async (reason: string) => {
      const values = (await app.runtime.registry.getSingleMetric('sightline_inference_frames_dropped_total')!.get()).values;
      return values.filter((v) => v.labels['reason'] === reason).reduce((sum, v) => sum + v.value, 0);
    };
    await waitUntil('the frames of the cameras beyond the cap are dropped', async () => (await dropped('camera-cap')) === 384, 20_000);
    await app.scheduler.idle();
    assert.ok(peak <= 1024 * KiB, `peak waiting bytes ${peak}`);
    assert.equal(app.cameras().length, 16);
    const served = new Set(app.cameras());
    const run = peer.detections.length;
    const evicted = await dropped('evicted');
    assert.equal(
      run + evicted + (await dropped('bad-image')) + (await dropped('failed')),
      16,
      `every admitted frame ran or was evicted: ${run} run, ${evicted} evicted`,
    );
    for (const camera of await cameraLabels(app, 'sightline_inference_frames_dropped_total')) assert.ok(served.has(camera), `series for ${camera}`);
    for (const camera of await cameraLabels(app, 'sightline_inference_frames_total')) assert.ok(served.has(camera), `series for ${camera}`);
    const refused = (await app.runtime.registry.getSingleMetric('sightline_bounded_map_evictions_total')!.get()).values.find(
      (v) => v.labels['map'] === 'inference-cameras' && v.labels['reason'] === 'refused',
    );
    assert.equal(refused?.value, 384);

    // A minute of quiet later (by the service's clock) the ghosts are forgotten and a new camera is served.
    clock += 61_000;
    await peer.sendFrame('late', 1, jpeg);
    await peer.waitFor('the late camera served', () => peer.of('late').length === 1, 20_000);
    assert.deepEqual(app.cameras(), ['late']);
    assert.deepEqual([...(await cameraLabels(app, 'sightline_inference_frames_total'))], ['late'], 'forgotten cameras take their series with them');
  },
);

/**
 * The shopper's story on the containers, as compose.yaml runs them under podman (run by
 * `pnpm test:compose`, which builds the images first; not part of `pnpm test`). From the host, as
 * an integrator sees the stack: the published ports, the broker users and HTTP token the broker
 * provisioned into the credentials volume, and Azurite's blob port. Then `down` and `up` again:
 * the basket, the alert, the blob and every password are still there.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BlobServiceClient } from '@azure/storage-blob';
import { connectAsync } from 'mqtt';
import {
  alertSchema,
  basketSchema,
  channels,
  detectionsSchema,
  laneEventSchema,
  parseWav,
  pcmDurationMs,
  scanSchema,
  type Alert,
  type Audio,
  type Detections,
  type LaneEvent,
  type Scan,
} from '@sightline/schemas';
import { blobName } from '@sightline/sync';
import { azuriteConnectionString } from '../../infra/azurite/account.ts';
import { COMPOSE_PATH } from '../../infra/iot-edge/generate.ts';
import { createOptionsOf, parseCompose } from '../../infra/iot-edge/manifest.ts';
import { makeItemVideo } from '../item-video.ts';
import {
  compose,
  composeServices,
  confinements,
  listInContainer,
  PROJECT,
  readInContainer,
  runningContainers,
  serviceUrl,
  touchInContainer,
  waitReady,
} from './podman.ts';

const CREDENTIALS = '/run/sightline/credentials';
const PLAYED = '/data/speaker/played';
const FRAMES_CONTAINER = 'sightline-frames';
/** Cold containers: the default model is converted at inference's first start. */
const READY_MS = 180_000;

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const by = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > by) assert.fail(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

test(
  'compose under podman: frames become detections, a scan is heard on the speaker file output, an alert is raised, its frame lands in Azurite, and down/up keeps them all',
  { timeout: 900_000 },
  async (t) => {
    const started = Date.now();
    const step = (name: string) => t.diagnostic(`${((Date.now() - started) / 1000).toFixed(0)} s: ${name}`);

    // The teddy bear first (sold by nobody: not recognised, an unknown-item alert with its frame),
    // then the tangerine the detector calls an orange (scanned, weighed by the simulated scale).
    const media = mkdtempSync(join(tmpdir(), 'sightline-compose-'));
    t.after(() => rmSync(media, { recursive: true, force: true }));
    await makeItemVideo(media, { first: { codepoint: '1f9f8', seconds: 3 } });
    // Read by the containers' `node` user through a read-only bind mount.
    chmodSync(media, 0o755);
    chmodSync(join(media, 'item.mp4'), 0o644);

    t.after(() => compose(['down', '-v'], media));
    await compose(['up', '-d'], media);
    await waitReady(READY_MS);
    step(`all ${composeServices.length} services ready`);

    // Every container as compose.yaml confines it: its limits and a read-only root, and its process
    // (PID 1, Node itself) as the node user with no capabilities and no way to gain privileges.
    const composed = parseCompose(readFileSync(COMPOSE_PATH, 'utf8'));
    const confined = await confinements();
    assert.deepEqual(confined.map((c) => c.service).sort(), [...composeServices].sort());
    for (const { service, memory, nanoCpus, readOnly } of confined) {
      const wanted = createOptionsOf(composed[service]!).HostConfig as { Memory: number; NanoCpus: number };
      assert.deepEqual({ memory, nanoCpus, readOnly }, { memory: wanted.Memory, nanoCpus: wanted.NanoCpus, readOnly: true }, service);
      const status = (await readInContainer(service, '/proc/1/status')).toString('utf8');
      assert.match(status, /^Uid:\s+1000\s+1000\s/m, `${service} runs as uid 1000`);
      assert.match(status, /^CapEff:\s+0+$/m, `${service} has no capabilities`);
      assert.match(status, /^NoNewPrivs:\s+1$/m, `${service} cannot gain privileges`);
      await assert.rejects(touchInContainer(service, '/app/probe'), /Read-only file system/, `${service} cannot write its root filesystem`);
    }
    step('every container confined');

    // What the broker provisioned, read inside its container (the host never holds a copy).
    const secret = async (name: string) => (await readInContainer('broker', `${CREDENTIALS}/${name}`)).toString('utf8');
    const token = await secret('http-token');
    const operatorPassword = await secret('operator');
    const api = async (url: string, authorised = true) => {
      const response = await fetch(url, { headers: authorised ? { authorization: `Bearer ${token}` } : {} });
      return { status: response.status, body: response.ok ? ((await response.json()) as unknown) : undefined };
    };
    assert.equal((await api(`${serviceUrl('alert')}/alerts`, false)).status, 401, 'the HTTP API refuses a request without the token');
    await assert.rejects(
      connectAsync('mqtt://127.0.0.1:1883', { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 }),
      'the broker refuses anonymous clients',
    );

    const bus = await connectAsync('mqtt://127.0.0.1:1883', { protocolVersion: 4, username: 'operator', password: operatorPassword, reconnectPeriod: 0 });
    t.after(() => bus.endAsync(true));
    const detections: Detections[] = [];
    const scans: Scan[] = [];
    const audios: Audio[] = [];
    const events: LaneEvent[] = [];
    bus.on('message', (topic, payload) => {
      if (topic.endsWith('/detections')) detections.push(detectionsSchema.parse(JSON.parse(payload.toString())));
      else if (topic.endsWith('/scan')) scans.push(scanSchema.parse(JSON.parse(payload.toString())));
      else if (topic.endsWith('/audio')) audios.push(channels.audio.codec.decode(payload));
      else if (topic.endsWith('/event')) events.push(laneEventSchema.parse(JSON.parse(payload.toString())));
    });
    await bus.subscribeAsync(
      ['sightline/cameras/demo/detections', 'sightline/lanes/lane-1/scan', 'sightline/lanes/lane-1/audio', 'sightline/lanes/lane-1/event'],
      { qos: 1 },
    );

    // Frames become detections: capture's frames, inference's view of them, for camera demo.
    await until('detections of camera demo', 60_000, () => (detections.length >= 5 ? true : undefined));
    for (const d of detections) {
      assert.equal(d.camera, 'demo');
      assert.equal(d.model.id, 'centernet-coco');
    }
    await until('the items of the video detected', 60_000, () =>
      detections.some((d) => d.objects.some((o) => o.label === 'orange' || o.label === 'teddy bear')) ? true : undefined,
    );
    step(`${detections.length} detections`);

    // A scanned item becomes audio on the speaker's file output: the WAV named after the scan holds
    // exactly the sentence tts published for it.
    const { scan, audio } = await until('an orange scanned and its sentence published', 90_000, () => {
      for (const scan of scans) {
        const audio = audios.find((a) => a.meta.source.id === scan.id);
        if (scan.product.sku === 'PRODUCE-ORANGE' && audio) return { scan, audio };
      }
      return undefined;
    });
    const wavName = await until('the WAV of the scan on the speaker', 30_000, async () =>
      (await listInContainer('speaker', PLAYED)).find((name) => name.endsWith(`_lane-1_scan_${scan.id}.wav`)),
    );
    const wav = parseWav(await readInContainer('speaker', `${PLAYED}/${wavName}`));
    assert.deepEqual(wav.pcm.format, audio.pcm.format);
    assert.equal(pcmDurationMs(wav.pcm), pcmDurationMs(audio.pcm), 'the whole sentence was written');
    // The lane plays at its default volume, unity gain: the very samples tts published.
    assert.ok(wav.pcm.samples.equals(audio.pcm.samples), 'the WAV holds the samples of the published audio');
    let energy = 0;
    for (let i = 0; i + 1 < wav.pcm.samples.length; i += 2) energy += Math.abs(wav.pcm.samples.readInt16LE(i));
    assert.ok(energy / (wav.pcm.samples.length / 2) > 100, 'the WAV holds speech, not silence');
    step(`scan ${scan.id} heard (${pcmDurationMs(wav.pcm).toFixed(0)} ms)`);

    // An alert is raised: the teddy bear not recognised, with the frame that showed it.
    const alert = await until('an unknown-item alert with the frame of a not-recognised event', 60_000, async () => {
      const frames = events.flatMap((e) => (e.type === 'not-recognised' && e.frame ? [e.frame] : []));
      if (frames.length === 0) return undefined;
      const { body } = await api(`${serviceUrl('alert')}/alerts?type=unknown-item`);
      const alerts = (body as { alerts: unknown[] }).alerts.map((a) => alertSchema.parse(a));
      return alerts.find((a) => a.snapshot !== null && frames.some((f) => f.seq === a.snapshot!.seq && f.capturedAt === a.snapshot!.capturedAt));
    });
    step(`alert ${alert.id} raised`);

    // The alerted frame is selected by sync and lands in Azurite, with what it shows.
    const container = BlobServiceClient.fromConnectionString(azuriteConnectionString()).getContainerClient(FRAMES_CONTAINER);
    const snapshot = alert.snapshot!;
    const name = blobName(snapshot.camera, snapshot.capturedAt, snapshot.seq);
    const listBlob = async () => {
      for await (const blob of container.listBlobsFlat({ prefix: name, includeMetadata: true })) if (blob.name === name) return blob;
      return undefined;
    };
    const blob = await until(`the alerted frame ${name} in Azurite`, 60_000, listBlob);
    // Selected for the alert, or before it as an uncertain detection (the bear scores 0.3-0.8).
    assert.ok(['alert', 'uncertain'].includes(blob.metadata?.reason ?? ''), `selected as ${blob.metadata?.reason}`);
    assert.deepEqual([blob.metadata?.camera, blob.metadata?.seq], ['demo', String(snapshot.seq)]);
    assert.match(blob.metadata?.labels ?? '', /teddy bear/);
    const jpeg = await container.getBlobClient(name).downloadToBuffer();
    assert.deepEqual([jpeg[0], jpeg[1], jpeg.at(-2), jpeg.at(-1)], [0xff, 0xd8, 0xff, 0xd9], 'the blob is a whole JPEG');
    step(`blob ${name} stored`);

    const basketBefore = basketSchema.parse((await api(`${serviceUrl('checkout')}/lanes/lane-1/basket`)).body);
    assert.ok(
      basketBefore.items.some((item) => item.id === scan.id),
      'the scan is in the basket',
    );
    const passwordFiles = (await listInContainer('broker', CREDENTIALS)).sort();
    const passwords = new Map(await Promise.all(passwordFiles.map(async (file) => [file, await secret(file)] as const)));
    const consoleAdmin = (await readInContainer('console', '/data/console-admin')).toString('utf8');
    await bus.endAsync(true);

    // Down: every container stops; the volumes stay. Up: the same stack again.
    await compose(['down'], media);
    assert.deepEqual(await runningContainers(), [], `no container of ${PROJECT} runs after down`);
    step('down');
    await compose(['up', '-d'], media);
    await waitReady(READY_MS);
    step('up again, all ready');

    // Every password and the HTTP token are the ones made at the first start, and still work.
    assert.deepEqual((await listInContainer('broker', CREDENTIALS)).sort(), passwordFiles);
    for (const [file, value] of passwords) assert.ok((await secret(file)) === value, `the ${file} credential is unchanged after down/up`);
    assert.ok((await readInContainer('console', '/data/console-admin')).toString('utf8') === consoleAdmin, 'the console admin password is unchanged');
    const again = await connectAsync('mqtt://127.0.0.1:1883', { protocolVersion: 4, username: 'operator', password: operatorPassword, reconnectPeriod: 0 });
    await again.endAsync();

    // The basket, with the scan, under the same id.
    const basketAfter = basketSchema.parse((await api(`${serviceUrl('checkout')}/lanes/lane-1/basket`)).body);
    assert.equal(basketAfter.id, basketBefore.id);
    assert.ok(
      basketAfter.items.some((item) => item.id === scan.id && item.priceMinor === scan.priceMinor),
      JSON.stringify(basketAfter),
    );

    // The alert, as it was raised (the bear seen again since adds to its count and moves its snapshot).
    const { status, body } = await api(`${serviceUrl('alert')}/alerts/${alert.id}`);
    assert.equal(status, 200);
    const kept: Alert = alertSchema.parse(body);
    assert.deepEqual([kept.type, kept.rule, kept.firstSeen], [alert.type, alert.rule, alert.firstSeen]);
    assert.ok(kept.count >= alert.count, `count ${kept.count} after, ${alert.count} before`);

    // The blob, in Azurite's volume.
    assert.ok(await listBlob(), `${name} is still listed after down/up`);
    step('basket, alert, blob and passwords kept');
  },
);

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { cameraStatusSchema, decodeFrame, detectionsSchema, type Detections, type FrameMeta } from '@sightline/schemas';
import { stackServices } from '../infra/stack/services.ts';
import { launchStack } from './launch.ts';

/**
 * The whole dev stack as a user starts it (`node infra/stack/start.ts`), watched by Debian's
 * mosquitto_sub: an MQTT client that shares no code with Sightline.
 */

const run = promisify(execFile);
const FPS = 5;

interface Received {
  at: number;
  meta: FrameMeta;
  jpeg: Buffer;
}

/** `count` frames as mosquitto_sub saw them, with its own receive timestamps. */
async function subscribeFrames(port: number, count: number, timeoutS = 30): Promise<Received[]> {
  const { stdout } = await run(
    'mosquitto_sub',
    ['-V', 'mqttv311', '-h', '127.0.0.1', '-p', String(port), '-t', 'sightline/cameras/+/frame', '-C', String(count), '-W', String(timeoutS), '-F', '%U %x'],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout
    .trim()
    .split('\n')
    .map((line) => {
      const [stamp, hex] = line.split(' ');
      const frame = decodeFrame(Buffer.from(hex!, 'hex'));
      return { at: Number(stamp) * 1000, meta: frame.meta, jpeg: frame.jpeg };
    });
}

/** `count` detections messages as mosquitto_sub saw them, each checked against the schema. */
async function subscribeDetections(port: number, count: number, timeoutS = 30): Promise<Detections[]> {
  const { stdout } = await run(
    'mosquitto_sub',
    ['-V', 'mqttv311', '-h', '127.0.0.1', '-p', String(port), '-t', 'sightline/cameras/+/detections', '-C', String(count), '-W', String(timeoutS)],
    {
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  return stdout
    .trim()
    .split('\n')
    .map((line) => detectionsSchema.parse(JSON.parse(line)));
}

test(
  'the one-command stack delivers JPEG frames at the configured rate, capture rides out a broker crash, and a killed service is alerted',
  { timeout: 180_000 },
  async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sightline-e2e-'));
    // No grace period for an offline service, so the quick restart of a killed capture is alerted.
    const rulesFile = join(dataDir, 'alert-rules.yaml');
    writeFileSync(rulesFile, 'rules:\n  - { id: service-offline, type: service-offline, severity: critical, graceSeconds: 0 }\n');
    t.after(() => rmSync(dataDir, { recursive: true, force: true }));
    const stack = await launchStack(dataDir, { SIGHTLINE_ALERT_RULES_FILE: rulesFile, SIGHTLINE_CAPTURE_FPS: String(FPS) }, 120_000);
    t.after(() => stack.kill());
    const { httpPorts, exited } = stack;
    const ports = { mqtt: stack.mqttPort };

    // Frames: valid JPEGs with metadata, consecutive sequence numbers, at 5 fps +-20 %.
    // Detections arrive alongside: what inference made of those same frames.
    const [frames, detections] = await Promise.all([subscribeFrames(ports.mqtt, 16), subscribeDetections(ports.mqtt, 5)]);
    assert.equal(frames.length, 16);
    for (const frame of frames) {
      assert.equal(frame.meta.camera, 'demo');
      assert.equal(frame.jpeg[0], 0xff);
      assert.equal(frame.jpeg.at(-1), 0xd9);
    }
    for (let i = 1; i < frames.length; i++) {
      assert.ok(frames[i]!.meta.seq > frames[i - 1]!.meta.seq, `seq increases: ${frames.map((f) => f.meta.seq).join(',')}`);
    }
    const seqSpan = frames.at(-1)!.meta.seq - frames[0]!.meta.seq;
    assert.ok(seqSpan <= frames.length + 1, `at most a frame lost on loopback, got a span of ${seqSpan} for ${frames.length}`);
    const fps = (frames.length - 1) / ((frames.at(-1)!.at - frames[0]!.at) / 1000);
    assert.ok(fps >= FPS * 0.8 && fps <= FPS * 1.2, `rate ${fps.toFixed(2)} fps, want ${FPS} +-20 %`);

    // A frame decodes with an independent decoder.
    const { stdout: pixels } = await new Promise<{ stdout: Buffer }>((resolve, reject) => {
      const ffmpeg = spawn('ffmpeg', ['-v', 'error', '-f', 'mjpeg', '-i', 'pipe:0', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1']);
      const chunks: Buffer[] = [];
      ffmpeg.stdout.on('data', (c: Buffer) => chunks.push(c));
      ffmpeg.on('error', reject);
      ffmpeg.on('close', (code) => (code === 0 ? resolve({ stdout: Buffer.concat(chunks) }) : reject(new Error(`ffmpeg exit ${code}`))));
      ffmpeg.stdin.end(frames[0]!.jpeg);
    });
    assert.equal(pixels.length, (frames[0]!.meta.width ?? 0) * (frames[0]!.meta.height ?? 0));

    // Detections: valid per the schema, for camera demo, each naming a frame that was published.
    assert.equal(detections.length, 5);
    const frameBySeq = new Map(frames.map((f) => [f.meta.seq, f.meta]));
    let matched = 0;
    for (const d of detections) {
      assert.equal(d.camera, 'demo');
      assert.equal(d.model.id, 'centernet-coco');
      assert.ok(d.timings.inferenceMs > 0);
      const frame = frameBySeq.get(d.seq);
      if (frame) {
        matched++;
        assert.equal(d.capturedAt, frame.capturedAt, `detections of frame ${d.seq} carry its capture time`);
        assert.deepEqual([d.width, d.height], [frame.width, frame.height]);
      }
    }
    assert.ok(matched >= 3, `detections name the frames seen: ${detections.map((d) => d.seq).join(',')} vs ${[...frameBySeq.keys()].join(',')}`);
    for (let i = 1; i < detections.length; i++) assert.ok(detections[i]!.seq > detections[i - 1]!.seq, 'detections follow the frame order');

    // Availability of every service on the bus, retained, as any integrator sees it.
    const onBus = stackServices.filter((service) => service.onBus !== false);
    const { stdout: availability } = await run('mosquitto_sub', [
      '-V',
      'mqttv311',
      '-h',
      '127.0.0.1',
      '-p',
      String(ports.mqtt),
      '-t',
      'sightline/services/+/availability',
      '-v',
      '-C',
      String(onBus.length),
      '-W',
      '10',
    ]);
    for (const service of onBus) {
      assert.match(availability, new RegExp(`sightline/services/${service.name}/availability online`));
    }

    // The camera's status, retained, as any integrator sees it: online, at about the configured rate.
    const { stdout: statusText } = await run('mosquitto_sub', [
      '-V',
      'mqttv311',
      '-h',
      '127.0.0.1',
      '-p',
      String(ports.mqtt),
      '-t',
      'sightline/cameras/demo/status',
      '-C',
      '1',
      '-W',
      '10',
    ]);
    const status = cameraStatusSchema.parse(JSON.parse(statusText));
    assert.equal(status.state, 'online', statusText);
    assert.ok(Math.abs(status.fps - FPS) <= FPS * 0.2, `status says ${status.fps} fps, want ${FPS} +-20 %`);
    assert.deepEqual([status.width, status.height], [frames[0]!.meta.width, frames[0]!.meta.height]);

    // Sync sees the frames and reaches its Blob Storage (Azurite, started by the stack).
    const url = (key: string) => `http://127.0.0.1:${httpPorts[key]}`;
    const syncStats = (await (await fetch(`${url('SIGHTLINE_SYNC_HTTP_PORT')}/stats`)).json()) as {
      framesSeen: number;
      bytes: { captured: number };
      store: { reachable: boolean | null };
    };
    assert.ok(syncStats.framesSeen > 0 && syncStats.bytes.captured > 0, JSON.stringify(syncStats));
    assert.equal(syncStats.store.reachable, true, JSON.stringify(syncStats));

    // Kill the broker outright; the stack restarts it and capture reconnects by itself.
    const state = JSON.parse(readFileSync(join(dataDir, 'stack.json'), 'utf8')) as { services: Record<string, { pid: number }> };
    const lastSeq = frames.at(-1)!.meta.seq;
    process.kill(state.services.broker!.pid, 'SIGKILL');
    let after: Received[] = [];
    const retryUntil = Date.now() + 45_000;
    while (after.length === 0) {
      try {
        after = await subscribeFrames(ports.mqtt, 3, 10);
      } catch (err) {
        if (Date.now() > retryUntil) assert.fail(`no frames after the broker restart: ${(err as Error).message}\n${stack.output().slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    assert.ok(after[0]!.meta.seq > lastSeq, `sequence continues after the broker restart (${lastSeq} then ${after[0]!.meta.seq})`);
    assert.match(stack.output(), /broker killed by SIGKILL; restarting/);

    // Capture is killed outright: its last will says offline, the alert service raises an alert,
    // and when the stack has restarted capture the alert is resolved.
    const alertsUrl = `${url('SIGHTLINE_ALERT_HTTP_PORT')}/alerts?type=service-offline`;
    type AlertPage = { alerts: Array<{ service?: string; state: string }> };
    const captureAlert = async () => ((await (await fetch(alertsUrl)).json()) as AlertPage).alerts.find((a) => a.service === 'capture');
    const before = JSON.parse(readFileSync(join(dataDir, 'stack.json'), 'utf8')) as { services: Record<string, { pid: number }> };
    process.kill(before.services.capture!.pid, 'SIGKILL');
    const alertBy = Date.now() + 30_000;
    while ((await captureAlert())?.state !== 'resolved') {
      if (Date.now() > alertBy)
        assert.fail(`no resolved service-offline alert for capture: ${JSON.stringify(await captureAlert())}\n${stack.output().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 300));
    }

    // Ctrl-C stops everything cleanly.
    process.kill(stack.pid, 'SIGINT');
    assert.equal(await exited, 0);
    const pids = Object.values((JSON.parse(readFileSync(join(dataDir, 'stack.json'), 'utf8')) as typeof state).services).map((s) => s.pid);
    for (const pid of pids) {
      assert.throws(() => process.kill(pid, 0), /ESRCH/, `service pid ${pid} is gone`);
    }
  },
);

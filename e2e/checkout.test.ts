import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { connectAsync } from 'mqtt';
import {
  basketSchema,
  channels,
  laneEventSchema,
  pcmDurationMs,
  scanSchema,
  speechSchema,
  type Audio,
  type LaneEvent,
  type Scan,
  type Speech,
} from '@sightline/schemas';
import { startPulseServer } from '@sightline/speaker/testing';
import { launchStack } from './launch.ts';
import { hearClip } from './hearing.ts';
import { makeItemVideo } from './item-video.ts';

/**
 * The shopper's story on the whole dev stack: a video of an item goes through capture, inference
 * and checkout (with the simulated scale); tts says it; the speaker plays it on a real PulseAudio
 * null sink whose monitor this test records. The retained basket is read with Debian's
 * mosquitto_sub, which shares no code with Sightline.
 */

const run = promisify(execFile);

function sub(port: number, topic: string, count: number, timeoutS: number, format = '%p'): Promise<string[]> {
  return run(
    'mosquitto_sub',
    ['-V', 'mqttv311', '-h', '127.0.0.1', '-p', String(port), '-t', topic, '-C', String(count), '-W', String(timeoutS), '-F', format],
    {
      maxBuffer: 64 * 1024 * 1024,
    },
  ).then(({ stdout }) => stdout.trim().split('\n'));
}

test(
  'a shopper shows a teddy bear, then places an orange: the bear is not recognised and alerted with its frame; the orange is scanned, weighed, priced, and the right sentence is heard on the speaker',
  { timeout: 240_000 },
  async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sightline-e2e-checkout-'));
    t.after(() => rmSync(dataDir, { recursive: true, force: true }));
    // The teddy bear first: not sold, so "not recognised", an unknown-item alert with that frame.
    const video = await makeItemVideo(dataDir, { first: { codepoint: '1f9f8', seconds: 3 } });
    // 22050 Hz mono, the offline voice's own format: nothing is resampled between tts and the sink.
    const pulse = await startPulseServer(t, { sampleRate: 22050 });
    const recording = await pulse.record();

    const stack = await launchStack(dataDir, {
      SIGHTLINE_CAPTURE_SOURCE: video,
      SIGHTLINE_CAPTURE_FPS: '5',
      SIGHTLINE_SPEAKER_OUTPUT: 'pulse',
      SIGHTLINE_SPEAKER_PULSE_SERVER: pulse.server,
      SIGHTLINE_SPEAKER_PULSE_DEVICE: pulse.sink,
    });
    t.after(() => stack.kill());
    const { mqttPort, httpPorts, exited } = stack;

    // The first scan heard after the stack is up, what was said about it, and the audio of it.
    const bus = await connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { protocolVersion: 4 });
    t.after(() => bus.endAsync(true));
    const scans: Scan[] = [];
    const speeches: Speech[] = [];
    const audios: Audio[] = [];
    const laneEvents: LaneEvent[] = [];
    bus.on('message', (topic, payload) => {
      if (topic.endsWith('/event')) laneEvents.push(laneEventSchema.parse(JSON.parse(payload.toString())));
      if (topic.endsWith('/scan')) scans.push(scanSchema.parse(JSON.parse(payload.toString())));
      if (topic.endsWith('/speech')) speeches.push(speechSchema.parse(JSON.parse(payload.toString())));
      if (topic.endsWith('/audio')) audios.push(channels.audio.codec.decode(payload));
    });
    await bus.subscribeAsync(['sightline/lanes/lane-1/scan', 'sightline/lanes/lane-1/speech', 'sightline/lanes/lane-1/audio', 'sightline/lanes/lane-1/event'], {
      qos: 1,
    });
    const heardBy = Date.now() + 60_000;
    let said: { scan: Scan; speech: Speech; audio: Audio } | undefined;
    while (!said) {
      for (const scan of scans) {
        const speech = speeches.find((s) => s.source.id === scan.id);
        const audio = audios.find((a) => a.meta.source.id === scan.id);
        if (speech && audio) said = { scan, speech, audio };
      }
      if (Date.now() > heardBy) assert.fail(`no scan was announced (${scans.length} scans, ${speeches.length} speeches):\n${stack.output().slice(-6000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const { scan, speech, audio } = said;

    // Scanned and priced: the detector's "orange" is the catalog's oranges, sold by weight; the
    // simulated scale put an orange's weight on it, and the price is that weight times the price per kg.
    assert.equal(scan.product.sku, 'PRODUCE-ORANGE');
    assert.equal(scan.pricing, 'kg');
    assert.ok(scan.weightGrams !== null && scan.weightGrams >= 120 && scan.weightGrams <= 260, `an orange's weight: ${scan.weightGrams}`);
    const milligrams = BigInt(Math.round(scan.weightGrams * 1000));
    const expectedMinor = Number((milligrams * BigInt(scan.unitPriceMinor) + 500_000n) / 1_000_000n);
    assert.equal(scan.priceMinor, expectedMinor, `price of ${scan.weightGrams} g at ${scan.unitPriceMinor}/kg`);
    assert.ok(scan.basket.count >= 1 && scan.basket.totalMinor >= scan.priceMinor, JSON.stringify(scan.basket));

    // The right sentence, with the right price.
    assert.equal(speech.source.kind, 'scan');
    assert.equal(speech.source.id, scan.id);
    const kilograms = (scan.weightGrams / 1000).toFixed(2);
    assert.equal(speech.text, `You scanned an orange, ${kilograms} kilograms, ${scan.priceMinor} cents.`);
    assert.deepEqual(audio.meta, speech);

    // Heard: that very audio came out of the sink, whole, after the scan.
    const clip = audio.pcm;
    assert.equal(clip.format.sampleRate, pulse.sampleRate);
    const samples = new Int16Array(clip.samples.buffer.slice(clip.samples.byteOffset, clip.samples.byteOffset + clip.samples.length));
    // The speaker says when it played the sentence; the recording must hold it there, whole.
    const speakerUrl = `http://127.0.0.1:${httpPorts.SIGHTLINE_SPEAKER_HTTP_PORT}`;
    type LaneReport = { lane: string; lastPlayed: { kind: string; sourceId: string; startedAt: number; endedAt: number; interrupted: boolean } | null };
    let played: NonNullable<LaneReport['lastPlayed']> | undefined;
    const playedBy = Date.now() + 30_000;
    while (!played) {
      const report = (await (await fetch(`${speakerUrl}/lanes`)).json()) as { lanes: LaneReport[] };
      const last = report.lanes.find((lane) => lane.lane === 'lane-1')?.lastPlayed;
      if (last?.kind === 'speech' && last.sourceId === scan.id) played = last;
      if (Date.now() > playedBy) assert.fail(`the speaker never finished the scan's sentence: ${JSON.stringify(report)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(played.interrupted, false);
    await new Promise((r) => setTimeout(r, 500));
    const heard = recording.samples();
    const indexAt = (ms: number) => Math.round(((ms - recording.timeAt(0)) / 1000) * pulse.sampleRate);
    const heardClip = hearClip(heard, samples, pulse.sampleRate, indexAt(played.startedAt - 1000), indexAt(played.startedAt + 1000));
    // A piece the output ran dry in the middle of matches neither side of the gap; any other piece must.
    assert.ok(heardClip.matched >= heardClip.pieces - 2, `every 100 ms of the sentence was heard, in order: ${JSON.stringify(heardClip)}`);
    assert.ok(
      heardClip.gapMs < pcmDurationMs(clip) * 0.1,
      `the output ran dry for ${heardClip.gapMs.toFixed(0)} ms of a ${pcmDurationMs(clip).toFixed(0)} ms sentence`,
    );
    const playedAt = recording.timeAt(heardClip.start);
    assert.ok(playedAt >= scan.at - 50, `played after the scan (${playedAt - scan.at} ms)`);
    assert.ok(Math.abs(playedAt - played.startedAt) < 300, `heard when the speaker says it started (${playedAt - played.startedAt} ms apart)`);
    t.diagnostic(`scan to sentence heard: ${(playedAt - scan.at).toFixed(0)} ms; output gaps: ${heardClip.gapMs.toFixed(0)} ms`);

    // The teddy bear: a not-recognised lane event naming the frame that showed it, and the alert
    // service's unknown-item alert carries that frame as its snapshot (the video loops every 13 s).
    const alertsUrl = `http://127.0.0.1:${httpPorts.SIGHTLINE_ALERT_HTTP_PORT}/alerts?type=unknown-item`;
    type AlertPage = { alerts: Array<{ snapshot: unknown; details?: Record<string, unknown> }> };
    const notRecognisedFrames = () =>
      laneEvents.flatMap((event) => (event.type === 'not-recognised' && event.label === 'teddy bear' && event.frame ? [event.frame] : []));
    const alertedBy = Date.now() + 40_000;
    let snapshotAlert: AlertPage['alerts'][number] | undefined;
    while (!snapshotAlert) {
      const frames = notRecognisedFrames();
      if (frames.length > 0) {
        const page = (await (await fetch(alertsUrl)).json()) as AlertPage;
        snapshotAlert = page.alerts.find((alert) => frames.some((frame) => JSON.stringify(frame) === JSON.stringify(alert.snapshot)));
      }
      if (!snapshotAlert && Date.now() > alertedBy) {
        assert.fail(
          `no unknown-item alert with the frame of a not-recognised event: events ${JSON.stringify(laneEvents.map((e) => e.type))}, frames ${JSON.stringify(frames)}`,
        );
      }
      if (!snapshotAlert) await new Promise((r) => setTimeout(r, 200));
    }
    const frame = notRecognisedFrames()[0]!;
    assert.equal(frame.camera, 'demo');
    assert.ok(frame.seq > 0 && frame.capturedAt > 0, JSON.stringify(frame));

    // The basket holds the item, retained for anyone who connects later.
    const [basketLine] = await sub(mqttPort, 'sightline/lanes/lane-1/basket', 1, 10);
    const basket = basketSchema.parse(JSON.parse(basketLine!));
    assert.ok(
      basket.items.some((item) => item.id === scan.id && item.priceMinor === scan.priceMinor),
      JSON.stringify(basket),
    );
    assert.equal(
      basket.totalMinor,
      basket.items.reduce((sum, item) => sum + item.priceMinor, 0),
    );

    // Checkout is killed outright; the stack restarts it and the basket is still there.
    const state = JSON.parse(readFileSync(join(dataDir, 'stack.json'), 'utf8')) as { services: Record<string, { pid: number }> };
    process.kill(state.services.checkout!.pid, 'SIGKILL');
    const checkoutUrl = `http://127.0.0.1:${httpPorts.SIGHTLINE_CHECKOUT_HTTP_PORT}`;
    let restored: unknown;
    const until = Date.now() + 60_000;
    while (restored === undefined) {
      const after = JSON.parse(readFileSync(join(dataDir, 'stack.json'), 'utf8')) as typeof state;
      if (after.services.checkout!.pid !== state.services.checkout!.pid) {
        const response = await fetch(`${checkoutUrl}/lanes/lane-1/basket`).catch(() => null);
        if (response?.ok) restored = await response.json();
      }
      if (Date.now() > until) assert.fail(`checkout did not come back:\n${stack.output().slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    const restoredBasket = basketSchema.parse(restored);
    assert.equal(restoredBasket.id, basket.id);
    assert.ok(
      restoredBasket.items.some((item) => item.id === scan.id && item.priceMinor === scan.priceMinor),
      JSON.stringify(restoredBasket),
    );
    assert.match(stack.output(), /checkout killed by SIGKILL; restarting/);

    process.kill(stack.pid, 'SIGINT');
    assert.equal(await exited, 0);
    await recording.stop();
  },
);

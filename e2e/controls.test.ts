/**
 * The shopper in control, on the whole dev stack: a scanned orange, then every control from a
 * keypad (real input_event records through a FIFO at the configured device path) and from MQTT
 * as an integrator, each answered on the result channel, said by tts and heard on the speaker's
 * real PulseAudio null sink, whose monitor this test records: the repeat is the same audio again,
 * the volume is the recorded level per step, and it is back to the default after the receipt.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectAsync } from 'mqtt';
import { encodeInputEvents, EV_KEY, EV_SYN, keyCode, type KeyName } from '@sightline/keypad';
import { channels, type Audio, type ControlResult, type LaneCommand, type LaneEvent, type Scan, type Speech } from '@sightline/schemas';
import { startPulseServer } from '@sightline/speaker/testing';
import { bestOffset, gainDb } from './hearing.ts';
import { makeItemVideo } from './item-video.ts';
import { launchStack } from './launch.ts';

const LANE = 'lane-1';
const topic = (what: string) => `sightline/lanes/${LANE}/${what}`;

test('every control works on the dev stack: keypad and MQTT in, results said, heard on the speaker at the chosen volume', { timeout: 300_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sightline-e2e-controls-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  // One orange, once, after the stack is surely up (the video starts with capture, and the whole
  // stack took 20-40 s to be up on a busy 2-core machine: an orange at 18 s was sometimes gone
  // before checkout listened); then an empty counter for the rest of the test.
  const video = await makeItemVideo(dataDir, { emptySeconds: 45, itemSeconds: 4, tailSeconds: 240 });
  const keypadPath = join(dataDir, 'keypad');
  execFileSync('mkfifo', [keypadPath]);
  const lanesFile = join(dataDir, 'lanes.json');
  writeFileSync(
    lanesFile,
    JSON.stringify({ lanes: [{ id: LANE, camera: 'demo', locale: 'en-US', locales: ['en-US', 'es-ES'], keypad: { device: keypadPath } }] }),
  );
  const pulse = await startPulseServer(t, { sampleRate: 22050 });
  const recording = await pulse.record();
  t.after(() => recording.stop());
  const stack = await launchStack(dataDir, {
    SIGHTLINE_CAPTURE_SOURCE: video,
    SIGHTLINE_CAPTURE_FPS: '5',
    SIGHTLINE_CHECKOUT_LANES_FILE: lanesFile,
    SIGHTLINE_SPEAKER_OUTPUT: 'pulse',
    SIGHTLINE_SPEAKER_PULSE_SERVER: pulse.server,
    SIGHTLINE_SPEAKER_PULSE_DEVICE: pulse.sink,
  });
  t.after(() => stack.kill());

  // The integrator: the stack's operator account may write controls and read everything.
  // A persistent session: this process also records and analyses audio, and when it falls behind
  // reading its socket the broker closes it (its slow-subscriber limit); queued QoS 1 results and
  // speech then arrive on reconnecting instead of being lost.
  const bus = await connectAsync(`mqtt://127.0.0.1:${stack.mqttPort}`, {
    protocolVersion: 4,
    ...stack.login('operator'),
    clientId: `e2e-controls-${process.pid}`,
    clean: false,
  });
  t.after(() => bus.endAsync(true));
  const scans: Scan[] = [];
  const events: LaneEvent[] = [];
  const results: ControlResult[] = [];
  const speeches: Speech[] = [];
  const audios: Audio[] = [];
  // What the bus said, and anything that would not decode or any reconnect: a wait that fails says them.
  const trouble: string[] = [];
  bus.on('message', (at, payload) => {
    try {
      if (at === topic('scan')) scans.push(channels.scan.codec.decode(payload));
      if (at === topic('event')) events.push(channels.laneEvent.codec.decode(payload));
      if (at === topic('control/result')) results.push(channels.laneControlResult.codec.decode(payload));
      if (at === topic('speech')) speeches.push(channels.speech.codec.decode(payload));
      if (at === topic('audio')) audios.push(channels.audio.codec.decode(payload));
    } catch (err) {
      trouble.push(`${at}: ${(err as Error).message.slice(0, 300)}`);
    }
  });
  bus.on('close', () => trouble.push(`${new Date().toISOString()} the test's MQTT connection closed`));
  await bus.subscribeAsync(['scan', 'event', 'control/result', 'speech', 'audio'].map(topic), { qos: 1 });

  /** What tts and the broker counted, for a wait that fails: said and published, or dropped, or held up on the way. */
  const counted = async () => {
    const lines: string[] = [];
    const wanted =
      /^sightline_(tts_announce|bus_messages_published_total\{channel="(audio|speech)"|broker_(slow_consumer|connections_closed|queue_drops|connections ))/;
    for (const key of ['SIGHTLINE_TTS_HTTP_PORT', 'SIGHTLINE_BROKER_HTTP_PORT']) {
      try {
        const text = await (await fetch(`http://127.0.0.1:${stack.httpPorts[key]}/metrics`)).text();
        lines.push(...text.split('\n').filter((line) => wanted.test(line)));
      } catch (err) {
        lines.push(`${key}: ${(err as Error).message}`);
      }
    }
    return lines.join('\n');
  };
  const until = async <T>(what: string, find: () => T | undefined, timeoutMs = 30_000): Promise<T> => {
    const by = Date.now() + timeoutMs;
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      if (Date.now() > by)
        assert.fail(
          `${what}: not within ${timeoutMs} ms\nevents: ${events.map((e) => `${e.type}@${e.at}`).join(' ')}\ntrouble: ${trouble.join('; ') || 'none'}\naudio messages seen: ${audios.length}\n${await counted()}\n${stack.output().slice(-3000)}`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const speakerUrl = `http://127.0.0.1:${stack.httpPorts.SIGHTLINE_SPEAKER_HTTP_PORT}`;
  type Played = { kind: string; sourceId: string; text?: string; startedAt: number; endedAt: number; interrupted: boolean };
  const lastPlayed = async (): Promise<Played | null> => {
    const report = (await (await fetch(`${speakerUrl}/lanes`)).json()) as { lanes: Array<{ lane: string; lastPlayed: Played | null }> };
    return report.lanes.find((lane) => lane.lane === LANE)?.lastPlayed ?? null;
  };
  const playedUntil = async (what: string, done: (played: Played) => boolean, timeoutMs = 30_000): Promise<Played> => {
    const by = Date.now() + timeoutMs;
    for (;;) {
      const played = await lastPlayed();
      if (played && done(played)) return played;
      if (Date.now() > by) assert.fail(`${what}: the speaker's last clip is ${JSON.stringify(played)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  // The keypad: each press is the kernel's records (scan code, key down, sync, key up, sync).
  const keypad = await open(keypadPath, 'w');
  t.after(() => keypad.close());
  const press = async (key: KeyName): Promise<number> => {
    const now = Date.now();
    const sec = Math.floor(now / 1000);
    const usec = (now % 1000) * 1000;
    const code = keyCode(key);
    await keypad.write(
      encodeInputEvents([
        { sec, usec, type: EV_KEY, code, value: 1 },
        { sec, usec, type: EV_SYN, code: 0, value: 0 },
        { sec, usec: usec + 80_000, type: EV_KEY, code, value: 0 },
        { sec, usec: usec + 80_000, type: EV_SYN, code: 0, value: 0 },
      ]),
    );
    return now;
  };
  const send = async (command: LaneCommand): Promise<number> => {
    const at = Date.now();
    await bus.publishAsync(topic('control'), JSON.stringify({ command, source: 'integrator' }), { qos: 1 });
    return at;
  };
  const resultOf = (command: LaneCommand, since: number) =>
    until(`the result of ${command}`, () => results.find((r) => r.command === command && r.at >= since - 5));
  const saidFor = (result: ControlResult) => until(`speech for ${result.command}`, () => speeches.filter((s) => s.source.id === result.id).at(-1));
  const samplesOf = (audio: Audio) =>
    new Int16Array(audio.pcm.samples.buffer.slice(audio.pcm.samples.byteOffset, audio.pcm.samples.byteOffset + audio.pcm.samples.length));
  /**
   * How loud the clip was heard, relative to the clip, the first time after sample `from` (take it
   * with `recording.mark()` just before the action) and after the last clip found. Samples, not
   * clock times: the recorder hands them over late when the machine is busy, and this process
   * is busy itself while it searches. When is measured by the speaker's own stamps instead.
   */
  let cursor = 0;
  const heard = async (clip: Int16Array, from: number) => {
    // A third of a second from the middle of the clip, found by correlation (which gain does not change).
    const start = Math.round(clip.length / 3);
    const piece = clip.subarray(start, start + Math.round(pulse.sampleRate / 3));
    const searchFrom = Math.max(from, cursor);
    const by = Date.now() + 15_000;
    for (;;) {
      await new Promise((r) => setTimeout(r, 300));
      const samples = recording.samples();
      const found = bestOffset(samples, piece, searchFrom, samples.length - piece.length);
      if (found.score > 0.95) {
        cursor = found.offset + piece.length;
        return { gain: gainDb(samples, found.offset, piece) };
      }
      if (Date.now() > by) assert.fail(`the clip was not heard after sample ${searchFrom} (best match ${found.score.toFixed(3)} of ${samples.length} samples)`);
    }
  };
  /** The speaker's own record of the lane's last clip, once it is about `sourceId` and started after `since`. */
  const started = (sourceId: string, since: number) => playedUntil(`${sourceId} plays after ${since}`, (p) => p.sourceId === sourceId && p.startedAt >= since);

  // 1. The orange is scanned and said.
  const scan = await until('a scan', () => scans[0], 90_000);
  const scanMark = recording.mark() - pulse.sampleRate;
  const scanAudio = await until('its audio', () => audios.find((a) => a.meta.source.id === scan.id));
  await playedUntil('the scan is said', (p) => p.kind === 'speech' && p.sourceId === scan.id && p.endedAt > 0);
  const scanClip = samplesOf(scanAudio);
  const first = await heard(scanClip, scanMark);
  assert.ok(Math.abs(first.gain) < 1, `played at the default volume, unity gain: ${first.gain.toFixed(2)} dB`);

  // 2. Repeat from the keypad: the same audio again, nothing synthesised.
  const audiosBefore = audios.length;
  const repeatMark = recording.mark();
  const repeatAt = await press('KP5');
  const repeated = await resultOf('repeat', repeatAt);
  assert.equal(repeated.outcome, 'repeated');
  assert.ok(repeated.outcome === 'repeated' && repeated.of === scan.id, JSON.stringify(repeated));
  const again = await started(scan.id, repeatAt);
  assert.ok(again.startedAt - repeatAt < 1000, `repeated ${Math.round(again.startedAt - repeatAt)} ms after the key`);
  assert.ok(Math.abs((await heard(scanClip, repeatMark)).gain) < 1, 'the same audio, at the same level');
  assert.equal(audios.length, audiosBefore, 'a repeat is played from memory: tts published nothing');

  // 3. Volume down twice over MQTT: said back, and heard 3 dB quieter per step.
  await new Promise((r) => setTimeout(r, 4500)); // past the double-press window: the next repeat is a repeat
  const downAt = await send('volume-down');
  const down1 = await resultOf('volume-down', downAt);
  assert.ok(down1.outcome === 'volume' && down1.volume.level === 5 && down1.volume.steps === 8, JSON.stringify(down1));
  assert.equal((await saidFor(down1)).text, 'Volume 5 of 8.');
  const down2At = await press('KPMINUS');
  const down2 = await until('the second step', () => results.find((r) => r.command === 'volume-down' && r.at >= down2At - 5 && r.id !== down1.id));
  assert.ok(down2.outcome === 'volume' && down2.volume.level === 4, JSON.stringify(down2));
  await saidFor(down2);
  const quietMark = recording.mark();
  const quietAt = await send('repeat');
  await started(scan.id, quietAt);
  const quieter = await heard(scanClip, quietMark);
  assert.ok(Math.abs(quieter.gain + 6) < 1, `two steps down: ${quieter.gain.toFixed(2)} dB`);

  // 4. Help, spoken key by key.
  const helpAt = await press('KP1');
  const help = await resultOf('help', helpAt);
  assert.ok(help.outcome === 'help' && help.keys.some((k) => k.key === 'KP5' && k.command === 'repeat'), JSON.stringify(help));
  await until('the help is said', () => (speeches.some((s) => s.source.id === help.id && s.text === 'Press 5 to repeat.') ? true : undefined));

  // 5. The basket read out; paused in the middle and resumed; then again, and stopped.
  const basketAt = await press('KP3');
  const read = await resultOf('basket', basketAt);
  assert.ok(read.outcome === 'basket' && read.basket.count === 1, JSON.stringify(read));
  const readParts = await until('the read-out', () => {
    const parts = audios.filter((a) => a.meta.source.id === read.id);
    return parts.length > 0 && parts.length === parts[0]!.meta.part?.count ? parts : undefined;
  });
  assert.deepEqual(
    readParts.map((a) => a.meta.text),
    ['Your basket has 1 item.', readParts[1]!.meta.text, readParts.at(-1)!.meta.text],
  );
  assert.match(readParts[1]!.meta.text, /^An orange, 0\.\d+ kilograms, \d+ cents\.$/);
  await playedUntil('the read-out begins', (p) => p.sourceId === read.id);
  const pauseMark = recording.mark();
  const pauseAt = await press('KP0');
  const paused = await resultOf('toggle-pause', pauseAt);
  assert.equal(paused.outcome, 'paused');
  await new Promise((r) => setTimeout(r, 1500));
  const lane = (await (await fetch(`${speakerUrl}/lanes`)).json()) as {
    lanes: Array<{ lane: string; paused: boolean; playing: { sourceId: string } | null; queued: number }>;
  };
  const held = lane.lanes.find((l) => l.lane === LANE)!;
  assert.ok(held.paused && held.playing?.sourceId !== read.id && held.queued > 0, `the read-out is held while paused: ${JSON.stringify(held)}`);
  const resumeAt = await press('KP0');
  assert.equal((await resultOf('toggle-pause', resumeAt)).outcome, 'resumed');
  const lastPart = readParts.at(-1)!;
  await playedUntil('the read-out ends after the resume', (p) => p.sourceId === read.id && p.startedAt >= resumeAt && p.endedAt > 0 && !p.interrupted);
  assert.ok((await heard(samplesOf(lastPart), pauseMark)).gain < 1, 'its last line heard after the resume');

  const again2At = await send('basket');
  const read2 = await resultOf('basket', again2At);
  await playedUntil('the second read-out begins', (p) => p.sourceId === read2.id);
  const stopMark = recording.mark();
  const stopAt = await press('KPDOT');
  assert.equal((await resultOf('stop', stopAt)).outcome, 'stopped');
  await new Promise((r) => setTimeout(r, 2500));
  const afterStop = recording.samples(stopMark + pulse.sampleRate);
  assert.ok(
    afterStop.every((sample) => Math.abs(sample) < 200),
    'after a stop the lane is silent',
  );

  // 6. More time, then the next language: said in the new language.
  const moreAt = await press('KP2');
  const more = await resultOf('more-time', moreAt);
  assert.ok(more.outcome === 'more-time' && more.seconds > 0, JSON.stringify(more));
  assert.match((await saidFor(more)).text, /^You have 2 minutes more\.$/);
  const languageAt = await press('KP7');
  const language = await resultOf('language', languageAt);
  assert.ok(language.outcome === 'language' && language.locale === 'es-ES' && language.from === 'en-US', JSON.stringify(language));
  const spanish = await saidFor(language);
  assert.equal(spanish.text, 'Español.');
  assert.equal(spanish.locale, 'es-ES');

  // 7. Finish: the receipt, line by line, in Spanish; then the volume is back to the default and the language to English.
  const finishAt = await press('KPENTER');
  assert.equal((await resultOf('finish', finishAt)).outcome, 'finished');
  const total = await until('the total event', () => events.find((e) => e.type === 'total' && e.at >= finishAt - 5));
  assert.ok(total.type === 'total' && total.receipt?.lines.length === 1, JSON.stringify(total));
  const receipt = await until('the receipt', () => {
    const parts = audios.filter((a) => a.meta.source.id === total.id);
    return parts.length > 0 && parts.length === parts[0]!.meta.part?.count ? parts : undefined;
  });
  assert.equal(receipt[0]!.meta.text, 'Su recibo.');
  assert.match(receipt.at(-1)!.meta.text, /^Su total es .* por 1 artículo\. Gracias por su compra\.$/);
  await playedUntil(
    'the receipt is said to its end',
    (p) => p.sourceId === total.id && p.text === receipt.at(-1)!.meta.text && p.endedAt > 0 && !p.interrupted,
    60_000,
  );
  const resetMark = recording.mark();
  const resetAt = await press('KP5');
  await started(total.id, resetAt);
  const reset = await heard(samplesOf(receipt.at(-1)!), resetMark);
  assert.ok(Math.abs(reset.gain) < 1, `after the receipt the volume is the default again: ${reset.gain.toFixed(2)} dB`);

  // 8. Remove-last on a finished basket: refused, and said why, in English again.
  const removeAt = await press('KP9');
  const refused = await resultOf('remove-last', removeAt);
  assert.ok(refused.outcome === 'refused' && refused.reason === 'basket-finished' && refused.locale === 'en-US', JSON.stringify(refused));
  assert.match((await saidFor(refused)).text, /^This basket is already finished\./);

  const status = (await (await fetch(`http://127.0.0.1:${stack.httpPorts.SIGHTLINE_CHECKOUT_HTTP_PORT}/lanes`)).json()) as {
    lanes: Array<{ id: string; keypad: { state: string; presses: number } | null }>;
  };
  const pad = status.lanes.find((lane) => lane.id === LANE)!.keypad!;
  assert.equal(pad.state, 'open');
  assert.ok(pad.presses >= 12, `keypad presses: ${pad.presses}`);

  process.kill(stack.pid, 'SIGINT');
  assert.equal(await stack.exited, 0);
});

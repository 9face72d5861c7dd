import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pcmDurationMs } from '@sightline/schemas';
import {
  convertPcm,
  EarconFallbackAnnouncer,
  EARCON_FORMAT,
  NOT_RECOGNISED_CHIME,
  renderNotes,
  SCAN_CHIME,
  SPEECH_RESTORED_PATTERN,
  SPEECH_UNAVAILABLE_PATTERN,
} from '../src/index.ts';
import { findTones, tone } from './tones.ts';

const samplesOf = (pcm: Buffer) => Int16Array.from({ length: pcm.length / 2 }, (_, i) => pcm.readInt16LE(i * 2));

test('the scan chime: two rising notes, 70 ms, no clicks at the edges, comfortably loud', () => {
  const pcm = renderNotes(SCAN_CHIME);
  const samples = samplesOf(pcm);
  assert.equal(samples.length, Math.round(0.03 * 22050) + Math.round(0.04 * 22050));
  const tones = findTones(samples, EARCON_FORMAT.sampleRate, [494, 587, 880, 1318.5], { windowMs: 10 });
  assert.deepEqual(
    tones.map((t) => t.frequency),
    [880, 1318.5],
  );
  assert.ok(Math.abs(tones[0]!.durationMs - 30) <= 10 && Math.abs(tones[1]!.durationMs - 40) <= 10, JSON.stringify(tones));
  const peak = Math.max(...samples.map(Math.abs));
  assert.ok(peak > 0.2 * 32767 && peak < 0.35 * 32767, `peak ${peak}`);
  // Fades: the first and last samples of each note start and end near silence (no step = no click).
  const noteBoundary = Math.round(0.03 * 22050);
  for (const i of [0, noteBoundary - 1, noteBoundary, samples.length - 1]) assert.ok(Math.abs(samples[i]!) < 200, `sample ${i} is ${samples[i]}`);
  let maxStep = 0;
  for (let i = 1; i < samples.length; i++) maxStep = Math.max(maxStep, Math.abs(samples[i]! - samples[i - 1]!));
  assert.ok(maxStep < 0.3 * 32767 * 0.6, `largest step between samples ${maxStep}`);
});

test('not-recognised sounds different: two falling, lower notes', () => {
  const tones = findTones(samplesOf(renderNotes(NOT_RECOGNISED_CHIME)), EARCON_FORMAT.sampleRate, [494, 587, 880, 1318.5], { windowMs: 20 });
  assert.deepEqual(
    tones.map((t) => t.frequency),
    [587, 494],
  );
});

test('the default fallback announcer: a falling pattern for unavailable, a rising one for restored', async () => {
  const announcer = new EarconFallbackAnnouncer();
  const down = await announcer.speechUnavailable('fr-FR');
  const up = await announcer.speechRestored('fr-FR');
  assert.deepEqual(down.format, EARCON_FORMAT);
  assert.ok(Math.abs(pcmDurationMs(down) - SPEECH_UNAVAILABLE_PATTERN.reduce((s, n) => s + n.ms, 0)) < 1);
  const freqs = [262, 330, 392];
  assert.deepEqual(
    findTones(samplesOf(down.samples), down.format.sampleRate, freqs, { windowMs: 20 }).map((t) => t.frequency),
    [392, 330, 262, 392, 330, 262],
  );
  assert.deepEqual(
    findTones(samplesOf(up.samples), up.format.sampleRate, freqs, { windowMs: 20 }).map((t) => t.frequency),
    [262, 330, 392],
  );
  assert.ok(Math.abs(pcmDurationMs(up) - SPEECH_RESTORED_PATTERN.reduce((s, n) => s + n.ms, 0)) < 1);
});

test('PCM conversion keeps pitch and length across rates and channel counts', () => {
  const source = tone(1000, 200, 16000);
  const up = convertPcm(source, { sampleRate: 16000, channels: 1 }, { sampleRate: 22050, channels: 2 });
  assert.equal(up.length, Math.round(0.2 * 16000 * (22050 / 16000)) * 4);
  const left = Int16Array.from({ length: up.length / 4 }, (_, i) => up.readInt16LE(i * 4));
  const tones = findTones(left, 22050, [1000, 1500]);
  assert.equal(tones.length, 1);
  assert.equal(tones[0]!.frequency, 1000);
  assert.ok(Math.abs(tones[0]!.durationMs - 200) <= 20);
  const back = convertPcm(up, { sampleRate: 22050, channels: 2 }, { sampleRate: 16000, channels: 1 });
  assert.ok(Math.abs(back.length - source.length) <= 4);
  assert.equal(convertPcm(source, { sampleRate: 16000, channels: 1 }, { sampleRate: 16000, channels: 1 }), source);
  assert.equal(convertPcm(Buffer.alloc(0), { sampleRate: 16000, channels: 1 }, { sampleRate: 22050, channels: 1 }).length, 0);
});

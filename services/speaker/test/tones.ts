/** Test audio: pure tones to play, and a Goertzel detector to find them again in a recording. */
import type { Pcm } from '@sightline/schemas';

export interface ToneSegment {
  frequency: number;
  /** Sample index of the first and one past the last window where the tone dominates. */
  start: number;
  end: number;
  startMs: number;
  durationMs: number;
}

/** Mono 16-bit PCM of a tone with 5 ms fades (no clicks, so no broadband energy at the edges). */
export function tone(frequency: number, ms: number, sampleRate = 22050, level = 0.4): Buffer {
  const n = Math.round((ms / 1000) * sampleRate);
  const fade = Math.max(1, Math.round(0.005 * sampleRate));
  const out = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) {
    const envelope = Math.min(1, i / fade, (n - 1 - i) / fade);
    out.writeInt16LE(Math.round(envelope * level * 32767 * Math.sin((2 * Math.PI * frequency * i) / sampleRate)), i * 2);
  }
  return out;
}

export function tonePcm(frequency: number, ms: number, sampleRate = 22050): Pcm {
  return { samples: tone(frequency, ms, sampleRate), format: { sampleRate, channels: 1 } };
}

/** Share of the window's power at `frequency` (1 for a pure tone right on it). */
function goertzelShare(samples: Int16Array, from: number, n: number, frequency: number, sampleRate: number): number {
  const k = (2 * Math.PI * frequency) / sampleRate;
  const coeff = 2 * Math.cos(k);
  let s1 = 0;
  let s2 = 0;
  let energy = 0;
  for (let i = 0; i < n; i++) {
    const x = samples[from + i]!;
    energy += x * x;
    const s0 = x + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  if (energy === 0) return 0;
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  return (2 * power) / n / energy;
}

/**
 * Where each of `frequencies` dominates the recording, in windows of `windowMs`: a window belongs
 * to a frequency when it is loud enough and most of its power is at that frequency. Runs of the
 * same frequency (gaps of up to two windows allowed) become one segment. Frequencies should be at least
 * 2.5 window-bandwidths apart (250 Hz for 10 ms windows).
 */
export function findTones(
  samples: Int16Array,
  sampleRate: number,
  frequencies: readonly number[],
  options: { windowMs?: number; minRms?: number; minShare?: number } = {},
): ToneSegment[] {
  const n = Math.round(((options.windowMs ?? 10) / 1000) * sampleRate);
  const minRms = options.minRms ?? 400;
  const minShare = options.minShare ?? 0.4;
  const labels: Array<number | null> = [];
  for (let from = 0; from + n <= samples.length; from += n) {
    let energy = 0;
    for (let i = 0; i < n; i++) energy += samples[from + i]! * samples[from + i]!;
    if (Math.sqrt(energy / n) < minRms) {
      labels.push(null);
      continue;
    }
    let best: number | null = null;
    let bestShare = minShare;
    for (const frequency of frequencies) {
      const share = goertzelShare(samples, from, n, frequency, sampleRate);
      if (share > bestShare) {
        bestShare = share;
        best = frequency;
      }
    }
    labels.push(best);
  }
  const segments: ToneSegment[] = [];
  let i = 0;
  while (i < labels.length) {
    const frequency = labels[i];
    if (frequency === null || frequency === undefined) {
      i++;
      continue;
    }
    let j = i + 1;
    // A window or two lost to a scheduling hiccup does not split a tone.
    while (
      j < labels.length &&
      (labels[j] === frequency || (labels[j] === null && (labels[j + 1] === frequency || (labels[j + 1] === null && labels[j + 2] === frequency))))
    )
      j++;
    const start = i * n;
    const end = j * n;
    segments.push({ frequency, start, end, startMs: (start / sampleRate) * 1000, durationMs: ((end - start) / sampleRate) * 1000 });
    i = j;
  }
  return segments;
}

/** A sample above this (of 32767) is sound, not the null sink's silence (as e2e/speech.bench.ts). */
export const SOUND = 200;

/** Index of the first sample louder than SOUND in [from, to), or -1. */
export function firstSound(samples: Int16Array, from: number, to = samples.length): number {
  for (let i = Math.max(0, from); i < Math.min(to, samples.length); i++) if (Math.abs(samples[i]!) > SOUND) return i;
  return -1;
}

/** Whether [from, to) holds no sound. */
export function silent(samples: Int16Array, from: number, to: number): boolean {
  return firstSound(samples, from, to) < 0;
}

/** The first sound at or after `from` that follows at least `gap` silent samples. */
export function soundAfterGap(samples: Int16Array, from: number, gap: number): number {
  let quiet = 0;
  for (let i = Math.max(0, from); i < samples.length; i++) {
    if (Math.abs(samples[i]!) > SOUND) {
      if (quiet >= gap) return i;
      quiet = 0;
    } else {
      quiet++;
    }
  }
  return -1;
}

/** Normalised correlation of `piece` with `samples` at `offset`: 1 when identical up to gain. */
export function correlation(samples: Int16Array, offset: number, piece: Int16Array): number {
  let xy = 0;
  let xx = 0;
  let yy = 0;
  for (let i = 0; i < piece.length; i++) {
    const x = piece[i]!;
    const y = samples[offset + i] ?? 0;
    xy += x * y;
    xx += x * x;
    yy += y * y;
  }
  return xx === 0 || yy === 0 ? 0 : xy / Math.sqrt(xx * yy);
}

/** Where in [from, to] `piece` matches the recording best. */
export function bestMatch(samples: Int16Array, piece: Int16Array, from: number, to: number): { offset: number; score: number } {
  let best = { offset: -1, score: 0 };
  for (let offset = Math.max(0, from); offset <= to && offset + piece.length <= samples.length; offset++) {
    const score = correlation(samples, offset, piece);
    if (score > best.score) best = { offset, score };
  }
  return best;
}

/** PCM bytes (16-bit little-endian mono) as samples, copied so the offset is aligned. */
export function pcmSamples(bytes: Buffer): Int16Array {
  const copy = Buffer.alloc(bytes.length - (bytes.length % 2));
  bytes.copy(copy, 0, 0, copy.length);
  return new Int16Array(copy.buffer, copy.byteOffset, copy.length / 2);
}

/** Sound on a null sink's monitor, for the glass bench; finding a clip in it is `e2e/hearing.ts`. */

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

/** PCM bytes (16-bit little-endian mono) as samples, copied so the offset is aligned. */
export function pcmSamples(bytes: Buffer): Int16Array {
  const copy = Buffer.alloc(bytes.length - (bytes.length % 2));
  bytes.copy(copy, 0, 0, copy.length);
  return new Int16Array(copy.buffer, copy.byteOffset, copy.length / 2);
}

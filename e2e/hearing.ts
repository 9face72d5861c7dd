/**
 * Finding what was played in what a null sink's monitor recorded: the same samples up to gain,
 * piece by piece, and how loud they were heard.
 */

/** Normalised correlation of `clip` against `recording` at `offset`: 1 when identical up to gain. */
export function correlation(recording: Int16Array, offset: number, clip: Int16Array): number {
  let xy = 0;
  let xx = 0;
  let yy = 0;
  for (let i = 0; i < clip.length; i++) {
    const x = clip[i]!;
    const y = recording[offset + i] ?? 0;
    xy += x * y;
    xx += x * x;
    yy += y * y;
  }
  return xx === 0 || yy === 0 ? 0 : xy / Math.sqrt(xx * yy);
}

/** The offset in [from, to] where `piece` best matches the recording. */
export function bestOffset(recording: Int16Array, piece: Int16Array, from: number, to: number): { offset: number; score: number } {
  let best = { offset: -1, score: 0 };
  for (let offset = Math.max(0, from); offset <= to && offset + piece.length <= recording.length; offset++) {
    const score = correlation(recording, offset, piece);
    if (score > best.score) best = { offset, score };
  }
  return best;
}

/**
 * Finds the clip in the recording piece by piece (100 ms each, in order). A loaded machine may
 * let the output run dry for a moment, which slips the rest of the clip later by the gap; every
 * piece must still be heard, in order, each within 200 ms of where the previous one put it.
 * Returns where the clip starts and the total silence the output inserted.
 */
export function hearClip(
  recording: Int16Array,
  clip: Int16Array,
  rate: number,
  from: number,
  to: number,
): { start: number; pieces: number; matched: number; gapMs: number } {
  const size = Math.round(rate / 10);
  const first = bestOffset(recording, clip.subarray(0, size), from, to);
  let expected = first.offset;
  let slip = 0;
  let matched = 0;
  let pieces = 0;
  for (let at = 0; at + size <= clip.length; at += size) {
    const piece = clip.subarray(at, at + size);
    if (piece.every((sample) => Math.abs(sample) < 300)) {
      expected += size;
      continue; // silence matches anywhere
    }
    pieces++;
    const found = bestOffset(recording, piece, expected, expected + Math.round(rate / 5));
    if (found.score > 0.95) {
      matched++;
      slip += found.offset - expected;
      expected = found.offset + size;
    } else {
      expected += size;
    }
  }
  return { start: first.offset, pieces, matched, gapMs: (slip / rate) * 1000 };
}

/** The clip's loudness as heard at `offset`, relative to the clip itself, in dB (0 when played at unity gain). */
export function gainDb(recording: Int16Array, offset: number, clip: Int16Array): number {
  let heard = 0;
  let played = 0;
  for (let i = 0; i < clip.length; i++) {
    const x = clip[i]!;
    // Samples the clip has near full scale may have been clipped when played louder: leave them out.
    if (Math.abs(x) > 16000) continue;
    const y = recording[offset + i] ?? 0;
    heard += y * y;
    played += x * x;
  }
  return 10 * Math.log10(heard / played);
}

import type { PcmFormat } from '@sightline/schemas';

/** Signed 16-bit little-endian PCM, interleaved: the only sample format the speaker handles. */
export type { PcmFormat };

export function bytesForMs(ms: number, format: PcmFormat): number {
  return Math.max(0, Math.round((ms / 1000) * format.sampleRate)) * 2 * format.channels;
}

/**
 * Converts to another rate and channel count: channels are averaged (down-mix) or copied (up-mix),
 * the rate is changed by linear interpolation. Good enough for speech and earcons; a long-lived
 * output stream has one format, and clips arrive at whatever rate the voice produced.
 */
export function convertPcm(samples: Buffer, from: PcmFormat, to: PcmFormat): Buffer {
  if (from.sampleRate === to.sampleRate && from.channels === to.channels) return samples;
  const inFrames = Math.floor(samples.length / (2 * from.channels));
  const mono = new Float64Array(inFrames);
  for (let i = 0; i < inFrames; i++) {
    let sum = 0;
    for (let c = 0; c < from.channels; c++) sum += samples.readInt16LE((i * from.channels + c) * 2);
    mono[i] = sum / from.channels;
  }
  const outFrames = inFrames === 0 ? 0 : Math.max(1, Math.round((inFrames * to.sampleRate) / from.sampleRate));
  const out = Buffer.alloc(outFrames * to.channels * 2);
  const step = from.sampleRate / to.sampleRate;
  for (let j = 0; j < outFrames; j++) {
    const position = j * step;
    const i = Math.floor(position);
    const a = mono[Math.min(i, inFrames - 1)]!;
    const b = mono[Math.min(i + 1, inFrames - 1)]!;
    const value = Math.max(-32768, Math.min(32767, Math.round(a + (b - a) * (position - i))));
    for (let c = 0; c < to.channels; c++) out.writeInt16LE(value, (j * to.channels + c) * 2);
  }
  return out;
}

export function silence(ms: number, format: PcmFormat): Buffer {
  return Buffer.alloc(bytesForMs(ms, format));
}

import type { AudioOutput, Volume } from '@sightline/schemas';
import type { VolumeSettings } from './config.ts';

export type { VolumeSettings };

/** Unity gain at the default level, as before there were levels. */
export const UNITY_VOLUME: VolumeSettings = { steps: 8, defaultLevel: 6, headsetDefaultLevel: 6, stepDb: 3 };

/**
 * One gain table for both outputs: level L plays at (L - the loudspeaker's default) x step dB, so
 * the default plays the PCM as it came, and a headset that starts lower starts quieter. The level
 * number means the same loudness change on either output.
 */
export function gainDb(level: number, settings: VolumeSettings): number {
  return (level - settings.defaultLevel) * settings.stepDb;
}

export function defaultLevel(output: AudioOutput, settings: VolumeSettings): number {
  return output === 'headset' ? settings.headsetDefaultLevel : settings.defaultLevel;
}

export function volumeOf(output: AudioOutput, level: number, settings: VolumeSettings): Volume {
  return { output, level, steps: settings.steps };
}

/**
 * 16-bit PCM scaled by `db`, hard-clipped at the int16 bounds; the same buffer at 0 dB. A new
 * buffer otherwise: the PCM is kept as it came (for repeat, and for a later level). 1 ms for a
 * 2.5 s sentence at 22 kHz, once per clip played.
 */
export function applyGain(samples: Buffer, db: number): Buffer {
  if (db === 0) return samples;
  const factor = 10 ** (db / 20);
  const out = Buffer.alloc(samples.length - (samples.length % 2));
  for (let i = 0; i < out.length; i += 2) {
    const value = Math.round(samples.readInt16LE(i) * factor);
    out.writeInt16LE(value > 32767 ? 32767 : value < -32768 ? -32768 : value, i);
  }
  return out;
}

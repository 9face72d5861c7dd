import type { PcmFormat } from './pcm.ts';

/**
 * Short sounds made in code, so there is nothing to ship or license. Every note has a few
 * milliseconds of fade in and out: a tone that starts or stops at full amplitude clicks.
 */

export interface Note {
  /** Hz; 0 is a rest. */
  frequency: number;
  ms: number;
}

export const EARCON_RATE = 22050;
export const EARCON_FORMAT: PcmFormat = { sampleRate: EARCON_RATE, channels: 1 };

/**
 * Scan accepted: a rising fifth, A5 then E6, bright and short (70 ms). It stands between the scan
 * and its sentence, so every millisecond of it is a millisecond the shopper waits for the words.
 */
export const SCAN_CHIME: readonly Note[] = [
  { frequency: 880, ms: 30 },
  { frequency: 1318.5, ms: 40 },
];
/** Not recognised: a falling minor third, lower and a little longer, so it cannot be taken for a scan. */
export const NOT_RECOGNISED_CHIME: readonly Note[] = [
  { frequency: 587.3, ms: 80 },
  { frequency: 493.9, ms: 110 },
];
/** Speech unavailable: three low falling notes, twice; nothing else the speaker plays sounds like it. */
export const SPEECH_UNAVAILABLE_PATTERN: readonly Note[] = [
  { frequency: 392, ms: 120 },
  { frequency: 0, ms: 40 },
  { frequency: 330, ms: 120 },
  { frequency: 0, ms: 40 },
  { frequency: 262, ms: 220 },
  { frequency: 0, ms: 250 },
  { frequency: 392, ms: 120 },
  { frequency: 0, ms: 40 },
  { frequency: 330, ms: 120 },
  { frequency: 0, ms: 40 },
  { frequency: 262, ms: 220 },
];
/** Speech is back: the same notes rising. */
export const SPEECH_RESTORED_PATTERN: readonly Note[] = [
  { frequency: 262, ms: 100 },
  { frequency: 0, ms: 30 },
  { frequency: 330, ms: 100 },
  { frequency: 0, ms: 30 },
  { frequency: 392, ms: 180 },
];

const FADE_MS = 5;

/** Mono 16-bit PCM of the notes; `level` is the peak as a share of full scale. */
export function renderNotes(notes: readonly Note[], sampleRate: number = EARCON_RATE, level = 0.3): Buffer {
  const total = notes.reduce((sum, note) => sum + Math.round((note.ms / 1000) * sampleRate), 0);
  const out = Buffer.alloc(total * 2);
  let offset = 0;
  for (const note of notes) {
    const n = Math.round((note.ms / 1000) * sampleRate);
    const fade = Math.max(1, Math.min(Math.round((FADE_MS / 1000) * sampleRate), Math.floor(n / 2)));
    for (let i = 0; i < n; i++) {
      let value = 0;
      if (note.frequency > 0) {
        const envelope = Math.min(1, i / fade, (n - 1 - i) / fade) * (1 - 0.35 * (i / n));
        // A quiet octave above makes it a chime rather than a test tone.
        const phase = (2 * Math.PI * note.frequency * i) / sampleRate;
        value = envelope * (0.85 * Math.sin(phase) + 0.15 * Math.sin(2 * phase));
      }
      out.writeInt16LE(Math.round(value * level * 32767), (offset + i) * 2);
    }
    offset += n;
  }
  return out;
}

export function notesDurationMs(notes: readonly Note[]): number {
  return notes.reduce((sum, note) => sum + note.ms, 0);
}

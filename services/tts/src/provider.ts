/**
 * What every speech provider offers. The service, the cache and the shared provider test suite
 * only see this interface; the engines (espeak-ng WASM, Azure Speech) stay behind it.
 */

export interface SynthesisRequest {
  /** Plain text (no markup); the provider escapes it for its own format. */
  text: string;
  /** A locale the provider supports (see `voiceFor`). */
  locale: string;
  /** Aborted when the caller gave up waiting (over budget, service stopping). */
  signal?: AbortSignal;
}

export interface Synthesis {
  /** A plain 16-bit PCM WAV (no extra chunks). */
  wav: Buffer;
  voice: string;
}

export interface VoiceInfo {
  locale: string;
  voice: string;
}

export interface SpeechProvider {
  /** Short name, used in metadata, metrics and cache keys: `espeak`, `azure`. */
  readonly name: string;
  /** Everything besides text, locale and voice that changes the sound (rate, pitch, format). */
  readonly soundKey: string;
  /** The voice used for a locale, or null when the provider cannot speak it. */
  voiceFor(locale: string): string | null;
  voices(): VoiceInfo[];
  synthesize(request: SynthesisRequest): Promise<Synthesis>;
  close(): Promise<void>;
}

export class ProviderError extends Error {
  readonly provider: string;
  constructor(provider: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ProviderError';
    this.provider = provider;
  }
}

/** Settings that change how every voice sounds. */
export interface Prosody {
  /** Speaking rate in percent of the voice's normal rate (100 = normal). */
  ratePercent: number;
  /** Pitch change in percent (0 = the voice's own). */
  pitchPercent: number;
}

export const DEFAULT_PROSODY: Prosody = { ratePercent: 100, pitchPercent: 0 };

/** Parses "en-US=voice,es-ES=voice" voice maps used by the settings. */
export function parseVoiceMap(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of text.split(',')) {
    const trimmed = entry.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    if (eq <= 0 || eq === trimmed.length - 1) throw new Error(`"${trimmed}" is not locale=voice`);
    map.set(trimmed.slice(0, eq).trim(), trimmed.slice(eq + 1).trim());
  }
  return map;
}

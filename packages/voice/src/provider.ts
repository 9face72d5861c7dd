import type { Pcm } from '@sightline/schemas';

/**
 * What every speech provider offers. The tts service, its cache, the speaker's fallback and the
 * shared provider test suite (`@sightline/voice/testing`) only see this interface; the engines
 * (espeak-ng WASM here, Azure Speech in tts) stay behind it.
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
  /** The spoken audio: samples and their format, no container. */
  pcm: Pcm;
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

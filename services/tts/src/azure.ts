import * as sdk from 'microsoft-cognitiveservices-speech-sdk';
import { checkPcm, toPlainText } from '@sightline/schemas';
import {
  DEFAULT_PROSODY,
  MAX_SENTENCE_CHARS,
  ProviderError,
  type Prosody,
  type SpeechProvider,
  type Synthesis,
  type SynthesisRequest,
  type VoiceInfo,
} from '@sightline/voice';

/** Azure neural voices per locale; SIGHTLINE_TTS_AZURE_VOICES adds or replaces entries. */
export const AZURE_VOICES: Readonly<Record<string, string>> = {
  'en-US': 'en-US-JennyNeural',
  'en-GB': 'en-GB-SoniaNeural',
  'es-ES': 'es-ES-ElviraNeural',
  'es-MX': 'es-MX-DaliaNeural',
  'fr-FR': 'fr-FR-DeniseNeural',
  'de-DE': 'de-DE-KatjaNeural',
  'it-IT': 'it-IT-ElsaNeural',
  'nl-NL': 'nl-NL-ColetteNeural',
  'pt-PT': 'pt-PT-RaquelNeural',
  'pt-BR': 'pt-BR-FranciscaNeural',
};

export interface AzureOptions {
  key: string;
  /** An Azure region (`westeurope`); or an endpoint instead. */
  region?: string;
  /** A full endpoint URL (a private or local endpoint, `wss://` or `ws://`), used instead of the region. */
  endpoint?: string;
  prosody?: Prosody;
  voices?: ReadonlyMap<string, string>;
}

// Raw PCM: the SDK asks the service for raw audio either way and would only add a RIFF header
// for the Riff format, which tts would parse off again.
const OUTPUT_FORMAT = sdk.SpeechSynthesisOutputFormat.Raw24Khz16BitMonoPcm;
const OUTPUT_PCM = { sampleRate: 24000, channels: 1 };

export function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

function signedPercent(value: number): string {
  return `${value >= 0 ? '+' : ''}${Math.round(value)}%`;
}

/** The SSML Azure is sent: the voice, the locale and the prosody around the escaped plain text. */
export function buildSsml(text: string, locale: string, voice: string, prosody: Prosody): string {
  return (
    `<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="${escapeXml(locale)}">` +
    `<voice name="${escapeXml(voice)}">` +
    `<prosody rate="${signedPercent(prosody.ratePercent - 100)}" pitch="${signedPercent(prosody.pitchPercent)}">` +
    `${escapeXml(toPlainText(text, MAX_SENTENCE_CHARS))}</prosody></voice></speak>`
  );
}

/**
 * Azure Speech through the official SDK: SSML in, 24 kHz 16-bit mono PCM out. A synthesizer
 * is made per sentence and closed after it, so an aborted request (over budget) cannot leave a
 * half-used connection behind for the next one.
 */
export function createAzureProvider(options: AzureOptions): SpeechProvider {
  if (options.region === undefined && options.endpoint === undefined) throw new ProviderError('azure', 'Azure Speech needs a region or an endpoint');
  const prosody = options.prosody ?? DEFAULT_PROSODY;
  const voices = new Map(Object.entries(AZURE_VOICES));
  for (const [locale, voice] of options.voices ?? []) voices.set(locale, voice);

  function speechConfig(): sdk.SpeechConfig {
    const config =
      options.endpoint !== undefined
        ? sdk.SpeechConfig.fromEndpoint(new URL(options.endpoint), options.key)
        : sdk.SpeechConfig.fromSubscription(options.key, options.region!);
    config.speechSynthesisOutputFormat = OUTPUT_FORMAT;
    return config;
  }

  return {
    name: 'azure',
    soundKey: `rate=${prosody.ratePercent};pitch=${prosody.pitchPercent};pcm16/24000/mono`,
    voiceFor: (locale) => voices.get(locale) ?? null,
    voices: (): VoiceInfo[] => [...voices].map(([locale, voice]) => ({ locale, voice })),
    synthesize({ text, locale, signal }: SynthesisRequest): Promise<Synthesis> {
      const voice = voices.get(locale);
      if (voice === undefined) return Promise.reject(new ProviderError('azure', `no Azure voice for locale ${locale}`));
      if (signal?.aborted) return Promise.reject(signal.reason);
      const ssml = buildSsml(text, locale, voice, prosody);
      const synthesizer = new sdk.SpeechSynthesizer(speechConfig(), null as unknown as sdk.AudioConfig);
      return new Promise<Synthesis>((resolve, reject) => {
        let settled = false;
        const finish = (fn: () => void) => {
          if (settled) return;
          settled = true;
          signal?.removeEventListener('abort', onAbort);
          try {
            synthesizer.close();
          } catch {
            // closing twice or while connecting throws; nothing to clean up then
          }
          fn();
        };
        const onAbort = () => finish(() => reject(signal?.reason ?? new ProviderError('azure', 'aborted')));
        signal?.addEventListener('abort', onAbort, { once: true });
        synthesizer.speakSsmlAsync(
          ssml,
          (result) => {
            if (result.reason === sdk.ResultReason.SynthesizingAudioCompleted) {
              let pcm;
              try {
                pcm = checkPcm({ samples: Buffer.from(result.audioData), format: OUTPUT_PCM });
              } catch (err) {
                finish(() => reject(new ProviderError('azure', `Azure returned audio that is not 16-bit PCM: ${(err as Error).message}`)));
                return;
              }
              finish(() => resolve({ pcm, voice }));
              return;
            }
            const details = sdk.CancellationDetails.fromResult(result);
            const code = sdk.CancellationErrorCode[details.ErrorCode] ?? String(details.ErrorCode);
            const message = (details.errorDetails ?? result.errorDetails ?? '').replace(/\s+/g, ' ').trim().slice(0, 300);
            finish(() => reject(new ProviderError('azure', `Azure ${sdk.ResultReason[result.reason]} (${code}): ${message}`)));
          },
          (error) => finish(() => reject(new ProviderError('azure', `Azure failed: ${String(error).slice(0, 300)}`))),
        );
      });
    },
    async close() {},
  };
}

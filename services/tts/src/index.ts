export { createTtsApp, type TtsApp, type TtsDeps } from './app.ts';
export { loadTtsConfig, ttsEnvSchema, type TtsConfig } from './config.ts';
export { DEFAULT_PROSODY, ProviderError, type Prosody, type SpeechProvider, type Synthesis, type SynthesisRequest, type VoiceInfo } from './provider.ts';
export { createOfflineVoice, ESPEAK_VOICES, type OfflineVoice, type OfflineVoiceOptions } from './espeak.ts';
export { createAzureProvider, buildSsml, type AzureOptions } from './azure.ts';
export {
  fixedSentences,
  isSupportedLocale,
  plainSpeechText,
  sentenceFor,
  spokenKilograms,
  spokenMoney,
  SUPPORTED_LOCALES,
  type Sentence,
  type SentenceOptions,
  type SpeechKind,
} from './sentences.ts';

export { DEFAULT_PROSODY, ProviderError, type Prosody, type SpeechProvider, type Synthesis, type SynthesisRequest, type VoiceInfo } from './provider.ts';
export { createOfflineVoice, ESPEAK_SAMPLE_RATE, ESPEAK_VOICES, type OfflineVoice, type OfflineVoiceOptions } from './espeak.ts';
export {
  fixedSentences,
  isSupportedLocale,
  MAX_SENTENCE_CHARS,
  productPhrases,
  sentenceFor,
  spokenKilograms,
  spokenMoney,
  SUPPORTED_LOCALES,
  type Sentence,
  type SentenceOptions,
  type SpeechKind,
} from './sentences.ts';

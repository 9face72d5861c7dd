import { createOfflineVoice, sentenceFor } from '@sightline/voice';
import { VoiceFallbackAnnouncer } from './fallback.ts';

/**
 * "Speech is unavailable" in words: the sentences and offline espeak-ng voice of
 * `@sightline/voice` (the ones tts uses), run inside the speaker, so it can be said while tts is down. Nothing is loaded until the first
 * outage (or `warm`).
 */
export function offlineVoiceAnnouncer(defaultLocale: string): VoiceFallbackAnnouncer {
  const voice = createOfflineVoice();
  return new VoiceFallbackAnnouncer(voice, (locale, state) => {
    const sentence = sentenceFor(
      { type: 'trouble', problem: 'speech-unavailable', state, id: 'speaker-fallback', lane: 'fallback', locale, at: Date.now() },
      { defaultLocale },
    );
    return { text: sentence.text, locale: sentence.locale };
  });
}

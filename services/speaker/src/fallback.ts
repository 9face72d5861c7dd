import { buildWav } from '@sightline/schemas';
import { EARCON_FORMAT, renderNotes, SPEECH_RESTORED_PATTERN, SPEECH_UNAVAILABLE_PATTERN } from './earcons.ts';

/**
 * What the speaker plays by itself when the speech service is gone, so the shopper is never
 * left in silence. Both return a 16-bit PCM WAV. Plug in an offline voice (espeak) to say it in
 * words in the lane's locale; the default plays distinctive earcon patterns.
 */
export interface FallbackAnnouncer {
  /** "Speech is unavailable" for a lane speaking `locale` (e.g. `fr-FR`). */
  speechUnavailable(locale: string): Promise<Buffer>;
  /** "Speech is back". */
  speechRestored(locale: string): Promise<Buffer>;
}

export class EarconFallbackAnnouncer implements FallbackAnnouncer {
  private readonly unavailable = buildWav(renderNotes(SPEECH_UNAVAILABLE_PATTERN, EARCON_FORMAT.sampleRate), EARCON_FORMAT);
  private readonly restored = buildWav(renderNotes(SPEECH_RESTORED_PATTERN, EARCON_FORMAT.sampleRate), EARCON_FORMAT);

  async speechUnavailable(_locale: string): Promise<Buffer> {
    return this.unavailable;
  }

  async speechRestored(_locale: string): Promise<Buffer> {
    return this.restored;
  }
}

/** What a voice announcer needs: the tts service's offline voice has this shape. */
export interface OfflineSpeech {
  synthesize(request: { text: string; locale: string }): Promise<{ wav: Buffer }>;
}

/**
 * Says it in words, in the lane's locale, with an offline voice that runs inside the speaker (so
 * it works while the tts service is down). `sentence` gives the text for a locale and state.
 * Rendered once per sentence (a spoken locale and state), then kept.
 */
export class VoiceFallbackAnnouncer implements FallbackAnnouncer {
  private readonly rendered = new Map<string, Promise<Buffer>>();
  private readonly voice: OfflineSpeech;
  private readonly sentence: (locale: string, state: 'begin' | 'end') => { text: string; locale: string };

  constructor(voice: OfflineSpeech, sentence: (locale: string, state: 'begin' | 'end') => { text: string; locale: string }) {
    this.voice = voice;
    this.sentence = sentence;
  }

  private say(locale: string, state: 'begin' | 'end'): Promise<Buffer> {
    // Kept per sentence actually spoken, not per locale asked for: lanes name their own locales,
    // and every locale without sentences is said in the default one (one entry, not one each).
    const { text, locale: spoken } = this.sentence(locale, state);
    const key = JSON.stringify([spoken, text]);
    let wav = this.rendered.get(key);
    if (!wav) {
      wav = this.voice.synthesize({ text, locale: spoken }).then((result) => result.wav);
      // A failure is not kept: the next outage tries again (the player falls back to earcons meanwhile).
      wav.catch(() => this.rendered.delete(key));
      this.rendered.set(key, wav);
    }
    return wav;
  }

  speechUnavailable(locale: string): Promise<Buffer> {
    return this.say(locale, 'begin');
  }

  speechRestored(locale: string): Promise<Buffer> {
    return this.say(locale, 'end');
  }
}

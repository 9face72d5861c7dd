import type { Pcm } from '@sightline/schemas';
import { EARCON_FORMAT, renderNotes, SPEECH_RESTORED_PATTERN, SPEECH_UNAVAILABLE_PATTERN } from './earcons.ts';

/**
 * What the speaker plays by itself when the speech service is gone, so the shopper is never
 * left in silence. Both return 16-bit PCM. Plug in an offline voice (espeak) to say it in words
 * in the lane's locale; the default plays distinctive earcon patterns.
 */
export interface FallbackAnnouncer {
  /** "Speech is unavailable" for a lane speaking `locale` (e.g. `fr-FR`). */
  speechUnavailable(locale: string): Promise<Pcm>;
  /** "Speech is back". */
  speechRestored(locale: string): Promise<Pcm>;
}

export class EarconFallbackAnnouncer implements FallbackAnnouncer {
  private readonly unavailable: Pcm = { samples: renderNotes(SPEECH_UNAVAILABLE_PATTERN, EARCON_FORMAT.sampleRate), format: EARCON_FORMAT };
  private readonly restored: Pcm = { samples: renderNotes(SPEECH_RESTORED_PATTERN, EARCON_FORMAT.sampleRate), format: EARCON_FORMAT };

  async speechUnavailable(_locale: string): Promise<Pcm> {
    return this.unavailable;
  }

  async speechRestored(_locale: string): Promise<Pcm> {
    return this.restored;
  }
}

/** What a voice announcer needs: the offline voice of `@sightline/voice` has this shape. */
export interface OfflineSpeech {
  synthesize(request: { text: string; locale: string }): Promise<{ pcm: Pcm }>;
}

/**
 * Says it in words, in the lane's locale, with an offline voice that runs inside the speaker (so
 * it works while the tts service is down). `sentence` gives the text for a locale and state.
 * Rendered once per sentence (a spoken locale and state), then kept.
 */
export class VoiceFallbackAnnouncer implements FallbackAnnouncer {
  private readonly rendered = new Map<string, Promise<Pcm>>();
  private readonly voice: OfflineSpeech;
  private readonly sentence: (locale: string, state: 'begin' | 'end') => { text: string; locale: string };

  constructor(voice: OfflineSpeech, sentence: (locale: string, state: 'begin' | 'end') => { text: string; locale: string }) {
    this.voice = voice;
    this.sentence = sentence;
  }

  private say(locale: string, state: 'begin' | 'end'): Promise<Pcm> {
    // Kept per sentence actually spoken, not per locale asked for: lanes name their own locales,
    // and every locale without sentences is said in the default one (one entry, not one each).
    const { text, locale: spoken } = this.sentence(locale, state);
    const key = JSON.stringify([spoken, text]);
    let pcm = this.rendered.get(key);
    if (!pcm) {
      pcm = this.voice.synthesize({ text, locale: spoken }).then((result) => result.pcm);
      // A failure is not kept: the next outage tries again (the player falls back to earcons meanwhile).
      pcm.catch(() => this.rendered.delete(key));
      this.rendered.set(key, pcm);
    }
    return pcm;
  }

  speechUnavailable(locale: string): Promise<Pcm> {
    return this.say(locale, 'begin');
  }

  speechRestored(locale: string): Promise<Pcm> {
    return this.say(locale, 'end');
  }
}

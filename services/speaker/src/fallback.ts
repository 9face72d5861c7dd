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

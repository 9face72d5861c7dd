import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { channels, pcmDurationMs, type LaneEvent, type Scan } from '@sightline/schemas';
import { ProviderError, type SpeechProvider } from './provider.ts';

/**
 * The contract every speech provider keeps, one suite run against each of them: the offline
 * voice here, Azure (through the real SDK and a local endpoint) in the tts service.
 */
export function providerContract(name: string, make: (t: TestContext) => Promise<SpeechProvider>): void {
  describe(`provider contract: ${name}`, () => {
    test('speaks en-US and es-ES into 16-bit PCM', async (t) => {
      const provider = await make(t);
      for (const [locale, text] of [
        ['en-US', 'You scanned a banana, 0.42 kilograms, 83 cents.'],
        ['es-ES', 'Has escaneado un plátano, 83 céntimos.'],
      ] as const) {
        const voice = provider.voiceFor(locale);
        assert.ok(voice, `a voice for ${locale}`);
        const { pcm, voice: used } = await provider.synthesize({ text, locale });
        assert.equal(pcm.format.channels, 1);
        assert.ok(pcm.format.sampleRate >= 8000 && pcm.format.sampleRate <= 48000, `${pcm.format.sampleRate} Hz`);
        assert.equal(pcm.samples.length % 2, 0, 'whole 16-bit samples');
        assert.ok(pcmDurationMs(pcm) > 300, `${locale}: ${pcmDurationMs(pcm)} ms of audio`);
        assert.equal(used, voice);
        let loud = 0;
        for (let i = 0; i + 1 < pcm.samples.length; i += 2) loud = Math.max(loud, Math.abs(pcm.samples.readInt16LE(i)));
        assert.ok(loud > 1000, 'not silence');
      }
    });
    test('lists its voices and refuses a locale it has no voice for', async (t) => {
      const provider = await make(t);
      const locales = provider.voices().map((v) => v.locale);
      assert.ok(locales.includes('en-US') && locales.includes('es-ES'));
      assert.equal(provider.voiceFor('ja-JP'), null);
      await assert.rejects(provider.synthesize({ text: 'hello', locale: 'ja-JP' }), ProviderError);
    });
    test('an aborted request is refused without audio', async (t) => {
      const provider = await make(t);
      const controller = new AbortController();
      controller.abort(new Error('gave up'));
      await assert.rejects(provider.synthesize({ text: 'hello', locale: 'en-US', signal: controller.signal }), /gave up/);
    });
    test('markup in the text is spoken as words, never interpreted', async (t) => {
      const provider = await make(t);
      const { pcm } = await provider.synthesize({ text: 'Fish <break time="9s"/> & chips', locale: 'en-US' });
      assert.ok(pcmDurationMs(pcm) < 5000);
    });
    test('the sound key changes with the prosody', async (t) => {
      const provider = await make(t);
      assert.match(provider.soundKey, /\S/);
    });
  });
}

let counter = 0;

/** A scan as checkout publishes it (the channel's example), with a fresh id. */
export function scan(overrides: Partial<Scan> = {}): Scan {
  counter += 1;
  return { ...channels.scan.example, id: `scan-${counter}`, ...overrides };
}

export function laneEvent<T extends LaneEvent['type']>(
  type: T,
  fields: Omit<Extract<LaneEvent, { type: T }>, 'id' | 'lane' | 'locale' | 'at' | 'type'> & { locale?: string; lane?: string },
): LaneEvent {
  counter += 1;
  return { id: `ev-${counter}`, lane: 'lane-1', locale: 'en-US', at: 1795000000900, type, ...fields } as unknown as LaneEvent;
}

export const BANANA = { sku: 'FRUIT-BANANA', label: 'banana', name: 'Bananas', spoken: { one: 'banana' } };

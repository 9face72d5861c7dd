declare module '@echogarden/espeak-ng-emscripten' {
  interface EspeakVoice {
    name: string;
    identifier: string;
    languages: Array<{ priority: number; name: string }>;
  }
  interface EspeakEvent {
    type: string;
    text_position: number;
    word_length: number;
    audio_position: number;
  }
  export interface ESpeakNGWorker {
    set_voice(name: string): number;
    set_rate(wpm: number): void;
    set_pitch(pitch: number): void;
    set_range(range: number): void;
    get_samplerate(): number;
    list_voices(): EspeakVoice[];
    synthesize(text: string, callback: (samples: Int16Array | undefined, events: EspeakEvent[]) => number | boolean): void;
  }
  export interface EspeakModule {
    eSpeakNGWorker: new () => ESpeakNGWorker;
  }
  const createModule: (options?: Record<string, unknown>) => Promise<EspeakModule>;
  export default createModule;
}

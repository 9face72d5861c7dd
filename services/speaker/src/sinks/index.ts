import path from 'node:path';
import type { SpeakerConfig } from '../config.ts';
import { FileSink } from './file-sink.ts';
import { NoneSink } from './none-sink.ts';
import { createAlsaSink, createPaplaySink } from './process-sink.ts';
import { PulseStreamSink } from './pulse-stream.ts';
import type { AudioSink } from './sink.ts';

export interface SinkEnvironment {
  /** Environment of the player processes (PULSE_SERVER, PATH...). */
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

/** The output the configuration asks for. */
export function createSink(config: Pick<SpeakerConfig, 'output' | 'pulse' | 'alsa' | 'file'>, environment: SinkEnvironment = {}): AudioSink {
  const common = { ...(environment.env ? { env: environment.env } : {}), ...(environment.now ? { now: environment.now } : {}) };
  switch (config.output) {
    case 'auto':
      throw new Error('output auto must be resolved (resolveOutput) before the sink is made');
    case 'pulse': {
      const pulse = { device: config.pulse.device, server: config.pulse.server, latencyMs: config.pulse.latencyMs, ...common };
      return config.pulse.mode === 'stream'
        ? new PulseStreamSink(pulse, { sampleRate: config.pulse.rate, channels: config.pulse.channels })
        : createPaplaySink(pulse);
    }
    case 'alsa':
      return createAlsaSink({ device: config.alsa.device, bufferMs: config.alsa.bufferMs, ...common });
    case 'file':
      return new FileSink({
        dir: config.file.dir,
        maxFiles: config.file.maxFiles,
        maxBytes: config.file.maxBytes,
        ...(environment.now ? { now: environment.now } : {}),
      });
    case 'none':
      return new NoneSink(environment.now ? { now: environment.now } : {});
  }
}

/**
 * A lane's headset, made like the loudspeaker (the same output kind and settings) but on its own
 * device: the PulseAudio sink or ALSA PCM named `device`, or the folder `<file dir>/<device>`.
 */
export function createHeadsetSink(
  config: Pick<SpeakerConfig, 'output' | 'pulse' | 'alsa' | 'file'>,
  device: string,
  environment: SinkEnvironment = {},
): AudioSink {
  return createSink(
    {
      output: config.output,
      pulse: { ...config.pulse, device },
      alsa: { ...config.alsa, device },
      file: { ...config.file, dir: path.join(config.file.dir, device) },
    },
    environment,
  );
}

export { FileSink, clipFileName, type FileSinkOptions } from './file-sink.ts';
export { NoneSink } from './none-sink.ts';
export { aplayArgs, createAlsaSink, createPaplaySink, ProcessSink, type AplayOptions, type PaplayOptions, type ProcessSinkOptions } from './process-sink.ts';
export { PulseStreamSink, pulseArgs, type PulseOptions } from './pulse-stream.ts';
export { abortableDelay, SinkError, type AudioSink, type Clip, type ClipLabel, type Played, type PlayOptions } from './sink.ts';
export { pulseAnswers, resolveOutput } from './auto.ts';

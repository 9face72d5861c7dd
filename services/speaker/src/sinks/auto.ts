import { execFile } from 'node:child_process';
import type { Logger } from '@sightline/kit';
import type { SpeakerConfig } from '../config.ts';

/** True when `pactl` reaches a PulseAudio (or PipeWire-Pulse) server within `timeoutMs`. */
export function pulseAnswers(server: string | undefined, env: NodeJS.ProcessEnv = process.env, timeoutMs = 3000): Promise<boolean> {
  const args = [...(server ? [`--server=${server}`] : []), 'info'];
  return new Promise((resolve) => {
    execFile('pactl', args, { env, timeout: timeoutMs }, (err) => resolve(!err));
  });
}

/**
 * `auto` (the default) picks the loudspeaker when there is one: PulseAudio when a server answers,
 * otherwise the file output, so a machine with no sound at all (a CI runner, a container) still
 * runs the whole stack and keeps what would have been said. Any other output is kept as asked:
 * an explicit `pulse` with no server is an error to report, not to paper over.
 */
export async function resolveOutput(config: SpeakerConfig, logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<SpeakerConfig> {
  if (config.output !== 'auto') return config;
  if (await pulseAnswers(config.pulse.server, env)) {
    logger.info({ server: config.pulse.server ?? 'default' }, 'output auto: PulseAudio answers, playing there');
    return { ...config, output: 'pulse' };
  }
  logger.warn(
    { dir: config.file.dir },
    'output auto: no PulseAudio server answers, writing each announcement as a WAV file instead (SIGHTLINE_SPEAKER_OUTPUT=pulse or alsa to insist on a loudspeaker)',
  );
  return { ...config, output: 'file' };
}

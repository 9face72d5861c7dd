import { pino, type Logger } from 'pino';
import { stdoutSink } from './log-sink.ts';

export type { Logger };

/** Paths whose values never reach a log line. */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  'config.SIGHTLINE_MQTT_PASSWORD',
  'headers.authorization',
  '*.headers.authorization',
  'headers["prediction-key"]',
  '*.headers["prediction-key"]',
  'connectionString',
  '*.connectionString',
  'key',
  '*.key',
];

/**
 * One root logger per process; modules take `logger.child({ module })`. Lines go to stdout through
 * a sink that never blocks (see log-sink.ts), unless the caller gives its own destination.
 */
export function createLogger(service: string, level: string = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name: service,
      level,
      base: { service },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? stdoutSink(),
  );
}

import type { DestinationStream, Logger } from 'pino';
import { ConfigError } from './config.ts';
import { stdoutSink } from './log-sink.ts';
import { createLogger } from './logger.ts';
import type { Service } from './runtime.ts';

const PARENT_CHECK_MS = 1000;
/** A signal this soon after the first is the same request, delivered twice. */
const SAME_SIGNAL_MS = 1000;

export interface MainOptions<C> {
  service: string;
  loadConfig: () => C;
  logLevel: (config: C) => string;
  build: (config: C, logger: Logger) => Service | Promise<Service>;
  /** How long a graceful stop may take before the process exits anyway. */
  stopTimeoutMs?: number;
  /** Where log lines go instead of stdout as JSON. */
  logDestination?: DestinationStream;
}

/**
 * What every `main.ts` does: validate the config (print every problem, exit 1), build the app,
 * start it, and stop it on SIGTERM/SIGINT within the deadline. A second signal exits at once.
 * Started by a supervisor (the dev stack, over IPC), it also stops when the supervisor goes: its
 * channel closes, and, as a second line, its parent process changes.
 */
export async function runMain<C>({ service, loadConfig, logLevel, build, stopTimeoutMs = 5000, logDestination }: MainOptions<C>): Promise<void> {
  let config: C;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  // Never a destination that can block: a service must be able to stop whatever its reader does.
  const sink = logDestination === undefined ? stdoutSink() : undefined;
  const logger = createLogger(service, logLevel(config), logDestination ?? sink);
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled rejection');
    process.exit(1);
  });

  // Signals are handled from the start: one that arrives while starting stops the app as soon
  // as it is up, instead of killing the process half-started.
  let app: Service | undefined;
  let stopping = false;
  let stoppingSince = 0;
  const stop = (why: NodeJS.Signals | 'supervisor gone') => {
    if (stopping) {
      // The supervisor going while this stops changes nothing: the stop is under way, with its deadline.
      // Nor does the same Ctrl-C arriving twice: the terminal sends it to the package manager too,
      // which passes it on a millisecond later.
      if (why === 'supervisor gone' || performance.now() - stoppingSince < SAME_SIGNAL_MS) return;
      logger.warn({ signal: why }, 'second signal, exiting now');
      process.exit(1);
    }
    stopping = true;
    stoppingSince = performance.now();
    logger.info(why === 'supervisor gone' ? { cause: why } : { signal: why }, 'stopping');
    // Nothing on this path can block: the logger drops what its reader does not take.
    const deadline = setTimeout(() => {
      logger.error({ timeoutMs: stopTimeoutMs }, 'graceful stop took too long, exiting');
      process.exit(1);
    }, stopTimeoutMs);
    deadline.unref();
    started
      .then(() => app?.stop())
      .then(
        async () => {
          logger.info('stopped');
          await sink?.drain(Math.min(1000, stopTimeoutMs / 4));
          process.exit(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'stop failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Started by a supervisor over IPC (the dev stack): when it goes away, even killed outright,
  // the channel closes and this service stops instead of living on as an orphan. An orphan is
  // also adopted by another parent, looked for every second in case the channel's close is missed.
  if (process.send !== undefined) {
    process.once('disconnect', () => stop('supervisor gone'));
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) stop('supervisor gone');
    }, PARENT_CHECK_MS).unref();
  }

  const started = (async () => {
    app = await build(config, logger);
    await app.start();
  })();
  try {
    await started;
  } catch (err) {
    logger.fatal({ err }, 'failed to start');
    await sink?.drain(1000);
    process.exit(1);
  }
  logger.info('started');
}

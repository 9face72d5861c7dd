import type { DestinationStream, Logger } from 'pino';
import { ConfigError } from './config.ts';
import { createLogger } from './logger.ts';
import type { Service } from './runtime.ts';

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
  const logger = createLogger(service, logLevel(config), logDestination);
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    logger.flush();
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled rejection');
    logger.flush();
    process.exit(1);
  });

  // Signals are handled from the start: one that arrives while starting stops the app as soon
  // as it is up, instead of killing the process half-started.
  let app: Service | undefined;
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal, exiting now');
      logger.flush();
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    const deadline = setTimeout(() => {
      logger.error({ timeoutMs: stopTimeoutMs }, 'graceful stop took too long, exiting');
      logger.flush();
      process.exit(1);
    }, stopTimeoutMs);
    deadline.unref();
    started
      .then(() => app?.stop())
      .then(
        () => {
          logger.info('stopped');
          logger.flush();
          process.exit(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'stop failed');
          logger.flush();
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Started by a supervisor over IPC (the dev stack): when it goes away, even killed outright,
  // the channel closes and this service stops instead of living on as an orphan.
  if (process.send !== undefined) process.once('disconnect', () => stop('SIGTERM'));

  const started = (async () => {
    app = await build(config, logger);
    await app.start();
  })();
  try {
    await started;
  } catch (err) {
    logger.fatal({ err }, 'failed to start');
    logger.flush();
    process.exit(1);
  }
  logger.info('started');
}

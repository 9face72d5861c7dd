import { Redis } from 'ioredis';
import type { Logger } from '@sightline/kit';
import { redactUrl } from './config.ts';
import { createThrottledWarn } from './throttled-warn.ts';

const CONNECT_TIMEOUT_MS = 5000;

/**
 * A Redis connection for the broker. Opened by `start` (lazyConnect), so a Redis that cannot be
 * reached fails the start with its (redacted) address instead of queueing commands forever.
 * Errors are logged, throttled: ioredis reconnects by itself.
 */
export function createRedis(url: string, role: string, logger: Logger): Redis {
  const warn = createThrottledWarn(logger.child({ module: 'redis' }));
  const redis = new Redis(url, {
    lazyConnect: true,
    connectionName: `sightline-broker-${role}`,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // A command waits through a few reconnects, not twenty: a broker without Redis should say so.
    maxRetriesPerRequest: 3,
  });
  redis.on('error', (err: Error) => warn(`redis-${role}`, { role, redis: redactUrl(url), err: { message: err.message } }, 'Redis connection error'));
  return redis;
}

export async function connectRedis(redis: Redis, url: string): Promise<void> {
  // connect() itself rejects with "Connection is closed"; the error event says why.
  let cause: Error | undefined;
  const remember = (err: Error) => (cause ??= err);
  redis.on('error', remember);
  try {
    await redis.connect();
  } catch (err) {
    throw new Error(`cannot reach Redis at ${redactUrl(url)}: ${(cause ?? (err as Error)).message}`);
  } finally {
    redis.off('error', remember);
  }
}

export type Script = (...args: (string | number)[]) => Promise<unknown>;

/** A Lua script run by its SHA (loaded once per connection), as one atomic step on the server. */
export function defineScript(redis: Redis, name: string, numberOfKeys: number, lua: string): Script {
  redis.defineCommand(name, { numberOfKeys, lua });
  const command = (redis as unknown as Record<string, Script>)[name]!;
  return (...args) => command.apply(redis, args);
}

/**
 * For a connection handed to a library that calls `quit()` and ignores the promise
 * (mqemitter-redis closing its pub/sub pair): on a connection already gone the reply is a
 * rejection ("Connection is closed") that nobody handles, an unhandled rejection in the broker.
 * The library still gets the promise; its end is the connection's 'end' event either way.
 */
export function handleQuitRejections(redis: Redis): void {
  const quit = redis.quit.bind(redis) as () => Promise<'OK'>;
  redis.quit = (() => {
    const quitting = quit();
    quitting.catch(() => {});
    return quitting;
  }) as Redis['quit'];
}

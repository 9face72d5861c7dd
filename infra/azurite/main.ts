import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { z } from 'zod';
import {
  httpPortOf,
  createHttpApp,
  dataDirSetting,
  env,
  httpAccessSettingsSchema,
  httpSettingsFrom,
  loadConfig,
  runMain,
  serviceDataDir,
  type HttpSettings,
  type Logger,
  type Service,
} from '@sightline/kit';

/**
 * The dev stack's Blob Storage: Azurite, Microsoft's emulator (npm `azurite`, pinned), so sync
 * runs with no cloud account. A Sightline-shaped wrapper around its blob server: config checked
 * at start, `/readyz` once Azurite listens, and Azurite stopped with the wrapper (also when the
 * stack that started it goes away, through runMain's IPC watch). Azurite runs in this process.
 */

const schema = z.strictObject({
  SIGHTLINE_LOG_LEVEL: env.logLevel(),
  ...dataDirSetting,
  ...httpAccessSettingsSchema,
  SIGHTLINE_AZURITE_BLOB_HOST: env.host('127.0.0.1'),
  SIGHTLINE_AZURITE_BLOB_PORT: env.port(10000),
  SIGHTLINE_AZURITE_HTTP_HOST: env.host('127.0.0.1'),
  SIGHTLINE_AZURITE_HTTP_PORT: env.port(httpPortOf('azurite')),
});

/** The parts of Azurite's blob server used here (its dist has no typings of its own that resolve from ESM). */
interface BlobServer {
  start(): Promise<void>;
  close(): Promise<void>;
  getHttpServerAddress(): string;
}
interface AzuriteBlob {
  BlobServer: new (config: unknown) => BlobServer;
  BlobConfiguration: new (...args: unknown[]) => unknown;
  constants: {
    DEFAULT_BLOB_LOKI_DB_PATH: string;
    DEFAULT_BLOB_EXTENT_LOKI_DB_PATH: string;
    DEFAULT_BLOB_PERSISTENCE_PATH: string;
    DEFAULT_WRITE_CONCURRENCY_PER_LOCATION: number;
  };
}

function loadAzuriteBlob(): AzuriteBlob {
  const require = createRequire(import.meta.url);
  const dist = path.join(path.dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'blob');
  return {
    BlobServer: (require(path.join(dist, 'BlobServer.js')) as { default: AzuriteBlob['BlobServer'] }).default,
    BlobConfiguration: (require(path.join(dist, 'BlobConfiguration.js')) as { default: AzuriteBlob['BlobConfiguration'] }).default,
    constants: require(path.join(dist, 'utils', 'constants.js')) as AzuriteBlob['constants'],
  };
}

function createAzurite(config: z.infer<typeof schema> & { location: string; http: HttpSettings }, logger: Logger): Service {
  let server: BlobServer | null = null;
  const http = createHttpApp({
    logger,
    registry: new Registry(),
    notReadyReason: () => (server === null ? 'Azurite is not listening yet' : null),
    access: config.http,
  });
  return {
    async start() {
      mkdirSync(config.location, { recursive: true });
      // In this process, not as `azurite-blob` in a child: a second Node process cost 100 MB of
      // RSS, Azurite's modules here cost 50. The files are the ones its command line keeps in
      // --location, so a data dir made before carries on. Built as its command line builds it
      // with --skipApiVersionCheck (the SDK is newer than the emulator's API list); telemetry is
      // started only by that command line, so nothing leaves the machine.
      const { BlobServer, BlobConfiguration, constants } = loadAzuriteBlob();
      // Its access log (one line per request) only at debug level.
      const accessLog = new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const line of chunk.toString().split('\n')) if (line.trim() !== '') logger.debug(line.trimEnd());
          done();
        },
      });
      const blob = new BlobServer(
        new BlobConfiguration(
          config.SIGHTLINE_AZURITE_BLOB_HOST,
          config.SIGHTLINE_AZURITE_BLOB_PORT,
          undefined,
          path.join(config.location, constants.DEFAULT_BLOB_LOKI_DB_PATH),
          path.join(config.location, constants.DEFAULT_BLOB_EXTENT_LOKI_DB_PATH),
          [
            {
              locationId: 'Default',
              locationPath: path.join(config.location, constants.DEFAULT_BLOB_PERSISTENCE_PATH),
              maxConcurrency: constants.DEFAULT_WRITE_CONCURRENCY_PER_LOCATION,
            },
          ],
          true,
          accessLog,
          false,
          undefined,
          false,
          true,
        ),
      );
      await blob.start();
      server = blob;
      logger.info(`Azurite Blob service successfully listens on ${blob.getHttpServerAddress()}`);
      await http.listen({ host: config.http.host, port: config.http.port });
    },
    async stop() {
      await http.close();
      const blob = server;
      server = null;
      await blob?.close();
    },
  };
}

await runMain({
  service: 'azurite',
  loadConfig: () => {
    const settings = loadConfig('azurite', schema);
    const http = httpSettingsFrom('azurite', { host: settings.SIGHTLINE_AZURITE_HTTP_HOST, port: settings.SIGHTLINE_AZURITE_HTTP_PORT }, settings);
    return { ...settings, location: serviceDataDir(settings, 'azurite', process.cwd()), http };
  },
  logLevel: (config) => config.SIGHTLINE_LOG_LEVEL,
  build: (config, logger) => createAzurite(config, logger),
});

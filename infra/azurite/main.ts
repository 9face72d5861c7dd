import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createInterface } from 'node:readline';
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
 * stack that started it goes away, through runMain's IPC watch).
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

function azuriteBlobMain(): string {
  const require = createRequire(import.meta.url);
  const pkgFile = require.resolve('azurite/package.json');
  const bin = (require(pkgFile) as { bin: Record<string, string> }).bin['azurite-blob']!;
  return path.join(path.dirname(pkgFile), bin);
}

function createAzurite(config: z.infer<typeof schema> & { location: string; http: HttpSettings }, logger: Logger): Service {
  let child: ChildProcess | null = null;
  let listening = false;
  const http = createHttpApp({
    logger,
    registry: new Registry(),
    notReadyReason: () => (listening ? null : 'Azurite is not listening yet'),
    access: config.http,
  });
  return {
    async start() {
      mkdirSync(config.location, { recursive: true });
      // --skipApiVersionCheck: the SDK is newer than the emulator's API list; --disableTelemetry:
      // nothing leaves the machine.
      const args = [
        azuriteBlobMain(),
        '--blobHost',
        config.SIGHTLINE_AZURITE_BLOB_HOST,
        '--blobPort',
        String(config.SIGHTLINE_AZURITE_BLOB_PORT),
        '--location',
        config.location,
        '--skipApiVersionCheck',
        '--disableTelemetry',
      ];
      const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child = proc;
      const lines = (stream: NodeJS.ReadableStream) => createInterface({ input: stream });
      lines(proc.stdout!).on('line', (line) => {
        if (line.includes('successfully listens')) listening = true;
        // Its access log (one line per request) only at debug level.
        if (/^\d+\.\d+\.\d+\.\d+ - - \[/.test(line)) logger.debug(line);
        else logger.info(line);
      });
      lines(proc.stderr!).on('line', (line) => logger.warn(line));
      proc.on('exit', (code, signal) => {
        listening = false;
        child = null;
        logger.error({ code, signal }, 'Azurite exited');
        process.exitCode = 1;
        process.kill(process.pid, 'SIGTERM');
      });
      await http.listen({ host: config.http.host, port: config.http.port });
    },
    async stop() {
      await http.close();
      const proc = child;
      if (!proc) return;
      proc.removeAllListeners('exit');
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
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

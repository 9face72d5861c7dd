import { runMain } from '@sightline/kit';
import { createSyncApp } from './app.ts';
import { loadSyncConfig } from './config.ts';

await runMain({
  service: 'sync',
  loadConfig: () => loadSyncConfig(),
  logLevel: (config) => config.logLevel,
  build: (config, logger) => createSyncApp(config, logger),
});

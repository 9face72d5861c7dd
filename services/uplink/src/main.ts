import { runMain } from '@sightline/kit';
import { createUplinkApp } from './app.ts';
import { loadUplinkConfig } from './config.ts';

await runMain({
  service: 'uplink',
  loadConfig: () => loadUplinkConfig(),
  logLevel: (config) => config.logLevel,
  build: (config, logger) => createUplinkApp(config, logger),
});

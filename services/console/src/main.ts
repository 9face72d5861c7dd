import { runMain } from '@sightline/kit';
import { createConsoleApp } from './app.ts';
import { loadConsoleConfig } from './config.ts';

await runMain({
  service: 'console',
  loadConfig: () => loadConsoleConfig(),
  logLevel: (config) => config.logLevel,
  build: (config, logger) => createConsoleApp(config, logger),
});

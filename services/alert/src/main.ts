import { runMain } from '@sightline/kit';
import { createAlertApp } from './app.ts';
import { loadAlertConfig } from './config.ts';

await runMain({
  service: 'alert',
  loadConfig: () => loadAlertConfig(),
  logLevel: (config) => config.logLevel,
  build: (config, logger) => createAlertApp(config, logger),
});

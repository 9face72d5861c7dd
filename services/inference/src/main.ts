import { runMain } from '@sightline/kit';
import { createInferenceApp } from './app.ts';
import { loadInferenceConfig } from './config.ts';

await runMain({
  service: 'inference',
  loadConfig: () => loadInferenceConfig(),
  logLevel: (config) => config.logLevel,
  build: (config, logger) => createInferenceApp(config, logger),
});

import { runMain } from '@sightline/kit';
import { createCaptureApp } from './app.ts';
import { loadCaptureConfig } from './config.ts';

await runMain({
  service: 'capture',
  loadConfig: () => loadCaptureConfig(),
  logLevel: (config) => config.logLevel,
  build: (config, logger) => createCaptureApp(config, logger),
});

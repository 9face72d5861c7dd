import { runMain } from '@sightline/kit';
import { createTtsApp } from './app.ts';
import { loadTtsConfig } from './config.ts';

await runMain({
  service: 'tts',
  loadConfig: () => loadTtsConfig(),
  logLevel: (config) => config.logLevel,
  build: (config, logger) => createTtsApp(config, logger),
});

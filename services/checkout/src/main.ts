import { runMain } from '@sightline/kit';
import { createCheckoutApp } from './app.ts';
import { loadCheckoutConfig } from './config.ts';

await runMain({
  service: 'checkout',
  loadConfig: () => loadCheckoutConfig(),
  logLevel: (config) => config.logLevel,
  build: (config, logger) => createCheckoutApp(config, logger),
});

import { runMain } from '@sightline/kit';
import { createBrokerApp } from './app.ts';
import { loadBrokerConfig, type BrokerConfig } from './config.ts';

await runMain<BrokerConfig>({
  service: 'broker',
  loadConfig: () => loadBrokerConfig(),
  logLevel: (config) => config.logLevel,
  build: (config, logger) => {
    const app = createBrokerApp(config, logger);
    // Like Mosquitto: SIGHUP re-reads the users file.
    process.on('SIGHUP', () => {
      app.reloadUsers().catch((err: unknown) => logger.error({ err }, 'reloading the users file failed; keeping the previous one'));
    });
    return app;
  },
});

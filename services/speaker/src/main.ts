import { runMain } from '@sightline/kit';
import { createSpeakerApp } from './app.ts';
import { loadSpeakerConfig } from './config.ts';
import { resolveOutput } from './sinks/auto.ts';
import { offlineVoiceAnnouncer } from './voice-fallback.ts';

await runMain({
  service: 'speaker',
  loadConfig: () => loadSpeakerConfig(),
  logLevel: (config) => config.logLevel,
  build: async (config, logger) =>
    createSpeakerApp(await resolveOutput(config, logger), logger, {
      ...(config.fallback === 'voice' ? { announcer: offlineVoiceAnnouncer(config.defaultLocale) } : {}),
    }),
});

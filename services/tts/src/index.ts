export { createTtsApp, type TtsApp, type TtsDeps } from './app.ts';
export { loadTtsConfig, parseVoiceMap, ttsEnvSchema, type TtsConfig } from './config.ts';
export { createAzureProvider, buildSsml, type AzureOptions } from './azure.ts';

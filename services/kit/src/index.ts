export { ConfigError, env, loadConfig, SERVICE_NAMES, SHARED_KEYS } from './config.ts';
export { createLogger, REDACTED_PATHS, type Logger } from './logger.ts';
export { createHttpApp, type HealthOptions } from './http.ts';
export { closeServiceMqttClient, createServiceMqttClient, type MqttSession, type MqttSettings } from './mqtt.ts';
export { createRuntime, type Runtime, type RuntimeOptions, type Service } from './runtime.ts';
export { runMain, type MainOptions } from './main.ts';
export { dataDirSetting, mqttSettingsSchema, mqttSettingsFrom, serviceDataDir } from './shared-config.ts';
export { loadDataFile, readSmallFile } from './files.ts';
export { openDatabase } from './sqlite.ts';

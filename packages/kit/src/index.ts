export { ConfigError, env, loadConfig, SERVICE_NAMES, SHARED_KEYS } from './config.ts';
export { createLogger, REDACTED_PATHS, type Logger } from './logger.ts';
export { createHttpApp, httpRoutes, isLoopbackHost, JSON_BODY_LIMIT, type HealthOptions, type HttpAccess, type HttpRoute } from './http.ts';
export { closeServiceMqttClient, createServiceMqttClient, type MqttSession, type MqttSettings } from './mqtt.ts';
export { createRuntime, type Runtime, type RuntimeOptions, type Service } from './runtime.ts';
export { runMain, type MainOptions } from './main.ts';
export {
  dataDirSetting,
  httpAccessSettingsSchema,
  httpSettingsFrom,
  mqttSettingsSchema,
  mqttSettingsFrom,
  serviceDataDir,
  type HttpSettings,
} from './shared-config.ts';
export { loadDataFile, readSmallFile, whyUnreadable, writeFileAtomic } from './files.ts';
export { MAX_ZONE_OVERRIDES, MAX_ZONES_FILE_BYTES, ZoneOverrides, ZonesFileError, zonesFileSchema, type ZoneOverride } from './zone-overrides.ts';
export { ensureSecretFile } from './secret-file.ts';
export { openDatabase } from './sqlite.ts';
export { BoundedMap, type BoundedMapOptions, type EvictionReason } from './bounded-map.ts';
export { httpPortOf, SERVICES, type ServiceName } from './services.ts';
export { DEFAULT_SCRYPT, generatePassword, hashPassword, parseHash, verifyAgainstDummy, verifyPassword, type ScryptParams } from './passwords.ts';
export { readPassword } from './password-input.ts';

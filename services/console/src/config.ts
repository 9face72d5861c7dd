import path from 'node:path';
import { z } from 'zod';
import {
  ConfigError,
  dataDirSetting,
  env,
  httpAccessSettingsSchema,
  httpPortOf,
  httpSettingsFrom,
  loadConfig,
  mqttSettingsFrom,
  mqttSettingsSchema,
  serviceDataDir,
  SERVICES,
  type HttpSettings,
  type MqttSettings,
  type ServiceName,
} from '@sightline/kit';

/** The services whose HTTP APIs the console's backend calls (everything Sightline runs but itself). */
export const UPSTREAMS = SERVICES.map((s) => s.name).filter((name): name is Exclude<ServiceName, 'console'> => name !== 'console');
export type Upstream = (typeof UPSTREAMS)[number];

/** Services that run only where they are set up (the uplink needs an upstream): listed only when SIGHTLINE_CONSOLE_SERVICES names them. */
const LISTED_WHEN_NAMED: readonly Upstream[] = ['uplink'];

const upstreamList = z
  .string()
  .default('')
  .transform((value, ctx) => {
    const urls: Partial<Record<Upstream, string>> = {};
    for (const entry of value
      .split(',')
      .map((e) => e.trim())
      .filter((e) => e !== '')) {
      const match = /^([a-z]+)=(https?:\/\/[^\s,]+)$/.exec(entry);
      if (!match || !(UPSTREAMS as readonly string[]).includes(match[1]!)) {
        ctx.addIssue({ code: 'custom', message: `"${entry.slice(0, 80)}": must be name=http://host:port with a name among ${UPSTREAMS.join(', ')}` });
        continue;
      }
      urls[match[1] as Upstream] = match[2]!.replace(/\/+$/, '');
    }
    return urls;
  });

export const consoleEnvSchema = z.strictObject({
  ...mqttSettingsSchema,
  ...httpAccessSettingsSchema,
  ...dataDirSetting,
  SIGHTLINE_CONSOLE_HTTP_HOST: env.host('127.0.0.1'),
  SIGHTLINE_CONSOLE_HTTP_PORT: env.port(httpPortOf('console')),
  SIGHTLINE_CONSOLE_USERS_FILE: env.optionalString().describe('JSON file of console accounts (default <data>/console/users.json)'),
  SIGHTLINE_CONSOLE_PROVISION_ADMIN_FILE: env
    .optionalString()
    .describe('with no accounts yet, make an operator "admin" with a random password written to this file (mode 0600)'),
  SIGHTLINE_CONSOLE_SECURE_COOKIE: env.bool(true).describe('mark the session cookie Secure (browsers keep it on http://localhost and https only)'),
  SIGHTLINE_CONSOLE_SESSION_IDLE_MINUTES: env.int(30, 1, 24 * 60),
  SIGHTLINE_CONSOLE_SESSION_MAX_HOURS: env.int(12, 1, 24 * 30),
  SIGHTLINE_CONSOLE_SERVICES: upstreamList.describe('where the services answer HTTP, name=url,... (default http://127.0.0.1:<its port>)'),
});
export type ConsoleEnv = z.infer<typeof consoleEnvSchema>;

export interface ConsoleConfig {
  logLevel: string;
  mqtt: MqttSettings;
  http: HttpSettings;
  dataDir: string;
  usersFile: string;
  provisionAdminFile: string | null;
  secureCookie: boolean;
  sessionIdleMs: number;
  sessionMaxMs: number;
  /** Base URL of each service's HTTP API. */
  upstreams: Record<Upstream, string>;
  /** The services the Services page lists: every one, but those only set up in some places unless named. */
  listed: Upstream[];
  /** The bearer token the services require (the shared SIGHTLINE_HTTP_TOKEN), or null. */
  upstreamToken: string | null;
}

export function loadConsoleConfig(environment: NodeJS.ProcessEnv = process.env): ConsoleConfig {
  const settings = loadConfig('console', consoleEnvSchema, environment);
  const dataDir = serviceDataDir(settings, 'console');
  const http = httpSettingsFrom('console', { host: settings.SIGHTLINE_CONSOLE_HTTP_HOST, port: settings.SIGHTLINE_CONSOLE_HTTP_PORT }, settings);
  if (!settings.SIGHTLINE_CONSOLE_SECURE_COOKIE && http.host !== '127.0.0.1' && http.host !== 'localhost' && http.host !== '::1') {
    throw new ConfigError('console', [
      'SIGHTLINE_CONSOLE_SECURE_COOKIE=false is only for loopback: beyond it the session cookie must be Secure (serve over https)',
    ]);
  }
  const upstreams = Object.fromEntries(
    UPSTREAMS.map((name) => [name, settings.SIGHTLINE_CONSOLE_SERVICES[name] ?? `http://127.0.0.1:${httpPortOf(name)}`]),
  ) as Record<Upstream, string>;
  return {
    logLevel: settings.SIGHTLINE_LOG_LEVEL,
    mqtt: mqttSettingsFrom(settings),
    http,
    dataDir,
    usersFile: settings.SIGHTLINE_CONSOLE_USERS_FILE ?? path.join(dataDir, 'users.json'),
    provisionAdminFile: settings.SIGHTLINE_CONSOLE_PROVISION_ADMIN_FILE ?? null,
    secureCookie: settings.SIGHTLINE_CONSOLE_SECURE_COOKIE,
    sessionIdleMs: settings.SIGHTLINE_CONSOLE_SESSION_IDLE_MINUTES * 60_000,
    sessionMaxMs: settings.SIGHTLINE_CONSOLE_SESSION_MAX_HOURS * 3_600_000,
    upstreams,
    listed: UPSTREAMS.filter((name) => !LISTED_WHEN_NAMED.includes(name) || settings.SIGHTLINE_CONSOLE_SERVICES[name] !== undefined),
    upstreamToken: settings.SIGHTLINE_HTTP_TOKEN ?? null,
  };
}

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { SERVICES } from './services.ts';
import { idSchema } from '@sightline/schemas';

/**
 * Environment configuration. Every Sightline setting is an environment variable named
 * `SIGHTLINE_...`. A service validates the ones it knows with a strict zod object; one it does not
 * know is refused (a typo must not be silently ignored), unless it plainly belongs to another
 * service (`SIGHTLINE_<OTHER>_...`) or is one of the settings all services share, so one
 * environment can feed the whole stack. `NAME_FILE` reads the value of `NAME` from a file
 * (Docker/Kubernetes secrets).
 */

/** Every settings prefix: the services, and the stack that runs them. */
export const SERVICE_NAMES = [...SERVICES.map((service) => service.name), 'stack'] as const;

/** Settings every service understands (or may ignore without complaint). */
export const SHARED_KEYS = [
  'SIGHTLINE_LOG_LEVEL',
  'SIGHTLINE_TOPIC_PREFIX',
  'SIGHTLINE_MQTT_URL',
  'SIGHTLINE_MQTT_USERNAME',
  'SIGHTLINE_MQTT_PASSWORD',
  'SIGHTLINE_MQTT_CA',
  'SIGHTLINE_DATA_DIR',
  'SIGHTLINE_HTTP_ALLOWED_HOSTS',
  'SIGHTLINE_HTTP_TOKEN',
  // Which service a container of the one image runs (infra/containers/run.ts).
  'SIGHTLINE_SERVICE',
] as const;

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(service: string, problems: string[]) {
    super(`${service}: invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function loadConfig<S extends z.ZodObject>(service: string, schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const known = new Set(Object.keys(schema.shape));
  const ownPrefix = `SIGHTLINE_${service.toUpperCase()}_`;
  const otherPrefixes = SERVICE_NAMES.filter((s) => s !== service).map((s) => `SIGHTLINE_${s.toUpperCase()}_`);
  const problems: string[] = [];
  const input: Record<string, string> = {};

  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith('SIGHTLINE_') || value === undefined) continue;
    const base = !known.has(key) && key.endsWith('_FILE') ? key.slice(0, -'_FILE'.length) : key;
    if (known.has(base)) {
      if (base === key) {
        if (!(base in input)) input[base] = value;
      } else if (env[base] !== undefined) {
        problems.push(`${base} and ${key} are both set: use one`);
      } else {
        try {
          input[base] = readFileSync(value, 'utf8').trim();
        } catch (err) {
          problems.push(`${key}: cannot read ${value}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
      }
      continue;
    }
    if ((SHARED_KEYS as readonly string[]).includes(base)) continue;
    if (!key.startsWith(ownPrefix) && otherPrefixes.some((prefix) => key.startsWith(prefix))) continue;
    problems.push(`${key}: unknown setting for ${service}`);
  }

  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path.length > 0 ? issue.path.map(String).join('.') : '(config)';
      const shown = key in input && !/PASSWORD|SECRET|KEY|TOKEN/.test(key) ? ` (got ${JSON.stringify(input[key])})` : '';
      problems.push(`${key}: ${issue.message}${shown}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(service, problems);
  return parsed.data as z.infer<S>;
}

/** Helpers for string-valued environment settings. */
export const env = {
  port: (fallback: number) =>
    z.coerce.number({ error: 'must be a port number' }).int('must be a whole number').min(0, 'must be 0-65535').max(65535, 'must be 0-65535').default(fallback),
  int: (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
    z.coerce
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .min(min, `must be at least ${min}`)
      .max(max, `must be at most ${max}`)
      .default(fallback),
  number: (fallback: number, min = -Infinity, max = Infinity) =>
    z.coerce.number({ error: 'must be a number' }).min(min, `must be at least ${min}`).max(max, `must be at most ${max}`).default(fallback),
  bool: (fallback: boolean) =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
      .default(fallback ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  string: (fallback: string) => z.string().min(1, 'must not be empty').default(fallback),
  optionalString: () => z.string().min(1, 'must not be empty').optional(),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  host: (fallback: string) => z.string().min(1, 'must not be empty').default(fallback),
  /** A comma-separated list of ids (cameras, lanes, services): each checked, repeats dropped; absent when unset. */
  idList: (what: string, max = 4096) =>
    z
      .string()
      .transform((text, ctx) => {
        const ids = [
          ...new Set(
            text
              .split(',')
              .map((id) => id.trim())
              .filter((id) => id !== ''),
          ),
        ];
        if (ids.length === 0) ctx.addIssue({ code: 'custom', message: `lists no ${what}; leave it unset instead` });
        if (ids.length > max) ctx.addIssue({ code: 'custom', message: `lists ${ids.length} ${what}s; at most ${max}` });
        for (const id of ids) {
          const parsed = idSchema.safeParse(id);
          if (!parsed.success)
            ctx.addIssue({ code: 'custom', message: `${JSON.stringify(id)} is not a ${what} id: ${parsed.error.issues[0]?.message ?? 'invalid'}` });
        }
        return ids;
      })
      .optional(),
};

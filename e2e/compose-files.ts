import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const root = join(import.meta.dirname, '..');

/**
 * The compose services as `docker compose -f compose.yaml -f compose.uplink.yaml` sees them: the
 * stack, plus the uplink, which has its own file because it needs an upstream to exist. `${NAME}`
 * and `${NAME:-default}` are filled from `variables`, as compose fills them from the environment.
 */
export function composeServices<T>(variables: Record<string, string> = {}): Record<string, T> {
  const services: Record<string, T> = {};
  for (const file of ['compose.yaml', 'compose.uplink.yaml']) {
    const text = readFileSync(join(root, file), 'utf8').replace(
      /\$\{([A-Z0-9_]+)(?::-([^}]*))?\}/g,
      (_match, name: string, fallback: string | undefined) => variables[name] ?? fallback ?? '',
    );
    const compose = parse(text, { merge: true }) as { services: Record<string, T> };
    Object.assign(services, compose.services);
  }
  return services;
}

/**
 * The house rules the layout stands on: libraries (schemas/, packages/) apart from deployables
 * (services/), and no deployable reaching into another. A service that needs another's code is
 * asking for a library.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { SERVICES } from '@sightline/kit';
import { composeServices } from './compose-files.ts';

const root = join(import.meta.dirname, '..');
const services = readdirSync(join(root, 'services')).filter((name) => statSync(join(root, 'services', name)).isDirectory());
const packageNames = new Map(services.map((name) => [JSON.parse(readFileSync(join(root, 'services', name, 'package.json'), 'utf8')).name as string, name]));

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (/\.(ts|js|mjs)$/.test(entry.name)) out.push(path);
  }
  return out;
}

/** Every module specifier a file imports or re-exports (static and dynamic). */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(match[1] ?? match[2]!);
  return found;
}

/** The service a specifier lands in, if any: by package name or by a path into services/. */
function serviceOf(specifier: string, from: string): string | null {
  const name = /^(@sightline\/[^/]+)/.exec(specifier)?.[1];
  if (name !== undefined) return packageNames.get(name) ?? null;
  if (!specifier.startsWith('.')) return null;
  const target = relative(join(root, 'services'), join(from, '..', specifier));
  if (target.startsWith('..')) return null;
  return target.split(/[\\/]/)[0] ?? null;
}

test('no service imports another service, and no library imports a service', () => {
  const offences: string[] = [];
  for (const service of services) {
    for (const file of sources(join(root, 'services', service))) {
      for (const specifier of imports(file)) {
        const other = serviceOf(specifier, file);
        if (other !== null && other !== service) offences.push(`${relative(root, file)} imports ${specifier} (service ${other})`);
      }
    }
  }
  for (const library of ['schemas', 'packages', 'infra']) {
    for (const file of sources(join(root, library))) {
      for (const specifier of imports(file)) {
        const other = serviceOf(specifier, file);
        if (other !== null) offences.push(`${relative(root, file)} imports ${specifier} (service ${other})`);
      }
    }
  }
  assert.deepEqual(offences, []);
});

test('the import scan sees what it must: a package import, a path into another service, a dynamic import', () => {
  const from = join(root, 'services', 'speaker', 'src', 'x.ts');
  assert.equal(serviceOf('@sightline/tts', from), 'tts');
  assert.equal(serviceOf('@sightline/tts/src/espeak.ts', from), 'tts');
  assert.equal(serviceOf('../../tts/src/espeak.ts', from), 'tts');
  assert.equal(serviceOf('./player.ts', from), 'speaker');
  assert.equal(serviceOf('@sightline/kit', from), null);
  assert.equal(serviceOf('node:fs', from), null);
  const file = join(root, 'services', 'speaker', 'package.json');
  assert.ok(imports(join(root, 'e2e', 'layout.test.ts')).includes('node:fs'));
  assert.ok(statSync(file).isFile());
});

test('compose.yaml (with compose.uplink.yaml) runs every service of the one list, on its port, after the services it needs', () => {
  const compose = {
    services: composeServices<{
      ports?: string[];
      healthcheck?: { test?: string[] };
      depends_on?: Record<string, unknown>;
      environment?: Record<string, unknown>;
    }>(),
  };
  const problems: string[] = [];
  for (const service of SERVICES) {
    const entry = compose.services[service.name];
    if (entry === undefined) {
      problems.push(`${service.name}: missing from compose.yaml`);
      continue;
    }
    const port = String(service.httpPort);
    if (!(entry.ports ?? []).includes(`127.0.0.1:${port}:${port}`)) problems.push(`${service.name}: HTTP port ${port} not published on loopback`);
    if (!(entry.healthcheck?.test ?? []).join(' ').includes(`127.0.0.1:${port}/readyz`))
      problems.push(`${service.name}: health check does not ask :${port}/readyz`);
    const needs = Object.keys(entry.depends_on ?? {}).sort();
    if (needs.join(',') !== [...service.needs].sort().join(','))
      problems.push(`${service.name}: depends on ${needs.join(',') || 'nothing'}, needs ${service.needs.join(',') || 'nothing'}`);
  }
  const extra = Object.keys(compose.services).filter((name) => !SERVICES.some((service) => service.name === name));
  if (extra.length > 0) problems.push(`in compose.yaml but not in the list: ${extra.join(', ')}`);
  assert.deepEqual(problems, []);
  // The stack starts each service after what it needs.
  const order = SERVICES.map((service) => service.name as string);
  for (const service of SERVICES)
    for (const need of service.needs) assert.ok(order.indexOf(need) < order.indexOf(service.name), `${service.name} starts before ${need}`);
});

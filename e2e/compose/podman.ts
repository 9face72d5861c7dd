/**
 * The compose stack as `pnpm test:compose` runs it: compose.yaml with e2e/compose/ci.compose.yaml
 * laid over it, under its own project name (never a developer's stack, whose volumes `down -v`
 * would delete), driven through Debian's podman-compose and podman.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { httpPortOf, type ServiceName } from '@sightline/kit';
import { COMPOSE_PATH } from '../../infra/iot-edge/generate.ts';
import { parseCompose } from '../../infra/iot-edge/manifest.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');

export const PROJECT = process.env.SIGHTLINE_COMPOSE_PROJECT ?? 'sightline-ci';
const FILES = ['-f', COMPOSE_PATH, '-f', join(import.meta.dirname, 'ci.compose.yaml')];

/** The services compose.yaml runs (the kit's list may hold more, started only outside compose). */
export const composeServices = Object.keys(parseCompose(readFileSync(COMPOSE_PATH, 'utf8'))) as ServiceName[];

/** `podman-compose <args>` on the stack; `media` is the folder capture plays its video from. */
export async function compose(args: string[], media: string): Promise<void> {
  await run('podman-compose', ['-p', PROJECT, ...FILES, ...args], {
    cwd: root,
    env: { ...process.env, SIGHTLINE_COMPOSE_MEDIA: media },
    maxBuffer: 16 * 1024 * 1024,
  });
}

/** The stack's containers that run, by name. */
export async function runningContainers(): Promise<string[]> {
  const { stdout } = await run('podman', ['ps', '--filter', `label=io.podman.compose.project=${PROJECT}`, '--format', '{{.Names}}']);
  return stdout.split('\n').filter((name) => name !== '');
}

/** The container of a service (podman-compose labels them as Docker Compose does). */
async function containerOf(service: ServiceName): Promise<string> {
  const { stdout } = await run('podman', [
    'ps',
    '--filter',
    `label=io.podman.compose.project=${PROJECT}`,
    '--filter',
    `label=com.docker.compose.service=${service}`,
    '--format',
    '{{.Names}}',
  ]);
  const name = stdout.split('\n')[0];
  if (!name) throw new Error(`no running container of ${service} in project ${PROJECT}`);
  return name;
}

/** How podman runs each of the stack's containers: its limits and root filesystem. */
export interface Confinement {
  service: ServiceName;
  memory: number;
  nanoCpus: number;
  readOnly: boolean;
}

export async function confinements(): Promise<Confinement[]> {
  const names = await runningContainers();
  const { stdout } = await run('podman', ['inspect', ...names], { maxBuffer: 16 * 1024 * 1024 });
  type Inspected = { Config: { Labels: Record<string, string> }; HostConfig: { Memory: number; NanoCpus: number; ReadonlyRootfs: boolean } };
  return (JSON.parse(stdout) as Inspected[]).map((c) => ({
    service: c.Config.Labels['com.docker.compose.service'] as ServiceName,
    memory: c.HostConfig.Memory,
    nanoCpus: c.HostConfig.NanoCpus,
    readOnly: c.HostConfig.ReadonlyRootfs,
  }));
}

/** A file inside a service's container, as bytes (read by the container's own user). */
export async function readInContainer(service: ServiceName, file: string): Promise<Buffer> {
  const { stdout } = await run('podman', ['exec', await containerOf(service), 'cat', file], { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** Creates an empty file inside a service's container (as the container's user). */
export async function touchInContainer(service: ServiceName, file: string): Promise<void> {
  await run('podman', ['exec', await containerOf(service), 'touch', file]);
}

/** The names in a folder inside a service's container. */
export async function listInContainer(service: ServiceName, dir: string): Promise<string[]> {
  const { stdout } = await run('podman', ['exec', await containerOf(service), 'ls', '-1', dir]);
  return stdout.split('\n').filter((name) => name !== '');
}

/** The HTTP base URL of a service on the host (compose publishes every port on loopback). */
export function serviceUrl(service: ServiceName): string {
  return `http://127.0.0.1:${httpPortOf(service)}`;
}

/** Waits until every service answers ready on its published port. */
export async function waitReady(timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  const pending = new Set(composeServices);
  while (pending.size > 0) {
    for (const service of pending) {
      const ok = await fetch(`${serviceUrl(service)}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
        (response) => response.ok,
        () => false,
      );
      if (ok) pending.delete(service);
    }
    if (pending.size === 0) return;
    if (Date.now() > until) throw new Error(`not ready after ${timeoutMs / 1000} s: ${[...pending].join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

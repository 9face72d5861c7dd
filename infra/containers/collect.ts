/**
 * Used inside the Dockerfile's build stage: `package <service>` prints the workspace package of a
 * service (for `pnpm install --filter`); `deps <service> <out>` copies into <out> the root
 * package.json and node_modules as installed for that service; `app <service> <out>` copies the
 * workspace folders it depends on, kept where they are in the repository (Node strips types only
 * outside node_modules, so the workspace layout must stay as it is). Dependencies and sources are
 * apart so that an image's dependency layer survives a source edit. `deps` needs only the
 * package.json files, so it runs before the sources are copied in.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICES } from '../../packages/kit/src/services.ts';

const root = join(import.meta.dirname, '..', '..');

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
}

/** Every workspace folder by package name (the folders pnpm-workspace.yaml lists). */
function workspaces(): Map<string, string> {
  const dirs = ['schemas', 'infra', 'e2e'];
  for (const parent of ['packages', 'services']) for (const name of readdirSync(join(root, parent))) dirs.push(`${parent}/${name}`);
  const byName = new Map<string, string>();
  for (const dir of dirs) {
    const file = join(root, dir, 'package.json');
    if (existsSync(file)) byName.set((JSON.parse(readFileSync(file, 'utf8')) as Manifest).name, dir);
  }
  return byName;
}

/** The folder of the workspace package that holds `dir` (infra/azurite lives in the infra package). */
function packageDirOf(dir: string, byName: Map<string, string>): string {
  const dirs = [...byName.values()].filter((candidate) => dir === candidate || dir.startsWith(`${candidate}/`));
  const found = dirs.sort((a, b) => b.length - a.length)[0];
  if (found === undefined) throw new Error(`no workspace package holds ${dir}`);
  return found;
}

/** The package's folder and every workspace folder it depends on, at run time. */
function closure(start: string, byName: Map<string, string>): string[] {
  const seen = new Set<string>();
  const visit = (dir: string) => {
    if (seen.has(dir)) return;
    seen.add(dir);
    const manifest = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as Manifest;
    for (const [name, version] of Object.entries(manifest.dependencies ?? {})) {
      if (!version.startsWith('workspace:')) continue;
      const dep = byName.get(name);
      if (dep === undefined) throw new Error(`${manifest.name} depends on ${name}, which is not in the workspace`);
      visit(dep);
    }
  };
  visit(start);
  return [...seen].sort();
}

const [command, serviceName, out] = process.argv.slice(2);
const service = SERVICES.find((s) => s.name === serviceName);
if (service === undefined) {
  process.stderr.write(`unknown service ${JSON.stringify(serviceName)}: one of ${SERVICES.map((s) => s.name).join(', ')}\n`);
  process.exit(2);
}
const byName = workspaces();
const packageDir = packageDirOf(service.dir, byName);
const packageName = [...byName].find(([, dir]) => dir === packageDir)![0];

if (command === 'package') {
  process.stdout.write(`${packageName}\n`);
} else if (command === 'deps' && out !== undefined) {
  mkdirSync(out, { recursive: true });
  cpSync(join(root, 'package.json'), join(out, 'package.json'));
  cpSync(join(root, 'node_modules'), join(out, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  // onnxruntime-node ships binaries for every platform; the images are Linux.
  for (const entry of readdirSync(join(out, 'node_modules', '.pnpm')).filter((name) => name.startsWith('onnxruntime-node@'))) {
    const bin = join(out, 'node_modules', '.pnpm', entry, 'node_modules', 'onnxruntime-node', 'bin');
    if (!existsSync(bin)) continue;
    for (const napi of readdirSync(bin)) for (const platform of ['darwin', 'win32']) rmSync(join(bin, napi, platform), { recursive: true, force: true });
  }
} else if (command === 'app' && out !== undefined) {
  const skip = new Set(['test', 'bench', 'check', '.data']);
  for (const dir of [...closure(packageDir, byName), 'infra/containers']) {
    cpSync(join(root, dir), join(out, dir), {
      recursive: true,
      verbatimSymlinks: true,
      filter: (source) =>
        !source
          .slice(join(root, dir).length)
          .split('/')
          .some((part) => skip.has(part)),
    });
  }
  process.stdout.write(`${service.name}: ${closure(packageDir, byName).join(', ')}\n`);
} else {
  process.stderr.write('usage: collect.ts package <service> | deps <service> <out> | app <service> <out>\n');
  process.exit(2);
}

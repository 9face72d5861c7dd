import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '@sightline/kit';
import { CONVERTER_NAME, CONVERTER_VERSION, convertTfjsToOnnx, OPSET, parseTfjsGraphModel, type TfjsModelFiles } from '@sightline/tfjs-onnx';

/**
 * A model that ships as TF.js files inside an npm package and is converted to ONNX at first use,
 * then cached with its provenance: the default detector and the product recognition backbone.
 */
export interface BuiltinModelSpec {
  name: string;
  description: string;
  packageName: string;
  upstream: { repository: string; licence: string };
  licenceNote: string;
  /** The TF.js files inside the installed package, and the package files they came from (for the hash). */
  read(packageDir: string): Promise<BuiltinFiles>;
  /** Graph outputs to convert (default: the model's signature). */
  outputs?: readonly string[];
  metadata?: Record<string, string>;
}

export interface BuiltinFiles {
  files: TfjsModelFiles;
  /** Paths relative to the package folder, with their bytes. */
  sources: Array<{ path: string; bytes: Uint8Array }>;
  generatedBy?: string;
  convertedBy?: string;
}

export interface ModelSource {
  packageName: string;
  packageVersion: string;
  /** The package's own licence (it may cover the packaging only, see the spec's licence note). */
  packageLicense: string;
  packageDir: string;
}

/** The folder and metadata of an installed package. */
export function locatePackage(packageName: string, why: string): ModelSource {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve(packageName);
  } catch (err) {
    throw new Error(`${packageName} is not installed; it carries ${why}`, { cause: err });
  }
  for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    let pkg: { name?: string; version?: string; license?: string };
    try {
      pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as typeof pkg;
    } catch {
      continue;
    }
    if (pkg.name !== packageName) continue;
    return { packageName: pkg.name, packageVersion: pkg.version ?? 'unknown', packageLicense: pkg.license ?? 'unknown', packageDir: dir };
  }
  throw new Error(`cannot find the package folder of ${packageName} above ${entry}`);
}

const fileSchema = z.object({ path: z.string(), bytes: z.number(), sha256: z.string() });

export const provenanceSchema = z.object({
  model: z.string(),
  description: z.string(),
  onnx: z.object({ file: z.string(), bytes: z.number(), sha256: z.string(), opset: z.number() }),
  source: z.object({
    package: z.object({ name: z.string(), version: z.string(), license: z.string() }),
    files: z.array(fileSchema),
    /** sha256 over the `sha256sum`-style lines of the files, in order. */
    sha256: z.string(),
    format: z.string(),
    generatedBy: z.string().optional(),
    convertedBy: z.string().optional(),
  }),
  upstream: z.object({ repository: z.string(), licence: z.string() }),
  converter: z.object({ name: z.string(), version: z.string() }),
  convertedAt: z.string(),
  licenceNote: z.string(),
});

export type Provenance = z.infer<typeof provenanceSchema>;

export interface PreparedModel {
  onnxPath: string;
  provenancePath: string;
  provenance: Provenance;
  /** True when this call converted the model (no cache, or the cache did not check out). */
  converted: boolean;
  /** Milliseconds spent converting (0 when the cache was used). */
  conversionMs: number;
}

export interface EnsureModelOptions {
  source?: ModelSource;
  log?: (msg: string) => void;
  now?: () => Date;
}

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

async function readProvenance(file: string): Promise<Provenance | null> {
  try {
    const parsed = provenanceSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Why the cached ONNX cannot be used, or null when it matches its provenance byte for byte. */
async function cacheProblem(onnxPath: string, provenance: Provenance | null, sourceSha: string): Promise<string | null> {
  if (!provenance) return 'no readable provenance.json';
  if (provenance.onnx.file !== path.basename(onnxPath)) return `provenance.json describes ${provenance.onnx.file}`;
  if (provenance.source.sha256 !== sourceSha) return 'the source model changed';
  if (provenance.converter.version !== CONVERTER_VERSION) return `converted by converter ${provenance.converter.version}, now ${CONVERTER_VERSION}`;
  let bytes: Buffer;
  try {
    bytes = await readFile(onnxPath);
  } catch {
    return 'no cached ONNX file';
  }
  if (sha256(bytes) !== provenance.onnx.sha256) return 'the cached ONNX file is corrupt (sha256 differs from provenance.json)';
  return null;
}

/**
 * Returns the model as ONNX in `<dir>/<name>-<sha256 prefix>.onnx` with `<dir>/provenance.json`,
 * converting it from the package's TF.js files when the cache is missing, stale or corrupt. Files
 * are written under temporary names and renamed, ONNX first, so a crash leaves nothing that passes
 * the check.
 */
export async function ensureBuiltinModel(dir: string, spec: BuiltinModelSpec, options: EnsureModelOptions = {}): Promise<PreparedModel> {
  const source = options.source ?? locatePackage(spec.packageName, `the ${spec.name} model files`);
  const log = options.log ?? (() => {});
  const { files, sources, generatedBy, convertedBy } = await spec.read(source.packageDir);
  const sourceFiles = sources.map((f) => ({ path: f.path, bytes: f.bytes.byteLength, sha256: sha256(f.bytes) }));
  const sourceSha = sha256(Buffer.from(sourceFiles.map((f) => `${f.sha256}  ${f.path}\n`).join('')));

  const onnxPath = path.join(dir, `${spec.name}-${sourceSha.slice(0, 16)}.onnx`);
  const provenancePath = path.join(dir, 'provenance.json');
  const cached = await readProvenance(provenancePath);
  const problem = await cacheProblem(onnxPath, cached, sourceSha);
  if (problem === null && cached) return { onnxPath, provenancePath, provenance: cached, converted: false, conversionMs: 0 };

  log(`converting ${source.packageName}@${source.packageVersion} ${spec.name} to ONNX: ${problem}`);
  const started = performance.now();
  const result = convertTfjsToOnnx(parseTfjsGraphModel(files), {
    graphName: spec.name,
    ...(spec.outputs ? { outputs: spec.outputs } : {}),
    metadata: {
      source_sha256: sourceSha,
      source_package: `${source.packageName}@${source.packageVersion}`,
      upstream: spec.upstream.repository,
      ...spec.metadata,
    },
  });
  const conversionMs = performance.now() - started;
  const provenance: Provenance = {
    model: spec.name,
    description: spec.description,
    onnx: { file: path.basename(onnxPath), bytes: result.onnx.byteLength, sha256: result.sha256, opset: OPSET },
    source: {
      package: { name: source.packageName, version: source.packageVersion, license: source.packageLicense },
      files: sourceFiles,
      sha256: sourceSha,
      format: 'tfjs graph-model',
      ...(generatedBy ? { generatedBy } : {}),
      ...(convertedBy ? { convertedBy } : {}),
    },
    upstream: spec.upstream,
    converter: { name: CONVERTER_NAME, version: CONVERTER_VERSION },
    convertedAt: (options.now ?? (() => new Date()))().toISOString(),
    licenceNote: spec.licenceNote,
  };
  await mkdir(dir, { recursive: true });
  writeFileAtomic(onnxPath, result.onnx);
  writeFileAtomic(provenancePath, `${JSON.stringify(provenance, null, 2)}\n`);
  return { onnxPath, provenancePath, provenance, converted: true, conversionMs };
}

import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { z } from 'zod';
import { CONVERTER_NAME, CONVERTER_VERSION, convertTfjsToOnnx, OPSET, parseTfjsGraphModel, readTfjsModelFiles } from '@sightline/tfjs-onnx';
import { COCO_LABELS } from './coco-labels.ts';

export const DEFAULT_MODEL_PACKAGE = '@vladmandic/human';
export const UPSTREAM_REPOSITORY = 'https://github.com/610265158/mobilenetv3_centernet';
export const LICENCE_NOTE =
  'The weights were trained by the upstream repository, which states no licence. @vladmandic/human ' +
  'redistributes them in its MIT-licensed npm package, but that licence covers the package, not rights the ' +
  'upstream author never granted. Good for development and evaluation; before shipping it in a product, get ' +
  'permission or swap in a model with a clear licence.';

/** How the default model is fed and what comes out (names in the converted ONNX). */
export const DEFAULT_MODEL = Object.freeze({
  name: 'centernet',
  description: 'CenterNet object detector, MobileNetV3 backbone, COCO 80 classes',
  input: { name: 'tower_0/images', width: 512, height: 512, layout: 'NHWC', range: '0..255 RGB float32' },
  outputs: { heatmaps: 'tower_0/keypoints', sizes: 'tower_0/wh', detections: 'tower_0/detections' },
  labels: COCO_LABELS,
});

export interface ModelSource {
  packageName: string;
  packageVersion: string;
  /** The package's own licence (it covers the packaging, see LICENCE_NOTE). */
  packageLicense: string;
  packageDir: string;
  /** Absolute path of model.json; its weight shards sit next to it. */
  modelJson: string;
}

/** The centernet files inside the installed @vladmandic/human package. */
export function locateDefaultModel(): ModelSource {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve(DEFAULT_MODEL_PACKAGE);
  } catch (err) {
    throw new Error(`${DEFAULT_MODEL_PACKAGE} is not installed; it carries the default model files`, { cause: err });
  }
  for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    let pkg: { name?: string; version?: string; license?: string };
    try {
      pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as typeof pkg;
    } catch {
      continue;
    }
    if (pkg.name !== DEFAULT_MODEL_PACKAGE) continue;
    return {
      packageName: pkg.name,
      packageVersion: pkg.version ?? 'unknown',
      packageLicense: pkg.license ?? 'unknown',
      packageDir: dir,
      modelJson: path.join(dir, 'models', 'centernet.json'),
    };
  }
  throw new Error(`cannot find the package folder of ${DEFAULT_MODEL_PACKAGE} above ${entry}`);
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

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

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

async function writeAtomically(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Returns the default model as ONNX in `<dataDir>/models/centernet-<sha256 prefix>.onnx`, converting it
 * from the TF.js files of @vladmandic/human when the cache is missing, stale or corrupt. Files are written
 * under temporary names and renamed, ONNX first, so a crash leaves nothing that passes the check.
 */
export async function ensureDefaultModel(dataDir: string, options: EnsureModelOptions = {}): Promise<PreparedModel> {
  const source = options.source ?? locateDefaultModel();
  const log = options.log ?? (() => {});
  const files = await readTfjsModelFiles(source.modelJson);
  const modelDir = path.dirname(source.modelJson);
  const json = JSON.parse(Buffer.from(files.modelJson).toString('utf8')) as {
    weightsManifest?: Array<{ paths: string[] }>;
    generatedBy?: string;
    convertedBy?: string;
  };
  const listed = [
    { name: path.basename(source.modelJson), bytes: Buffer.from(files.modelJson) },
    ...(json.weightsManifest ?? []).flatMap((g, gi) => g.paths.map((p, pi) => ({ name: p, bytes: files.shards[gi]![pi]! }))),
  ];
  const sourceFiles = listed.map((f) => ({
    path: path.relative(source.packageDir, path.join(modelDir, f.name)).split(path.sep).join('/'),
    bytes: f.bytes.byteLength,
    sha256: sha256(f.bytes),
  }));
  const sourceSha = sha256(Buffer.from(sourceFiles.map((f) => `${f.sha256}  ${f.path}\n`).join('')));

  const dir = path.join(dataDir, 'models');
  const onnxPath = path.join(dir, `${DEFAULT_MODEL.name}-${sourceSha.slice(0, 16)}.onnx`);
  const provenancePath = path.join(dir, 'provenance.json');
  const cached = await readProvenance(provenancePath);
  const problem = await cacheProblem(onnxPath, cached, sourceSha);
  if (problem === null && cached) return { onnxPath, provenancePath, provenance: cached, converted: false, conversionMs: 0 };

  log(`converting ${source.packageName}@${source.packageVersion} ${DEFAULT_MODEL.name} to ONNX: ${problem}`);
  const started = performance.now();
  const result = convertTfjsToOnnx(parseTfjsGraphModel(files), {
    graphName: DEFAULT_MODEL.name,
    metadata: {
      source_sha256: sourceSha,
      source_package: `${source.packageName}@${source.packageVersion}`,
      upstream: UPSTREAM_REPOSITORY,
      labels: JSON.stringify(DEFAULT_MODEL.labels),
    },
  });
  const conversionMs = performance.now() - started;
  const provenance: Provenance = {
    model: DEFAULT_MODEL.name,
    description: DEFAULT_MODEL.description,
    onnx: { file: path.basename(onnxPath), bytes: result.onnx.byteLength, sha256: result.sha256, opset: OPSET },
    source: {
      package: { name: source.packageName, version: source.packageVersion, license: source.packageLicense },
      files: sourceFiles,
      sha256: sourceSha,
      format: 'tfjs graph-model',
      ...(json.generatedBy ? { generatedBy: json.generatedBy } : {}),
      ...(json.convertedBy ? { convertedBy: json.convertedBy } : {}),
    },
    upstream: { repository: UPSTREAM_REPOSITORY, licence: 'none stated' },
    converter: { name: CONVERTER_NAME, version: CONVERTER_VERSION },
    convertedAt: (options.now ?? (() => new Date()))().toISOString(),
    licenceNote: LICENCE_NOTE,
  };
  await mkdir(dir, { recursive: true });
  await writeAtomically(onnxPath, result.onnx);
  await writeAtomically(provenancePath, `${JSON.stringify(provenance, null, 2)}\n`);
  return { onnxPath, provenancePath, provenance, converted: true, conversionMs };
}

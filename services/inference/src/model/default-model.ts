import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readTfjsModelFiles } from '@sightline/tfjs-onnx';
import { ensureBuiltinModel, locatePackage, type BuiltinModelSpec, type EnsureModelOptions, type ModelSource, type PreparedModel } from './builtin.ts';
import { COCO_LABELS } from './coco-labels.ts';

export { provenanceSchema, type EnsureModelOptions, type PreparedModel, type Provenance } from './builtin.ts';

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

const MODEL_JSON = path.join('models', 'centernet.json');

/** The centernet files inside the installed @vladmandic/human package. */
export function locateDefaultModel(): ModelSource & { modelJson: string } {
  const source = locatePackage(DEFAULT_MODEL_PACKAGE, 'the default model files');
  return { ...source, modelJson: path.join(source.packageDir, MODEL_JSON) };
}

const DEFAULT_MODEL_SPEC: BuiltinModelSpec = {
  name: DEFAULT_MODEL.name,
  description: DEFAULT_MODEL.description,
  packageName: DEFAULT_MODEL_PACKAGE,
  upstream: { repository: UPSTREAM_REPOSITORY, licence: 'none stated' },
  licenceNote: LICENCE_NOTE,
  metadata: { labels: JSON.stringify(DEFAULT_MODEL.labels) },
  async read(packageDir) {
    const modelJson = path.join(packageDir, MODEL_JSON);
    const files = await readTfjsModelFiles(modelJson);
    const json = JSON.parse(Buffer.from(files.modelJson).toString('utf8')) as {
      weightsManifest?: Array<{ paths: string[] }>;
      generatedBy?: string;
      convertedBy?: string;
    };
    const relative = (name: string) =>
      path
        .relative(packageDir, path.join(path.dirname(modelJson), name))
        .split(path.sep)
        .join('/');
    const sources = [
      { path: relative(path.basename(modelJson)), bytes: await readFile(modelJson) },
      ...(json.weightsManifest ?? []).flatMap((g, gi) => g.paths.map((p, pi) => ({ path: relative(p), bytes: files.shards[gi]![pi]! }))),
    ];
    return {
      files,
      sources,
      ...(json.generatedBy ? { generatedBy: json.generatedBy } : {}),
      ...(json.convertedBy ? { convertedBy: json.convertedBy } : {}),
    };
  },
};

/**
 * Returns the default model as ONNX in `<dataDir>/models/centernet-<sha256 prefix>.onnx`, converting it
 * from the TF.js files of @vladmandic/human when the cache is missing, stale or corrupt.
 */
export function ensureDefaultModel(dataDir: string, options: EnsureModelOptions = {}): Promise<PreparedModel> {
  return ensureBuiltinModel(path.join(dataDir, 'models'), DEFAULT_MODEL_SPEC, options);
}

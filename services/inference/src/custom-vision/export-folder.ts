import { readFile } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { OLD_LOSS_EXPORT_MESSAGE } from '../decoders/custom-vision-classification.ts';
import { CUSTOM_VISION_ANCHORS } from '../decoders/yolov2.ts';
import { modelDescriptorSchema, type DecoderSpec, type InputSpec, type ModelDescriptor } from '../model/descriptor.ts';

const { onnx } = onnxProto;

/** A Custom Vision export folder that cannot be used; the message names the file at fault. */
export class ExportFolderError extends Error {
  override name = 'ExportFolderError';
  readonly file: string;
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.file = file;
  }
}

export interface CustomVisionManifest {
  DomainType: string;
  Platform?: string;
  Flavor?: string;
  ModelFileName: string;
  LabelFileName: string;
  IterationId?: string;
  ExportedDate?: string;
  [key: string]: unknown;
}

export interface CustomVisionExport {
  descriptor: ModelDescriptor;
  manifest: CustomVisionManifest;
  labels: string[];
  /** Absolute path of the ONNX file. */
  modelPath: string;
}

export interface LoadExportOptions {
  /** Default: the folder's name, reduced to the characters a model id may hold. */
  id?: string;
  /** Default: the manifest's IterationId, else its ExportedDate, else "1". */
  version?: string;
}

export const MANIFEST_FILE = 'cvexport.manifest';

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ExportFolderError(file, code === 'ENOENT' ? 'missing from the export folder' : `cannot be read (${code ?? (err as Error).message})`);
  }
}

async function readManifest(dir: string): Promise<CustomVisionManifest> {
  const file = path.join(dir, MANIFEST_FILE);
  const text = await readText(file);
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new ExportFolderError(file, `not JSON (${(err as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new ExportFolderError(file, 'not a JSON object');
  const m = json as Record<string, unknown>;
  if (typeof m.DomainType !== 'string') throw new ExportFolderError(file, 'has no DomainType');
  if (m.Platform !== undefined && m.Platform !== 'ONNX')
    throw new ExportFolderError(file, `Platform is ${String(m.Platform)}; only ONNX exports are supported`);
  for (const key of ['ModelFileName', 'LabelFileName'] as const) {
    if (m[key] !== undefined && (typeof m[key] !== 'string' || m[key] === '' || path.basename(m[key]) !== m[key])) {
      throw new ExportFolderError(file, `${key} must be a file name in the folder`);
    }
  }
  return {
    ...m,
    DomainType: m.DomainType,
    ModelFileName: (m.ModelFileName as string | undefined) ?? 'model.onnx',
    LabelFileName: (m.LabelFileName as string | undefined) ?? 'labels.txt',
  };
}

interface GraphIo {
  name: string;
  /** 'tensor' with its dims (numbers, or null where symbolic/unknown), or another kind (sequence, map). */
  kind: 'tensor' | 'other';
  dims: Array<number | null> | null;
}

function ioOf(v: onnxProto.onnx.IValueInfoProto): GraphIo {
  const t = v.type?.tensorType;
  if (!t) return { name: v.name ?? '', kind: 'other', dims: null };
  const dims = t.shape?.dim?.map((d) => (d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0 ? Number(d.dimValue) : null)) ?? null;
  return { name: v.name ?? '', kind: 'tensor', dims };
}

async function readGraph(file: string): Promise<{ inputs: GraphIo[]; outputs: GraphIo[]; metadata: Map<string, string> }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ExportFolderError(file, code === 'ENOENT' ? 'missing from the export folder' : `cannot be read (${code})`);
  }
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new ExportFolderError(file, `not an ONNX model (${(err as Error).message})`);
  }
  const graph = model.graph;
  if (!graph || !model.irVersion || !graph.output?.length || !graph.input?.length)
    throw new ExportFolderError(file, 'not an ONNX model (no graph with inputs and outputs)');
  const initializers = new Set((graph.initializer ?? []).map((i) => i.name));
  return {
    inputs: graph.input.filter((i) => !initializers.has(i.name ?? '')).map(ioOf),
    outputs: graph.output.map(ioOf),
    metadata: new Map((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? ''])),
  };
}

function inputSpec(file: string, input: GraphIo, metadata: Map<string, string>, defaultChannels: 'RGB' | 'BGR', resize: InputSpec['resize']): InputSpec {
  const d = input.dims;
  if (input.kind !== 'tensor' || !d || d.length !== 4) throw new ExportFolderError(file, `input "${input.name}" is not an image tensor [1,3,H,W] or [1,H,W,3]`);
  let layout: InputSpec['layout'];
  let width: number | null;
  let height: number | null;
  if (d[1] === 3) [layout, height, width] = ['NCHW', d[2]!, d[3]!];
  else if (d[3] === 3) [layout, height, width] = ['NHWC', d[1]!, d[2]!];
  else throw new ExportFolderError(file, `input "${input.name}" has shape [${d.join(',')}], not 3 colour channels`);
  if (width === null || height === null) throw new ExportFolderError(file, `input "${input.name}" has no fixed width and height`);

  const format = metadata.get('Image.BitmapPixelFormat');
  let channels: InputSpec['channels'] = defaultChannels;
  if (format === 'Bgr8' || format === 'Bgra8') channels = 'BGR';
  else if (format === 'Rgb8' || format === 'Rgba8') channels = 'RGB';
  else if (format !== undefined) throw new ExportFolderError(file, `Image.BitmapPixelFormat ${format} is not supported`);

  const range = metadata.get('Image.NominalPixelRange') ?? 'NominalRange_0_255';
  const pixels: Record<string, Pick<InputSpec, 'scale' | 'mean' | 'std'>> = {
    NominalRange_0_255: { scale: 1, mean: [0, 0, 0], std: [1, 1, 1] },
    Normalized_0_1: { scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
    Normalized_1_1: { scale: 2 / 255, mean: [1, 1, 1], std: [1, 1, 1] },
    NominalRange_16_235: { scale: 219 / 255, mean: [-16, -16, -16], std: [1, 1, 1] },
  };
  const p = pixels[range];
  if (!p) throw new ExportFolderError(file, `Image.NominalPixelRange ${range} is not supported`);
  return { name: input.name, width, height, layout, channels, ...p, resize };
}

function readLabels(file: string, text: string): string[] {
  const labels = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (labels.length === 0) throw new ExportFolderError(file, 'holds no labels');
  return labels;
}

/** Model id from a folder name: the characters an id may hold, starting with a letter or digit. */
function idFrom(dir: string): string {
  const id = path
    .basename(path.resolve(dir))
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  return id || 'custom-vision';
}

/**
 * A ModelDescriptor for a Custom Vision ONNX export folder (model, labels.txt, cvexport.manifest),
 * made from the manifest, the labels and the ONNX graph's input, outputs and metadata_props. The
 * decoder follows the output names: model_outputs0 → yolov2 with Custom Vision's anchors;
 * detected_boxes/classes/scores → boxes-classes-scores; model_output or loss → classification.
 */
export async function loadCustomVisionExport(dir: string, options: LoadExportOptions = {}): Promise<CustomVisionExport> {
  const manifest = await readManifest(dir);
  const labelsFile = path.join(dir, manifest.LabelFileName);
  const modelPath = path.resolve(dir, manifest.ModelFileName);
  const labels = readLabels(labelsFile, await readText(labelsFile));
  const graph = await readGraph(modelPath);
  const out = (name: string): GraphIo | undefined => graph.outputs.find((o) => o.name === name);
  const input = graph.inputs[0]!;
  if (graph.inputs.length !== 1) throw new ExportFolderError(modelPath, `has ${graph.inputs.length} inputs, expected one image`);

  const checkCount = (classes: number | null | undefined, what: string): void => {
    if (classes !== null && classes !== undefined && classes !== labels.length) {
      throw new ExportFolderError(labelsFile, `holds ${labels.length} labels but the model's ${what} has ${classes} classes`);
    }
  };

  let task: ModelDescriptor['task'];
  let decoder: DecoderSpec;
  let defaultChannels: 'RGB' | 'BGR' = 'BGR';
  if (out('model_outputs0')) {
    const o = out('model_outputs0')!;
    const channels = o.dims?.[1];
    if (channels != null) checkCount(channels / CUSTOM_VISION_ANCHORS.length - 5, 'output "model_outputs0"');
    task = 'detection';
    decoder = { type: 'yolov2', output: o.name, anchors: CUSTOM_VISION_ANCHORS.map(([w, h]) => [w, h] as [number, number]) };
  } else if (out('detected_boxes') && out('detected_classes') && out('detected_scores')) {
    task = 'detection';
    defaultChannels = 'RGB';
    decoder = { type: 'boxes-classes-scores', boxes: 'detected_boxes', classes: 'detected_classes', scores: 'detected_scores' };
  } else if (out('model_output') || out('loss')) {
    const o = out('model_output') ?? out('loss')!;
    if (o.kind !== 'tensor') throw new ExportFolderError(modelPath, OLD_LOSS_EXPORT_MESSAGE);
    checkCount(o.dims?.at(-1), `output "${o.name}"`);
    task = 'classification';
    decoder = { type: 'custom-vision-classification', output: o.name };
  } else {
    throw new ExportFolderError(
      modelPath,
      `outputs ${graph.outputs.map((o) => o.name).join(', ')} are none of a Custom Vision export (model_outputs0; detected_boxes/classes/scores; model_output; loss)`,
    );
  }
  const domain = manifest.DomainType.toLowerCase();
  const manifestTask = domain.includes('detection') ? 'detection' : domain.includes('classification') ? 'classification' : null;
  if (manifestTask !== null && manifestTask !== task) {
    throw new ExportFolderError(path.join(dir, MANIFEST_FILE), `DomainType ${manifest.DomainType} but the model's outputs are those of ${task}`);
  }

  const descriptor = modelDescriptorSchema.parse({
    id: options.id ?? idFrom(dir),
    version:
      options.version ??
      (typeof manifest.IterationId === 'string' && manifest.IterationId
        ? manifest.IterationId
        : typeof manifest.ExportedDate === 'string' && manifest.ExportedDate
          ? manifest.ExportedDate
          : '1'
      ).slice(0, 64),
    file: manifest.ModelFileName,
    task,
    input: inputSpec(modelPath, input, graph.metadata, defaultChannels, task === 'classification' ? 'custom-vision' : 'stretch'),
    labels,
    decoder,
    // Custom Vision answers every tag for a classification; its detection samples keep 0.1 and IoU 0.45.
    thresholds:
      task === 'classification' ? { score: 0, iou: 0.45, maxDetections: Math.min(1000, labels.length) } : { score: 0.1, iou: 0.45, maxDetections: 50 },
  });
  return { descriptor, manifest, labels, modelPath };
}

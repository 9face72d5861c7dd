import * as ort from '../../services/inference/src/onnxruntime.ts';
import { BUILTIN_MODEL_ID, loadModel } from '../../services/inference/src/model/loader.ts';
import { FRAME_LIMITS, prepareInput } from '../../services/inference/src/pipeline/image.ts';

export interface BareSample {
  /** JPEG decode, resize and tensor (the service's prepareInput). */
  prepareMs: number;
  /** session.run on that tensor. */
  runMs: number;
  totalMs: number;
}

/**
 * One bare inference as services/inference/bench/inference.bench.ts measures its ceiling, plus
 * the JPEG decode and preprocessing it leaves out: `prepareInput` then `session.run`, in this
 * process, with the model and thread count the service uses. `dataDir` is the service's own
 * (`<stack data>/inference`): the first load converts the default model there, and the service
 * then finds it converted.
 */
export async function measureBareInference(
  jpeg: Buffer,
  options: { dataDir: string; threads: number; samples: number; warmup?: number },
): Promise<BareSample[]> {
  const model = await loadModel(BUILTIN_MODEL_ID, { threads: options.threads, modelsDir: `${options.dataDir}/models`, dataDir: options.dataDir });
  try {
    const out: BareSample[] = [];
    // Into one tensor kept across runs, as the service does (no 3 MB allocation per frame).
    const { width, height } = model.descriptor.input;
    const tensor = new Float32Array(width * height * 3);
    for (let i = 0; i < (options.warmup ?? 3) + options.samples; i++) {
      const t0 = performance.now();
      const input = await prepareInput(jpeg, model.descriptor.input, FRAME_LIMITS, tensor);
      const t1 = performance.now();
      await model.session.run({ [model.descriptor.input.name]: new ort.Tensor('float32', input.tensor, input.dims) });
      const t2 = performance.now();
      if (i >= (options.warmup ?? 3)) out.push({ prepareMs: t1 - t0, runMs: t2 - t1, totalMs: t2 - t0 });
    }
    return out;
  } finally {
    await model.release();
  }
}

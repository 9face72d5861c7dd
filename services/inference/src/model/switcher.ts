import type { Logger } from '@sightline/kit';
import type { ModelState } from '@sightline/schemas';
import type { InferenceMetrics } from '../pipeline/metrics.ts';
import { ModelError, type LoadedModel, type ModelInfo } from './loader.ts';

export interface ModelSwitcherOptions {
  /** Loads, checks and warms up a model (see loadModel). */
  load(id: string): Promise<LoadedModel>;
  /** Runs `swap` where no model run is in progress: the scheduler's turn between two runs. */
  between<T>(swap: () => Promise<T>): Promise<T>;
  /** The serving model changed (no argument) or a request was refused: the state to make known. */
  onState(refusal?: Pick<ModelState, 'request' | 'error'>): void;
  metrics: Pick<InferenceMetrics, 'switches' | 'modelInfo'>;
  /** Intra-op threads the models are loaded with (logged, and a label of the model metric). */
  threads: number;
  log: Logger;
  now: () => number;
}

export interface ModelSwitcher {
  /** The model serving now; null before the first one loaded and after release(). */
  current(): LoadedModel | null;
  /** When the current model started serving (`now()` at the swap; 0 before). */
  since(): number;
  /** Loads, checks and warms up `id`, then swaps it in between two runs. Throws a ModelError, the old model still serving. */
  switchTo(id: string): Promise<ModelInfo>;
  /** From now on a model that finishes loading is released at once instead of swapped in. */
  stopLoading(): void;
  /** Resolves once the switch in progress, if any, has ended. */
  idle(): Promise<unknown>;
  /** Releases the model serving; current() is null after. */
  release(): Promise<void>;
}

/**
 * Model switching at run time. One switch at a time; requests that arrive meanwhile do not queue
 * up: the latest one waits (the same model asked twice is one load), and the one it replaces is
 * answered "superseded". So a flood of requests is at most two loads, whatever arrives.
 */
export function createModelSwitcher(options: ModelSwitcherOptions): ModelSwitcher {
  const { metrics, log } = options;
  let model: LoadedModel | null = null;
  let modelSince = 0;
  let switching: Promise<unknown> = Promise.resolve();
  /** The switch waiting for the one in progress; a newer request replaces it. */
  let pendingSwitch: { id: string; waiters: Array<{ resolve: (info: ModelInfo) => void; reject: (err: unknown) => void }> } | null = null;
  let switchRunning = false;
  let stopped = false;

  function nextSwitch(): void {
    if (switchRunning || pendingSwitch === null) return;
    const job = pendingSwitch;
    pendingSwitch = null;
    switchRunning = true;
    switching = doSwitch(job.id)
      .then(
        (info) => job.waiters.forEach((w) => w.resolve(info)),
        (err: unknown) => job.waiters.forEach((w) => w.reject(err)),
      )
      .finally(() => {
        switchRunning = false;
        nextSwitch();
      });
  }

  async function doSwitch(id: string): Promise<ModelInfo> {
    const started = performance.now();
    log.info({ model: id, threads: options.threads }, 'loading model');
    let loaded: LoadedModel;
    try {
      loaded = await options.load(id);
    } catch (err) {
      metrics.switches.inc({ outcome: 'refused' });
      log.warn({ model: id, detail: (err as Error).message, keeps: model?.info.id ?? null }, 'model refused');
      options.onState({ request: id, error: (err as Error).message.slice(0, 2000) });
      throw err;
    }
    if (stopped) {
      await loaded.release();
      throw new Error('service stopping');
    }
    // The swap itself: between two runs, so no frame ever sees half a model.
    const old = await options.between(async () => {
      const previous = model;
      model = loaded;
      modelSince = options.now();
      return previous;
    });
    metrics.modelInfo.reset();
    metrics.modelInfo.set({ model: loaded.info.id, version: loaded.info.version, threads: String(options.threads) }, 1);
    metrics.switches.inc({ outcome: 'switched' });
    log.info(
      { model: loaded.info.id, version: loaded.info.version, previous: old?.info.id ?? null, ms: Math.round(performance.now() - started) },
      'model serving',
    );
    options.onState();
    if (old && old !== loaded) await old.release().catch((err: unknown) => log.warn({ err }, 'releasing the old model failed'));
    return loaded.info;
  }

  return {
    current: () => model,
    since: () => modelSince,
    switchTo(id) {
      return new Promise<ModelInfo>((resolve, reject) => {
        const waiter = { resolve, reject };
        if (pendingSwitch !== null) {
          if (pendingSwitch.id !== id) {
            const replaced = pendingSwitch.waiters.splice(0);
            const error = new ModelError(pendingSwitch.id, 'superseded', `superseded by a later request for ${id}`);
            for (const w of replaced) w.reject(error);
            metrics.switches.inc({ outcome: 'superseded' });
            pendingSwitch.id = id;
          }
          pendingSwitch.waiters.push(waiter);
          return;
        }
        pendingSwitch = { id, waiters: [waiter] };
        nextSwitch();
      });
    },
    stopLoading() {
      stopped = true;
    },
    idle: () => switching,
    async release() {
      const last = model;
      model = null;
      await last?.release().catch(() => {});
    },
  };
}

import { BoundedMap, createRuntime, type Logger, type Runtime } from '@sightline/kit';
import path from 'node:path';
import { Gauge } from 'prom-client';
import {
  channels,
  type AddFromLane,
  type Detections,
  type Frame,
  type JpegHeader,
  type ModelState,
  type ProductCommand,
  type ProductState,
} from '@sightline/schemas';
import type { Prediction } from './decoders/types.ts';
import type { InferenceConfig } from './config.ts';
import { predictionKeyHeader } from './custom-vision/prediction-api.ts';
import { BusyError, NoModelError } from './errors.ts';
import { registerRoutes } from './http/routes.ts';
import { listModels, loadModel, ModelError, type LoadedModel, type ModelInfo, type RunResult } from './model/loader.ts';
import { createModelSwitcher } from './model/switcher.ts';
import { FRAME_LIMITS, ImageError, prepareInput, UPLOAD_LIMITS, type ImageLimits, type PreparedInput } from './pipeline/image.ts';
import { createInferenceMetrics, DROP_REASONS, type DropReason } from './pipeline/metrics.ts';
import { Scheduler, type Job } from './pipeline/scheduler.ts';
import { Embedder, type UnitBox } from './products/backbone.ts';
import { laneUploads } from './products/from-lane.ts';
import { keptImageFetcher } from './products/kept.ts';
import { RecentFrames } from './products/recent-frames.ts';
import { recognizePredictions, type RecognizedPrediction } from './products/recognition.ts';
import { ReplicaGroup } from './replicas.ts';
import { ProductError, ProductStore, type ProductPhoto, type ProductRecord } from './products/store.ts';

export interface Timings {
  decodeMs: number;
  preprocessMs: number;
  inferenceMs: number;
  postprocessMs: number;
  /** Comparing objects with the enrolled products, when any are. */
  recognitionMs?: number;
  totalMs: number;
}

export interface PredictResult {
  model: { id: string; version: string };
  predictions: RecognizedPrediction[];
  timings: Timings;
  width: number;
  height: number;
}

export interface InferenceDeps {
  now?: () => number;
  /** Called after each detections message is published (tests, benchmarks). */
  onPublished?: (detections: Detections) => void;
}

export interface InferenceApp {
  readonly runtime: Runtime;
  /** The frame scheduler: frames waiting (at most one per camera) and their bytes, busy, idle. */
  readonly scheduler: Pick<Scheduler<Frame>, 'waiting' | 'waitingBytes' | 'busy' | 'idle'>;
  /** Cameras known now: the configured ones, or those seen recently within the cap. */
  cameras(): string[];
  /** This replica's share of the cameras (null when it is not a replica): see replicas.ts. */
  readonly replicas: Pick<ReplicaGroup, 'state' | 'serving' | 'view'> | null;
  /** The model serving now (null before the first one loaded). */
  current(): ModelInfo | null;
  currentModel(): LoadedModel | null;
  /** Loads, checks and warms up `id`, then swaps it in between two runs. Throws a ModelError, the old model still serving. */
  switchModel(id: string): Promise<ModelInfo>;
  availableModels(): Promise<string[]>;
  /**
   * One image (JPEG, PNG or WebP) through the current model, taking its turn with the frames.
   * Hook for HTTP prediction routes; throws an ImageError (bad image), a NoModelError (none loaded
   * yet) or a BusyError (MAX_PREDICTIONS in progress).
   */
  predict(image: Buffer, limits?: ImageLimits): Promise<PredictResult>;
  /** The enrolled products; null before they are loaded, or when the backbone could not be opened. */
  products(): ProductStore | null;
  /** The box of the best object the running model sees in an image (ignored labels aside), or null. */
  bestObject(image: Buffer): Promise<UnitBox | null>;
  /** The last frames of each camera with their objects, to teach products from. */
  readonly recentFrames: RecentFrames;
  /**
   * Adds frames the lane saw to a product (made when new), source `lane`: recent frames by camera
   * and seq, frames sync kept by name. All or none; refusals are ProductErrors naming the frames.
   */
  addFromLane(productId: string, request: AddFromLane): Promise<{ product: ProductRecord; added: ProductPhoto[] }>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

function predictResult(model: LoadedModel, input: PreparedInput, result: RunResult, totalMs: number): PredictResult {
  const timings: Timings = {
    decodeMs: round(input.decodeMs),
    preprocessMs: round(input.preprocessMs),
    inferenceMs: round(result.inferenceMs),
    postprocessMs: round(result.postprocessMs),
    totalMs: round(totalMs),
  };
  return { model: { id: model.info.id, version: model.info.version }, predictions: result.predictions, timings, width: input.width, height: input.height };
}
/** One turn of the event loop: pending I/O (incoming frames) and queued continuations run first. */
const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

/**
 * The inference service: camera frames in (`cameras/+/frame`), one model run at a time with the
 * latest frame of each camera taking turns, detections out (`cameras/<camera>/detections`). The
 * model switches at run time over HTTP (`POST /models/current`) or MQTT (`services/inference/model/set`).
 */
export function createInferenceApp(config: InferenceConfig, logger: Logger, deps: InferenceDeps = {}): InferenceApp {
  const now = deps.now ?? Date.now;
  const log = logger.child({ module: 'inference' });
  let predicting = 0;

  const runtime = createRuntime({
    service: 'inference',
    logger,
    mqtt: config.mqtt,
    // Custom Vision's prediction SDK sends the key as Prediction-Key, never as a bearer token.
    http: { ...config.http, tokenHeader: predictionKeyHeader },
    notReadyReason: () => (models.current() === null ? 'model not loaded yet' : null),
  });
  const metrics = createInferenceMetrics(runtime.registry);

  const drop = (camera: string, reason: DropReason) => metrics.dropped.inc({ camera, reason });

  /** The frames the lane saw lately, with their objects (see RecentFrames); bounded by count per camera and bytes. */
  const recentFrames = new RecentFrames({ framesPerCamera: config.recentFrames.perCamera, maxBytes: config.recentFrames.maxBytes });
  new Gauge({
    name: 'sightline_inference_recent_frames',
    help: 'Frames held with their objects to teach products from (SIGHTLINE_INFERENCE_RECENT_FRAMES per camera)',
    registers: [runtime.registry],
    collect() {
      this.set(recentFrames.count);
    },
  });
  new Gauge({
    name: 'sightline_inference_recent_frames_bytes',
    help: 'Bytes of those frames, all cameras (SIGHTLINE_INFERENCE_RECENT_FRAMES_MAX_BYTES)',
    registers: [runtime.registry],
    collect() {
      this.set(recentFrames.bytes);
    },
  });

  /**
   * Which cameras are served. Configured ones, or else any camera seen within the idle time, at
   * most `maxCameras` at once: a camera beyond them is refused (its frames dropped and counted
   * without a camera label) until one goes quiet, so made-up ids cannot push out the real ones.
   */
  const wanted = config.cameras === null ? null : new Set(config.cameras);
  const seen = new BoundedMap<string, true>({
    name: 'inference-cameras',
    maxEntries: config.maxCameras,
    idleMs: config.cameraIdleMs,
    whenFull: 'refuse-new',
    // Idle time is measured on the monotonic clock unless a test gives its own.
    ...(deps.now !== undefined ? { now: deps.now } : {}),
    registry: runtime.registry,
    logger: log,
    onEvict: (camera, _value, reason) => {
      if (reason === 'refused') {
        metrics.dropped.inc({ reason: 'camera-cap' });
        return;
      }
      // Its recent frames go too: they were held for the lane it served.
      recentFrames.forget(camera);
      replicas?.camerasChanged();
      // A forgotten camera's series go with it, or made-up ids would grow the metrics instead.
      metrics.frames.remove({ camera });
      for (const why of DROP_REASONS) metrics.dropped.remove({ camera, reason: why });
    },
  });
  const knows = (camera: string): boolean => {
    if (wanted !== null) return wanted.has(camera);
    const known = seen.has(camera);
    if (!seen.set(camera, true)) return false;
    if (!known) replicas?.camerasChanged();
    return true;
  };
  const serves = (camera: string) => knows(camera) && (replicas === null || replicas.serves(camera));

  /**
   * With several replicas, each serves its share of the cameras (replicas.ts). A camera taken
   * away loses its waiting frame at once, before this replica says it let the camera go.
   */
  const replicas =
    config.replica === null
      ? null
      : new ReplicaGroup({
          self: config.replica.id,
          heartbeatMs: config.replica.heartbeatMs,
          cameras: () => (wanted !== null ? [...wanted] : (seen.expire(), [...seen.keys()])),
          publish: (state) => runtime.bus.publish(channels.inferenceReplica, { replica: config.replica!.id }, state),
          onReleased: (cameras) => {
            for (const camera of cameras) scheduler.forget(camera, 'reassigned');
          },
          onChange: () => log.info({ replica: config.replica!.id, view: replicas!.view(), serving: replicas!.serving() }, 'replica share changed'),
        });

  interface Prepared {
    input: PreparedInput;
    /** The model it was prepared for; a swap in between means preparing again. */
    model: LoadedModel;
    started: number;
  }

  /**
   * Input tensors of the frame path, two per model, taken in turn: a frame is prepared while at
   * most one run is in flight, and the next frame only once that run's model is done with its
   * tensor (see the scheduler), so a tensor is never overwritten while a run reads it, and no 3 MB
   * array is allocated (and collected) per frame.
   */
  const frameTensors = new WeakMap<LoadedModel, { tensors: Float32Array[]; next: number }>();
  function frameTensor(serving: LoadedModel): Float32Array {
    let ring = frameTensors.get(serving);
    if (ring === undefined) {
      const { width, height } = serving.descriptor.input;
      // In shared memory: the model's thread reads them where they are (see WorkerSession).
      const shared = () => new Float32Array(new SharedArrayBuffer(width * height * 3 * Float32Array.BYTES_PER_ELEMENT));
      ring = { tensors: [shared(), shared()], next: 0 };
      frameTensors.set(serving, ring);
    }
    const tensor = ring.tensors[ring.next]!;
    ring.next = (ring.next + 1) % ring.tensors.length;
    return tensor;
  }

  async function prepare(bytes: Buffer, limits: ImageLimits, header?: JpegHeader): Promise<Prepared> {
    const started = performance.now();
    const serving = models.current();
    if (serving === null) throw new NoModelError();
    return { input: await prepareInput(bytes, serving.descriptor.input, limits, frameTensor(serving), header), model: serving, started };
  }

  /** Runs the prepared input through the current model (preparing it again after a swap). */
  async function infer(bytes: Buffer, limits: ImageLimits, prepared: Prepared, modelDone?: () => void): Promise<PredictResult> {
    const serving = models.current();
    if (serving === null) throw new NoModelError();
    const input = prepared.model === serving ? prepared.input : await prepareInput(bytes, serving.descriptor.input, limits);
    // Once the model has run, the scheduler hands it the next frame before this thread decodes
    // the outputs: one turn lets it get there.
    const afterRun = modelDone
      ? async () => {
          modelDone();
          await yieldTurn();
        }
      : undefined;
    const result = await serving.run(input, config.scoreThreshold, afterRun);
    const totalMs = performance.now() - prepared.started;
    metrics.stage.observe({ stage: 'decode' }, input.decodeMs / 1000);
    metrics.stage.observe({ stage: 'preprocess' }, input.preprocessMs / 1000);
    metrics.stage.observe({ stage: 'inference' }, result.inferenceMs / 1000);
    metrics.stage.observe({ stage: 'postprocess' }, result.postprocessMs / 1000);
    metrics.stage.observe({ stage: 'total' }, totalMs / 1000);
    return predictResult(serving, input, result, totalMs);
  }

  const fetchKept = config.syncUrl === null ? null : keptImageFetcher(config.syncUrl, config.http.token ?? null);

  async function addFromLane(productId: string, request: AddFromLane): Promise<{ product: ProductRecord; added: ProductPhoto[] }> {
    if (store === null) throw new ProductError(503, 'product recognition is off or still loading (see the log)');
    // Cameras gone quiet are forgotten first, their frames with them.
    if (wanted === null) seen.expire();
    const uploads = await laneUploads(request.frames, { recent: recentFrames, ignore: recognitionOptions.ignore, fetchKept });
    return store.addPhotos(productId, uploads, { name: request.name, source: 'lane', detect: (image) => app.bestObject(image) });
  }

  let embedder: Embedder | null = null;
  let store: ProductStore | null = null;
  const recognitionOptions = { threshold: config.recognition.threshold, maxObjects: config.recognition.maxObjects, ignore: new Set(config.recognition.ignore) };

  /** The predictions named after the enrolled products (when any are), and the time it took. */
  async function recognize(image: Buffer, result: PredictResult): Promise<PredictResult> {
    if (embedder === null || store === null) return result;
    const recognized = await recognizePredictions(image, result.predictions, embedder, store.recognizer(), recognitionOptions);
    if (recognized === null) return result;
    metrics.stage.observe({ stage: 'recognition' }, recognized.ms / 1000);
    const recognitionMs = round(recognized.ms);
    return {
      ...result,
      predictions: recognized.predictions,
      timings: { ...result.timings, recognitionMs, totalMs: round(result.timings.totalMs + recognized.ms) },
    };
  }

  async function openProducts(): Promise<void> {
    try {
      embedder = await Embedder.open(path.join(config.dataDir, 'backbone'), { threads: config.threads, log: (msg) => log.info(msg) });
      store = await ProductStore.open(config.recognition.productsDir, embedder, config.recognition.limits, log, now);
      store.onChange(() => publishProducts());
    } catch (err) {
      await embedder?.release().catch(() => {});
      embedder = null;
      store = null;
      log.error({ err }, 'product recognition is off: its backbone or the enrolled products cannot be opened');
    }
  }

  let lastProductCommand: ProductState['last'];
  function publishProducts(): void {
    if (!runtime.client.connected || store === null) return;
    const state: ProductState = {
      products: store.list(),
      backbone: store.backbone,
      threshold: config.recognition.threshold,
      ...(lastProductCommand ? { last: lastProductCommand } : {}),
    };
    runtime.bus.publish(channels.productState, {}, state).catch((err: unknown) => log.warn({ detail: (err as Error).message }, 'product state not published'));
  }

  async function productCommand(command: ProductCommand): Promise<void> {
    let error: string | undefined;
    try {
      if (store === null) throw new ProductError(409, 'product recognition is off (see the log)');
      if (command.action === 'add-photos') {
        const uploads = command.photos.map((p) => ({ bytes: Buffer.from(p.image, 'base64'), crop: p.crop, box: p.box }));
        await store.addPhotos(command.product, uploads, { name: command.name, source: 'mqtt', detect: (image) => app.bestObject(image) });
      } else if (command.action === 'add-from-lane') {
        await addFromLane(command.product, { frames: command.frames, ...(command.name !== undefined ? { name: command.name } : {}) });
      } else if (command.action === 'remove-photo') await store.removePhoto(command.product, command.photo);
      else await store.removeProduct(command.product);
    } catch (err) {
      if (!(err instanceof ProductError)) log.error({ err, action: command.action, product: command.product }, 'product command failed');
      error = err instanceof ProductError ? err.message : 'the command failed (see the log)';
    }
    lastProductCommand = { action: command.action, product: command.product, outcome: error === undefined ? 'done' : 'refused', ...(error ? { error } : {}) };
    if (error !== undefined) log.warn({ action: command.action, product: command.product, error }, 'product command refused');
    publishProducts();
  }

  async function runFrame(
    job: Job<Frame>,
    prepared: { value: Prepared | undefined } | { error: unknown },
    modelDone: () => void,
    previous: Promise<void>,
  ): Promise<void> {
    metrics.wait.observe((performance.now() - job.submittedAt) / 1000);
    const { camera, item: frame } = job;
    if (models.current() === null) return drop(camera, 'no-model');
    // Taken before its camera went to another replica: that one serves it now.
    if (replicas !== null && !replicas.serves(camera)) return drop(camera, 'reassigned');
    let result: PredictResult;
    try {
      if ('error' in prepared) throw prepared.error;
      result = await infer(frame.jpeg, FRAME_LIMITS, prepared.value ?? (await prepare(frame.jpeg, FRAME_LIMITS, frame.header)), modelDone);
      result = await recognize(frame.jpeg, result);
    } catch (err) {
      if (err instanceof ImageError) {
        drop(camera, 'bad-image');
        log.warn({ camera, seq: frame.meta.seq, fault: err.fault, detail: err.message }, 'dropped a frame that cannot be read');
      } else {
        drop(camera, 'failed');
        log.error({ err, camera, seq: frame.meta.seq }, 'inference failed');
      }
      return;
    }
    const detections: Detections = {
      camera,
      seq: frame.meta.seq,
      capturedAt: frame.meta.capturedAt,
      width: result.width,
      height: result.height,
      model: result.model,
      objects: result.predictions.map((p) => ({
        label: p.label || `class ${p.classId}`,
        score: clamp01(p.score),
        box: p.box,
        ...(p.recognition ? { recognition: { ...p.recognition, similarity: clamp01(p.recognition.similarity) } } : {}),
      })),
      timings: result.timings,
    };
    // The frame before this one may still be finishing (its run ended as this one's began):
    // detections leave in the order the frames ran.
    await previous;
    // Kept as the lane sees it, so it can be taught to a product afterwards by camera and seq; held
    // before it is published, so whoever reads the detections can name the frame at once.
    recentFrames.add({ camera, seq: frame.meta.seq, capturedAt: frame.meta.capturedAt, jpeg: frame.jpeg, objects: detections.objects });
    try {
      await runtime.bus.publish(channels.detections, { camera }, detections);
    } catch (err) {
      drop(camera, 'publish-failed');
      log.warn({ camera, seq: frame.meta.seq, detail: (err as Error).message }, 'detections not published');
      return;
    }
    metrics.frames.inc({ camera });
    deps.onPublished?.(detections);
  }

  const scheduler = new Scheduler<Frame, Prepared | undefined>({
    // The model runs on its own thread. While it runs, this thread decodes and resizes the next
    // frame and finishes the one before (outputs, recognition, publishing); the next run starts
    // the moment the model is free.
    prepare: (job) => prepare(job.item.jpeg, FRAME_LIMITS, job.item.header),
    prepareDuring: 'run',
    pipelined: true,
    run: runFrame,
    onDrop: (camera, reason) => drop(camera, reason),
    onError: (err, job) => {
      metrics.dropped.inc({ ...(job !== undefined ? { camera: job.camera } : {}), reason: 'failed' });
      log.error({ err, camera: job?.camera }, 'frame job failed');
    },
    waiting: {
      maxEntries: wanted?.size ?? config.maxCameras,
      maxBytes: config.waitingMaxBytes,
      sizeOf: (frame) => frame.jpeg.length,
      registry: runtime.registry,
      logger: log,
    },
  });

  const models = createModelSwitcher({
    load: (id) => loadModel(id, { threads: config.threads, modelsDir: config.modelsDir, dataDir: config.dataDir, log: (msg) => log.info(msg) }),
    between: (swap) => scheduler.between(swap),
    onState: (refusal) => publishState(refusal),
    metrics,
    threads: config.threads,
    log,
    now,
  });

  function publishState(extra: Partial<ModelState> = {}): void {
    if (!runtime.client.connected) return;
    const serving = models.current();
    const state: ModelState = { model: serving ? { id: serving.info.id, version: serving.info.version } : null, since: models.since(), ...extra };
    runtime.bus.publish(channels.modelState, {}, state).catch((err: unknown) => log.warn({ detail: (err as Error).message }, 'model state not published'));
  }

  async function predictOne(image: Buffer, limits: ImageLimits): Promise<PredictResult> {
    const started = performance.now();
    // Decoding happens outside the turn; the run takes its turn between two frames.
    const serving = models.current();
    if (serving === null) throw new NoModelError();
    const input = await prepareInput(image, serving.descriptor.input, limits);
    const detected = await scheduler.between(async () => {
      const current = models.current()!;
      const ready = current === serving ? input : await prepareInput(image, current.descriptor.input, limits);
      const result = await current.run(ready, config.scoreThreshold);
      return predictResult(current, ready, result, performance.now() - started);
    });
    return recognize(image, detected);
  }

  const app: InferenceApp = {
    runtime,
    scheduler,
    cameras: () => (wanted !== null ? [...wanted] : [...seen.keys()]),
    replicas,
    current: () => models.current()?.info ?? null,
    currentModel: () => models.current(),
    switchModel: (id) => models.switchTo(id),
    availableModels: () => listModels(config.modelsDir),
    async predict(image, limits = UPLOAD_LIMITS) {
      // Each waiting prediction holds its decoded image: a flood of requests must not hold them all.
      if (predicting >= config.maxPredictions) {
        metrics.predictionsRefused.inc();
        throw new BusyError(`${predicting} predictions in progress; try again shortly`);
      }
      predicting += 1;
      try {
        return await predictOne(image, limits);
      } finally {
        predicting -= 1;
      }
    },
    products: () => store,
    recentFrames,
    addFromLane,
    async bestObject(image) {
      const result = await app.predict(image);
      // The detector's own labels, before any product naming: any object is a candidate.
      const best = result.predictions.find((p) => p.box !== null && !recognitionOptions.ignore.has(p.recognition?.detectorLabel ?? p.label));
      return best?.box ?? null;
    },
    async start() {
      await runtime.start();
      await app.switchModel(config.model);
      await openProducts();
      runtime.bus
        .subscribe(channels.productCommand, {}, (command) => productCommand(command))
        .catch((err: unknown) => log.error({ err }, 'cannot subscribe to product commands'));
      runtime.bus
        .subscribe(channels.frame, {}, (frame, { camera }) => {
          if (!serves(camera)) return;
          if (frame.meta.camera !== camera) log.debug({ camera, meta: frame.meta.camera }, 'frame metadata names another camera; the topic wins');
          scheduler.submit(camera, frame);
        })
        .catch((err: unknown) => log.error({ err }, 'cannot subscribe to frames'));
      runtime.bus
        .subscribe(channels.modelCommand, {}, async (command) => {
          await app.switchModel(command.model).catch(() => {
            // refused: already logged, counted and published on the state topic
          });
        })
        .catch((err: unknown) => log.error({ err }, 'cannot subscribe to model commands'));
      if (replicas !== null) {
        runtime.bus
          .subscribe(channels.inferenceReplica, {}, (state, _params, _topic, meta) => replicas.onState(state, meta.retain))
          .catch((err: unknown) => log.error({ err }, 'cannot subscribe to the other replicas'));
        runtime.bus
          .subscribe(channels.availability, { service: 'inference' }, (availability, _params, _topic, meta) => {
            if (availability !== 'offline' || meta.retain || !runtime.client.connected || replicas.state === 'offline') return;
            // Another replica's last will (or its goodbye): the service is still up while this one is.
            log.info({ replica: config.replica!.id }, 'another replica went offline; the service stays online');
            replicas.someoneLeft();
            runtime.bus
              .publish(channels.availability, { service: 'inference' }, 'online')
              .catch((err: unknown) => log.warn({ detail: (err as Error).message }, 'availability not republished'));
          })
          .catch((err: unknown) => log.error({ err }, 'cannot subscribe to availability'));
        replicas.start();
        runtime.client.on('close', () => replicas.rejoin(false));
        runtime.client.on('connect', () => replicas.rejoin(true));
      }
      runtime.client.on('connect', () => {
        publishState();
        publishProducts();
      });
      publishState();
      publishProducts();
    },
    stop() {
      stopping ??= stopApp();
      return stopping;
    },
  };

  /** Once: tests and the process's signal handler may both stop it. */
  let stopping: Promise<void> | null = null;
  async function stopApp(): Promise<void> {
    models.stopLoading();
    // A replica lets its cameras go only once its last frame is out, then says so.
    replicas?.release();
    await scheduler.stop();
    await replicas?.leave().catch((err: unknown) => log.warn({ detail: (err as Error).message }, 'replica goodbye not published'));
    await models.idle();
    await runtime.stop();
    await models.release();
    await store?.idle();
    store?.close();
    await embedder?.release();
    recentFrames.clear();
  }

  registerRoutes(runtime.http, app, config.predictionUrlHosts, config.recognition.threshold);
  return app;
}

export { BusyError, ImageError, ModelError, NoModelError };

/**
 * The worker-thread side of WorkerSession: opens one onnxruntime session and runs it on request,
 * writing fixed-shape outputs into the shared buffers of the slot the request names.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from '../onnxruntime.ts';
import {
  fixedShape,
  SHARED_ARRAYS,
  type SharedType,
  type SessionThreadData,
  type SessionRequest,
  type SessionReply,
  type SlotBuffers,
  type WireTensor,
} from './session-worker.ts';

const port = parentPort!;
const { file, options } = workerData as SessionThreadData;

let session: ort.InferenceSession;
try {
  session = typeof file === 'string' ? await ort.InferenceSession.create(file, options) : await ort.InferenceSession.create(file, options);
} catch (err) {
  port.postMessage({ kind: 'failed', message: (err as Error).message } satisfies SessionReply);
  process.exit(0);
}

port.postMessage({
  kind: 'ready',
  inputNames: [...session.inputNames],
  outputNames: [...session.outputNames],
  inputMetadata: structuredClone(session.inputMetadata),
  outputMetadata: structuredClone(session.outputMetadata),
} satisfies SessionReply);

/** Each output whose shape the model fixes: those are written into shared slot buffers. */
const fixed = new Map<string, { dims: number[]; type: SharedType; bytes: number }>();
for (const meta of session.outputMetadata) {
  const dims = fixedShape(meta);
  if (dims === null || !meta.isTensor) continue;
  const type = meta.type as SharedType;
  fixed.set(meta.name, { dims, type, bytes: dims.reduce((a, b) => a * b, 1) * SHARED_ARRAYS[type].BYTES_PER_ELEMENT });
}

port.on('message', (request: SessionRequest) => {
  if (request.kind === 'release') {
    session
      .release()
      .catch(() => {})
      .finally(() => {
        port.postMessage({ kind: 'released' } satisfies SessionReply);
        port.close();
      });
    return;
  }
  run(request).catch(() => {}); // failures are replies already
});

async function run({ id, feeds, fetches, slot }: Extract<SessionRequest, { kind: 'run' }>): Promise<void> {
  try {
    const tensors: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) tensors[name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
    // Outputs of a fixed shape go into the slot's shared buffers (made here the first time);
    // onnxruntime allocates the others.
    const wanted: Record<string, ort.Tensor | null> = {};
    const placed = new Map<string, { type: ort.Tensor['type']; dims: number[]; data: WireTensor['data'] }>();
    const made: SlotBuffers = {};
    for (const name of fetches ?? session.outputNames) {
      // onnxruntime says this of a list of names, not of the record of tensors used here.
      if (!session.outputNames.includes(name)) throw new Error(`'fetches' contains invalid output name: ${name}.`);
      const shape = slot === null ? undefined : fixed.get(name);
      if (shape === undefined || slot === null) {
        wanted[name] = null;
        continue;
      }
      const { type, dims, bytes } = shape;
      let buffer = slot[name];
      if (buffer === undefined || buffer.byteLength !== bytes) buffer = made[name] = new SharedArrayBuffer(bytes);
      const data = new (SHARED_ARRAYS[type] as new (memory: SharedArrayBuffer) => WireTensor['data'])(buffer);
      placed.set(name, { type, dims, data });
      wanted[name] = new ort.Tensor(type as 'float32', data as Float32Array, dims);
    }
    const t0 = performance.now();
    const outputs = await session.run(tensors, wanted);
    const runMs = performance.now() - t0;
    const wire: Record<string, WireTensor> = {};
    const transfer: ArrayBuffer[] = [];
    for (const [name, tensor] of Object.entries(outputs)) {
      // Written in place: what onnxruntime-node hands back for those is a copy, left unused.
      const inPlace = placed.get(name);
      if (inPlace !== undefined) {
        wire[name] = inPlace;
        continue;
      }
      const data = tensor.data as WireTensor['data'];
      wire[name] = { type: tensor.type, dims: [...tensor.dims], data };
      if (ArrayBuffer.isView(data) && data.buffer instanceof ArrayBuffer && !transfer.includes(data.buffer)) transfer.push(data.buffer);
    }
    port.postMessage({ kind: 'result', id, outputs: wire, runMs, slot: Object.keys(made).length > 0 ? made : null } satisfies SessionReply, transfer);
  } catch (err) {
    port.postMessage({ kind: 'error', id, message: (err as Error).message } satisfies SessionReply);
  }
}

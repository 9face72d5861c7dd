/**
 * A quick look, not a benchmark: conversion time of the default model, then the median of onnxruntime
 * runs on one 512x512 input at 1 and 2 intra-op threads, and the CenterNet decoding time.
 *
 *   node services/inference/bench/inference.bench.ts [runs]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { decodeCenterNet } from '../src/decoders/centernet.ts';
import { DEFAULT_MODEL, ensureDefaultModel } from '../src/models/default-model.ts';

const RUNS = Number(process.argv[2] ?? 20);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const dataDir = await mkdtemp(join(tmpdir(), 'sightline-inference-bench-'));
try {
  const model = await ensureDefaultModel(dataDir);
  console.log(`conversion: ${model.conversionMs.toFixed(0)} ms, ONNX ${(model.provenance.onnx.bytes / 1e6).toFixed(1)} MB`);
  const input = new Float32Array(512 * 512 * 3);
  for (let i = 0; i < input.length; i++) input[i] = (i * 7919) % 256;
  const feeds = { [DEFAULT_MODEL.input.name]: new ort.Tensor('float32', input, [1, 512, 512, 3]) };
  for (const threads of [1, 2]) {
    const started = performance.now();
    const session = await ort.InferenceSession.create(model.onnxPath, { intraOpNumThreads: threads, interOpNumThreads: 1 });
    const loadMs = performance.now() - started;
    await session.run(feeds);
    const times: number[] = [];
    const decodeTimes: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const out = await session.run(feeds);
      const t1 = performance.now();
      decodeCenterNet(
        { heatmaps: out[DEFAULT_MODEL.outputs.heatmaps]!.data as Float32Array, sizes: out[DEFAULT_MODEL.outputs.sizes]!.data as Float32Array, gridWidth: 128, gridHeight: 128, classes: 80, inputWidth: 512, inputHeight: 512 },
        { labels: DEFAULT_MODEL.labels },
      );
      decodeTimes.push(performance.now() - t1);
      times.push(t1 - t0);
    }
    console.log(`${threads} thread(s): session ${loadMs.toFixed(0)} ms, run median ${median(times).toFixed(1)} ms (min ${Math.min(...times).toFixed(1)}), decode median ${median(decodeTimes).toFixed(1)} ms`);
    await session.release();
  }
} finally {
  await rm(dataDir, { recursive: true, force: true });
}

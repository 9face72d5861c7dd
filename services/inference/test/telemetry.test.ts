import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ElemType } from '@sightline/tfjs-onnx';
import { passThroughModel } from './onnx-fixtures.ts';

const run = promisify(execFile);
const onnxruntime = path.join(import.meta.dirname, '..', 'src', 'onnxruntime.ts');

/** Runs one onnxruntime session in a child with its own HOME; says whether onnxruntime wrote telemetry there. */
async function telemetryWritten(t: test.TestContext, env: Record<string, string>): Promise<boolean> {
  const home = mkdtempSync(path.join(tmpdir(), 'sightline-ort-home-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const model = path.join(home, 'model.onnx');
  writeFileSync(model, passThroughModel([{ input: 'x', output: 'y', elemType: ElemType.float, shape: [1, 2] }]));
  const script = `const ort = await import(${JSON.stringify(onnxruntime)});
const session = await ort.InferenceSession.create(${JSON.stringify(model)});
await session.run({ x: new ort.Tensor('float32', new Float32Array([1, 2]), [1, 2]) });`;
  await run(process.execPath, ['--input-type=module', '-e', script], { env: { PATH: process.env.PATH ?? '', HOME: home, ...env } });
  return existsSync(path.join(home, '.cache', 'Microsoft'));
}

test('onnxruntime sends no telemetry: nothing is written for it unless ORT_DISABLE_TELEMETRY says otherwise', async (t) => {
  assert.equal(await telemetryWritten(t, {}), false);
  // The control: onnxruntime 1.29+ does write its device id and event cache when allowed to.
  assert.equal(await telemetryWritten(t, { ORT_DISABLE_TELEMETRY: '0' }), true);
});

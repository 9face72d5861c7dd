import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as ort from '../src/onnxruntime.ts';
import { CONVERTER_NAME, CONVERTER_VERSION, onnx } from '@sightline/tfjs-onnx';
import { COCO_LABELS } from '../src/model/coco-labels.ts';
import { DEFAULT_MODEL, ensureDefaultModel, locateDefaultModel, UPSTREAM_REPOSITORY } from '../src/model/default-model.ts';
import { tempDir } from './helpers.ts';

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

test('the default model is found inside the installed @vladmandic/human', () => {
  const source = locateDefaultModel();
  assert.equal(source.packageName, '@vladmandic/human');
  assert.match(source.packageVersion, /^3\.\d+\.\d+$/);
  assert.equal(path.basename(source.modelJson), 'centernet.json');
});

test('the label list is the one the model ships with in @vladmandic/human, 80 COCO classes from person', () => {
  const shipped = readFileSync(path.join(locateDefaultModel().packageDir, 'src', 'object', 'labels.ts'), 'utf8');
  const names = [...shipped.matchAll(/label: '([^']+)'/g)].map((m) => m[1]);
  assert.deepEqual(names, [...COCO_LABELS]);
  assert.equal(COCO_LABELS.length, 80);
  assert.equal(COCO_LABELS[49], 'orange');
});

test('first use converts and caches with provenance; the next use takes the cache', async (t) => {
  const dataDir = tempDir(t, 'cache');
  const fixed = new Date('2026-01-02T03:04:05Z');
  const first = await ensureDefaultModel(dataDir, { now: () => fixed });
  assert.equal(first.converted, true);
  assert.match(path.basename(first.onnxPath), /^centernet-[0-9a-f]{16}\.onnx$/);
  assert.equal(first.provenancePath, path.join(dataDir, 'models', 'provenance.json'));
  assert.deepEqual(readdirSync(path.join(dataDir, 'models')).sort(), [path.basename(first.onnxPath), 'provenance.json']);

  const source = locateDefaultModel();
  const p = JSON.parse(readFileSync(first.provenancePath, 'utf8'));
  assert.deepEqual(p.source.package, { name: '@vladmandic/human', version: source.packageVersion, license: 'MIT' });
  assert.deepEqual(
    p.source.files.map((f: { path: string; sha256: string }) => [f.path, f.sha256]),
    [
      ['models/centernet.json', sha256(source.modelJson)],
      ['models/centernet.bin', sha256(path.join(path.dirname(source.modelJson), 'centernet.bin'))],
    ],
  );
  assert.ok(path.basename(first.onnxPath).includes(p.source.sha256.slice(0, 16)));
  assert.equal(p.onnx.sha256, sha256(first.onnxPath));
  assert.deepEqual(p.upstream, { repository: UPSTREAM_REPOSITORY, licence: 'none stated' });
  assert.deepEqual(p.converter, { name: CONVERTER_NAME, version: CONVERTER_VERSION });
  assert.equal(p.convertedAt, fixed.toISOString());
  assert.match(p.licenceNote, /states no licence/);

  const proto = onnx.ModelProto.decode(readFileSync(first.onnxPath));
  assert.equal(proto.producerName, 'sightline');
  const meta = Object.fromEntries(proto.metadataProps.map((m) => [m.key, m.value]));
  assert.equal(meta['source_sha256'], p.source.sha256);
  assert.deepEqual(JSON.parse(meta['labels']!), [...COCO_LABELS]);

  const session = await ort.InferenceSession.create(first.onnxPath);
  t.after(() => session.release());
  assert.deepEqual(session.inputNames, [DEFAULT_MODEL.input.name]);
  assert.deepEqual([...session.outputNames].sort(), Object.values(DEFAULT_MODEL.outputs).sort());

  const second = await ensureDefaultModel(dataDir, { log: (msg) => assert.fail(`unexpected: ${msg}`) });
  assert.equal(second.converted, false);
  assert.equal(second.onnxPath, first.onnxPath);
});

test('a corrupt or truncated cache file, or a lost provenance.json, is detected and rebuilt', async (t) => {
  const dataDir = tempDir(t, 'corrupt');
  const first = await ensureDefaultModel(dataDir);
  const good = readFileSync(first.onnxPath);

  const flipped = Buffer.from(good);
  flipped[flipped.length >> 1]! ^= 0xff;
  writeFileSync(first.onnxPath, flipped);
  const reasons: string[] = [];
  const log = (msg: string) => reasons.push(msg);
  assert.equal((await ensureDefaultModel(dataDir, { log })).converted, true);
  assert.deepEqual(readFileSync(first.onnxPath), good);

  writeFileSync(first.onnxPath, good.subarray(0, 1000));
  assert.equal((await ensureDefaultModel(dataDir, { log })).converted, true);
  assert.deepEqual(readFileSync(first.onnxPath), good);

  writeFileSync(first.provenancePath, '{ not json');
  assert.equal((await ensureDefaultModel(dataDir, { log })).converted, true);
  assert.equal((await ensureDefaultModel(dataDir, { log })).converted, false);

  assert.equal(reasons.length, 3);
  assert.match(reasons[0]!, /corrupt/);
  assert.match(reasons[1]!, /corrupt/);
  assert.match(reasons[2]!, /no readable provenance\.json/);
  assert.deepEqual(
    readdirSync(path.dirname(first.onnxPath)).filter((f) => f.endsWith('.tmp')),
    [],
  );
});

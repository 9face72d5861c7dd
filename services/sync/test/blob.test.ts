import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { containerClientFor, ensureContainer, uploadImage } from '../src/blob.ts';
import { loadSyncConfig } from '../src/config.ts';
import type { OutboxHeader } from '../src/outbox.ts';
import { frameJpeg, startAzurite } from './helpers.ts';

function header(name: string, jpeg: Buffer): OutboxHeader {
  return {
    blobName: name,
    camera: 'cam',
    seq: 1,
    capturedAt: 1,
    reason: 'sample',
    metadata: { camera: 'cam', reason: 'sample' },
    tags: { camera: 'cam', reason: 'sample' },
    acceptedAt: 1,
    md5: createHash('md5').update(jpeg).digest('base64'),
    sha256: createHash('sha256').update(jpeg).digest('hex'),
  };
}

test('conditional create: a retry of the same image is "existed" (one copy), another image under the name is a conflict', async (t) => {
  const azurite = await startAzurite(t);
  const config = loadSyncConfig({ SIGHTLINE_SYNC_CONNECTION_STRING: azurite.connectionString });
  const container = containerClientFor(config.blob, 'retries', 5000);
  await ensureContainer(container, 5000);
  await ensureContainer(container, 5000); // already there: still fine
  const jpeg = frameJpeg('cam', 1, 1);
  assert.equal(await uploadImage(container, header('cam/a.jpg', jpeg), jpeg, 5000), 'created');
  assert.equal(await uploadImage(container, header('cam/a.jpg', jpeg), jpeg, 5000), 'existed');
  const other = frameJpeg('cam', 2, 2);
  assert.equal(await uploadImage(container, header('cam/a.jpg', other), other, 5000), 'conflict');
  const names: string[] = [];
  for await (const blob of container.listBlobsFlat()) names.push(blob.name);
  assert.deepEqual(names, ['cam/a.jpg']);
  assert.deepEqual(await container.getBlobClient('cam/a.jpg').downloadToBuffer(), jpeg);
});

test('a wrong Content-MD5 is refused by the store (what it received is checked)', async (t) => {
  const azurite = await startAzurite(t);
  const config = loadSyncConfig({ SIGHTLINE_SYNC_CONNECTION_STRING: azurite.connectionString });
  const container = containerClientFor(config.blob, 'md5', 5000);
  await ensureContainer(container, 5000);
  const jpeg = frameJpeg('cam', 1, 1);
  const bad = { ...header('cam/b.jpg', jpeg), md5: createHash('md5').update('something else').digest('base64') };
  await assert.rejects(uploadImage(container, bad, jpeg, 5000), (err: { statusCode?: number }) => err.statusCode === 400);
  assert.equal(await container.getBlobClient('cam/b.jpg').exists(), false);
});

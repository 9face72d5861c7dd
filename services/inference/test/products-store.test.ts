import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { createLogger } from '@sightline/kit';
import { cropPixels, Embedder } from '../src/products/backbone.ts';
import { ProductError, ProductStore, type ProductLimits } from '../src/products/store.ts';
import { emojiScene, tempDir } from './helpers.ts';
import { bombJpeg } from './service-helpers.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const log = createLogger('inference', 'silent');
const LIMITS: ProductLimits = { maxProducts: 3, maxPhotosPerProduct: 4, maxPhotos: 6 };
let embedder: Embedder;
const backboneDir = mkdtempSync(path.join(tmpdir(), 'sightline-backbone-'));

before(async () => {
  embedder = await Embedder.open(backboneDir, { threads: 2 });
});
after(async () => {
  await embedder.release();
  rmSync(backboneDir, { recursive: true, force: true });
});

test('the backbone session opens at the first crop, not before: a store with no products never opens it', async (t) => {
  const lazy = await Embedder.open(backboneDir, { threads: 1 });
  t.after(() => lazy.release());
  assert.equal(lazy.loaded, false);
  assert.equal(lazy.dims, embedder.dims, "the length is the mean vector's, known without a run");
  const dir = tempDir(t, 'products-lazy');
  const store = await ProductStore.open(dir, lazy, LIMITS, log);
  assert.deepEqual(store.list(), []);
  assert.equal(lazy.loaded, false, 'opening an empty store embeds nothing');
  const { jpeg, box } = await photo('1f34a');
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  const vector = await lazy.embed(await cropPixels({ data, width: info.width, height: info.height }, box));
  assert.equal(lazy.loaded, true);
  assert.equal(vector.length, lazy.dims);
  assert.deepEqual([...vector], [...(await vectorOf(jpeg, box))], 'the same vector as an embedder opened earlier');
  // Released, it is opened again by the next crop.
  await lazy.release();
  assert.equal(lazy.loaded, false);
  assert.equal((await lazy.embed(await cropPixels({ data, width: info.width, height: info.height }, box))).length, lazy.dims);
});

/** An emoji on grey as a JPEG, and where it is. */
async function photo(codepoint: string, size = 260) {
  const scene = await emojiScene(codepoint, size);
  const jpeg = await sharp(scene.rgb, { raw: { width: scene.width, height: scene.height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
  return { jpeg, box: scene.object };
}

async function vectorOf(jpeg: Buffer, box: { x: number; y: number; width: number; height: number }): Promise<Float32Array> {
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  return embedder.embed(await cropPixels({ data, width: info.width, height: info.height }, box));
}

test('photos added to a product are stored, listed and recognised at once; the closest product wins', async (t) => {
  const dir = tempDir(t, 'products');
  const store = await ProductStore.open(dir, embedder, LIMITS, log, () => 1_795_000_000_000);
  assert.equal(store.recognizer().size, 0);
  const tangerine = await photo('1f34a');
  const banana = await photo('1f34c');
  const { added } = await store.addPhotos('clementine', [{ bytes: tangerine.jpeg, crop: 'box', box: tangerine.box }], { source: 'http', name: 'Clementines' });
  await store.addPhotos('banana', [{ bytes: banana.jpeg, crop: 'box', box: banana.box }], { source: 'http' });
  assert.deepEqual(store.list(), [
    { id: 'banana', name: null, photos: 1, updatedAt: 1_795_000_000_000 },
    { id: 'clementine', name: 'Clementines', photos: 1, updatedAt: 1_795_000_000_000 },
  ]);
  assert.equal(added[0]!.crop, 'box');
  const stored = store.photoFile('clementine', added[0]!.id)!;
  const meta = await sharp(readFileSync(stored)).metadata();
  assert.equal(meta.format, 'jpeg');
  // The crop (box plus margin), not the whole 640x480 frame.
  assert.ok(meta.width! < 400 && meta.height! < 400, `${meta.width}x${meta.height}`);

  const [best, second] = store.recognizer().rank(await vectorOf(tangerine.jpeg, tangerine.box), 2);
  assert.equal(best!.product, 'clementine');
  assert.ok(best!.similarity > 0.97, `the same fruit: ${best!.similarity}`);
  assert.equal(second!.product, 'banana');
  assert.ok(second!.similarity < best!.similarity - 0.1, `another fruit: ${second!.similarity}`);
});

test('a restart finds every product with its vectors; a lost or corrupt product.json is rebuilt from its photos', async (t) => {
  const dir = tempDir(t, 'products');
  const first = await ProductStore.open(dir, embedder, LIMITS, log);
  const apple = await photo('1f34f');
  await first.addPhotos(
    'green-apple',
    [
      { bytes: apple.jpeg, crop: 'whole' },
      { bytes: apple.jpeg, crop: 'box', box: apple.box },
    ],
    { source: 'mqtt' },
  );
  const vectorsBefore = first.vectors().map((v) => Array.from(v.vector.slice(0, 8)));

  const again = await ProductStore.open(dir, embedder, LIMITS, log);
  assert.deepEqual(
    again.list().map((p) => [p.id, p.photos]),
    [['green-apple', 2]],
  );
  assert.deepEqual(
    again.vectors().map((v) => Array.from(v.vector.slice(0, 8))),
    vectorsBefore,
  );
  assert.equal(again.recognizer().size, 2);

  writeFileSync(path.join(dir, 'green-apple', 'product.json'), '{ "id": "green-apple", "photos": [ trunc');
  const mended = await ProductStore.open(dir, embedder, LIMITS, log);
  assert.deepEqual(
    mended.list().map((p) => [p.id, p.photos]),
    [['green-apple', 2]],
  );
  assert.equal(mended.recognizer().size, 2);
  assert.doesNotThrow(() => JSON.parse(readFileSync(path.join(dir, 'green-apple', 'product.json'), 'utf8')));
});

test('a vector file that is missing or damaged is computed again from the stored photo', async (t) => {
  const dir = tempDir(t, 'products');
  const store = await ProductStore.open(dir, embedder, LIMITS, log);
  const apple = await photo('1f34e');
  const { added } = await store.addPhotos('red-apple', [{ bytes: apple.jpeg, crop: 'box', box: apple.box }], { source: 'http' });
  const folder = path.join(dir, 'red-apple');
  const vectorFile = readdirSync(folder).find((f) => f.endsWith('.f32'))!;
  assert.equal(vectorFile, `${added[0]!.id}.${embedder.id}.f32`);
  writeFileSync(path.join(folder, vectorFile), Buffer.alloc(12));
  const reopened = await ProductStore.open(dir, embedder, LIMITS, log);
  const [best] = reopened.recognizer().rank(await vectorOf(apple.jpeg, apple.box));
  assert.equal(best!.product, 'red-apple');
  assert.ok(best!.similarity > 0.97);
  assert.equal(readFileSync(path.join(folder, vectorFile)).length, embedder.dims * 4);
});

test('removing a photo or a product takes it out of recognition and off the disk', async (t) => {
  const dir = tempDir(t, 'products');
  const store = await ProductStore.open(dir, embedder, LIMITS, log);
  const a = await photo('1f34a');
  const b = await photo('1f34c');
  const { added } = await store.addPhotos(
    'fruit',
    [
      { bytes: a.jpeg, crop: 'box', box: a.box },
      { bytes: b.jpeg, crop: 'box', box: b.box },
    ],
    { source: 'http' },
  );
  await store.removePhoto('fruit', added[1]!.id);
  assert.equal(store.recognizer().size, 1);
  assert.equal(existsSync(path.join(dir, 'fruit', `${added[1]!.id}.jpg`)), false);
  await assert.rejects(store.removePhoto('fruit', added[1]!.id), (err: unknown) => err instanceof ProductError && err.status === 404);
  await store.removeProduct('fruit');
  assert.equal(store.recognizer().size, 0);
  assert.deepEqual(store.list(), []);
  assert.deepEqual(readdirSync(dir), []);
  await assert.rejects(store.removeProduct('fruit'), (err: unknown) => err instanceof ProductError && err.status === 404);
  assert.equal((await ProductStore.open(dir, embedder, LIMITS, log)).list().length, 0);
});

test('empty, corrupt, oversized, bomb and non-image photos are refused with the reason, and nothing of the request is kept', async (t) => {
  const dir = tempDir(t, 'products');
  const store = await ProductStore.open(dir, embedder, LIMITS, log);
  const good = await photo('1f34a');
  const truncated = good.jpeg.subarray(0, Math.floor(good.jpeg.length / 2));
  const cases: Array<[string, Buffer, RegExp, number?]> = [
    ['empty', Buffer.alloc(0), /empty/],
    ['text', Buffer.from('<svg onload=alert(1)>'), /not a JPEG, PNG or WebP/],
    ['truncated', truncated, /cannot be decoded/],
    ['bomb', await bombJpeg(), /exceeds .* pixels|cannot be decoded/],
    ['oversized', Buffer.concat([good.jpeg.subarray(0, 4), Buffer.alloc(17 * 1024 * 1024)]), /exceeds/, 413],
  ];
  for (const [what, bytes, reason, status = 400] of cases) {
    await assert.rejects(
      store.addPhotos(
        'clementine',
        [
          { bytes: good.jpeg, crop: 'whole' },
          { bytes, crop: 'whole' },
        ],
        { source: 'http' },
      ),
      (err: unknown) => err instanceof ProductError && err.status === status && /^photo 2: /.test(err.message) && reason.test(err.message),
      what,
    );
  }
  await assert.rejects(
    store.addPhotos('../etc', [{ bytes: good.jpeg, crop: 'whole' }], { source: 'http' }),
    (err: unknown) => err instanceof ProductError && err.status === 400,
  );
  await assert.rejects(
    store.addPhotos('clementine', [{ bytes: good.jpeg, crop: 'box' }], { source: 'http' }),
    (err: unknown) => err instanceof ProductError && /needs a box/.test(err.message),
  );
  await assert.rejects(
    store.addPhotos('clementine', [{ bytes: good.jpeg, crop: 'box', box: { x: 0.8, y: 0.1, width: 0.5, height: 0.5 } }], { source: 'http' }),
    (err: unknown) => err instanceof ProductError && /inside the photo/.test(err.message),
  );
  assert.deepEqual(store.list(), []);
  assert.deepEqual(readdirSync(dir), []);
});

test('the limits on products and photos are kept with a clear refusal', async (t) => {
  const dir = tempDir(t, 'products');
  const store = await ProductStore.open(dir, embedder, LIMITS, log);
  const { jpeg } = await photo('1f34a', 120);
  const one = { bytes: jpeg, crop: 'whole' as const };
  await assert.rejects(
    store.addPhotos('a', [one, one, one, one, one], { source: 'http' }),
    (err: unknown) => err instanceof ProductError && err.status === 409 && /limit of 4/.test(err.message),
  );
  await store.addPhotos('a', [one, one, one, one], { source: 'http' });
  await store.addPhotos('b', [one, one], { source: 'http' });
  await assert.rejects(
    store.addPhotos('c', [one], { source: 'http' }),
    (err: unknown) => err instanceof ProductError && err.status === 409 && /at most 6 photos/.test(err.message),
  );
  await store.setName('c', 'Product C');
  await assert.rejects(store.setName('d', null), (err: unknown) => err instanceof ProductError && err.status === 409 && /3 products/.test(err.message));
  assert.deepEqual(
    store.list().map((p) => [p.id, p.photos, p.name]),
    [
      ['a', 4, null],
      ['b', 2, null],
      ['c', 0, 'Product C'],
    ],
  );
});

test('changes made at the same time are applied one after the other, none lost', async (t) => {
  const dir = tempDir(t, 'products');
  const store = await ProductStore.open(dir, embedder, { maxProducts: 10, maxPhotosPerProduct: 10, maxPhotos: 10 }, log);
  const { jpeg } = await photo('1f34a', 120);
  await Promise.all([1, 2, 3, 4].map(() => store.addPhotos('same', [{ bytes: jpeg, crop: 'whole' }], { source: 'http' })));
  assert.equal(store.get('same')!.photos.length, 4);
  assert.equal((await ProductStore.open(dir, embedder, LIMITS, log)).get('same')!.photos.length, 4);
});

test('after a change the head is trained in the background and serves; a later change trains it again', async (t) => {
  const dir = tempDir(t, 'products');
  const store = await ProductStore.open(dir, embedder, { maxProducts: 10, maxPhotosPerProduct: 10, maxPhotos: 20 }, log);
  const tangerine = await photo('1f34a');
  const banana = await photo('1f34c');
  await store.addPhotos('clementine', [{ bytes: tangerine.jpeg, crop: 'box', box: tangerine.box }], { source: 'http' });
  await store.trained();
  assert.equal(store.recognizer().hasHead, false, 'one product: nothing to tell apart');
  await store.addPhotos('banana', [{ bytes: banana.jpeg, crop: 'box', box: banana.box }], { source: 'http' });
  assert.equal(store.recognizer().hasHead, false, 'nearest photos serve until the head is ready');
  await store.trained();
  assert.equal(store.recognizer().hasHead, true);
  const verdict = store.recognizer().classify(await vectorOf(banana.jpeg, banana.box))!;
  assert.deepEqual([verdict.product, verdict.by], ['banana', 'head']);
  const apple = await photo('1f34f');
  await store.addPhotos('green-apple', [{ bytes: apple.jpeg, crop: 'box', box: apple.box }], { source: 'http' });
  await store.trained();
  assert.equal(store.recognizer().hasHead, true);
  assert.equal(store.recognizer().products().length, 3);
  assert.equal(store.recognizer().classify(await vectorOf(apple.jpeg, apple.box))!.product, 'green-apple');
  store.close();
});

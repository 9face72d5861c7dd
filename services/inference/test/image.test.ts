import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { readJpegHeader } from '@sightline/schemas';
import { FRAME_LIMITS, ImageError, prepareInput, toTensor, UPLOAD_LIMITS } from '../src/pipeline/image.ts';
import type { InputSpec } from '../src/model/descriptor.ts';

const spec = (over: Partial<InputSpec> = {}): InputSpec => ({
  name: 'x',
  width: 8,
  height: 8,
  layout: 'NHWC',
  channels: 'RGB',
  scale: 1,
  mean: [0, 0, 0],
  std: [1, 1, 1],
  resize: 'stretch',
  ...over,
});

test('toTensor: layout, channel order, scale, mean and std in one pass', () => {
  const rgb = Uint8Array.from([10, 20, 30, 40, 50, 60]); // 2x1
  const base = { width: 2, height: 1, scale: 1, mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number] };
  assert.deepEqual([...toTensor(rgb, { ...base, layout: 'NHWC', channels: 'RGB' })], [10, 20, 30, 40, 50, 60]);
  assert.deepEqual([...toTensor(rgb, { ...base, layout: 'NHWC', channels: 'BGR' })], [30, 20, 10, 60, 50, 40]);
  assert.deepEqual([...toTensor(rgb, { ...base, layout: 'NCHW', channels: 'RGB' })], [10, 40, 20, 50, 30, 60]);
  assert.deepEqual([...toTensor(rgb, { ...base, layout: 'NCHW', channels: 'BGR' })], [30, 60, 20, 50, 10, 40]);
  const norm = toTensor(rgb, { ...base, layout: 'NHWC', channels: 'RGB', scale: 0.5, mean: [5, 10, 15], std: [5, 5, 5] });
  assert.deepEqual([...norm], [0, 0, 0, 3, 3, 3]);
});

test('letterbox keeps the aspect and records where the image lies; stretch fills the input', async () => {
  const wide = await sharp({ create: { width: 64, height: 32, channels: 3, background: { r: 255, g: 0, b: 0 } } })
    .jpeg()
    .toBuffer();
  const boxed = await prepareInput(wide, spec({ resize: 'letterbox' }));
  assert.deepEqual(boxed.region, { x: 0, y: 2, width: 8, height: 4 });
  assert.deepEqual([boxed.width, boxed.height], [64, 32]);
  assert.equal(boxed.tensor[0], 114, 'grey bar on top');
  assert.ok(boxed.tensor[(4 * 8 + 4) * 3]! > 200, 'red inside');
  const stretched = await prepareInput(wide, spec({ layout: 'NCHW' }));
  assert.deepEqual(stretched.dims, [1, 3, 8, 8]);
  assert.deepEqual(stretched.region, { x: 0, y: 0, width: 8, height: 8 });
  assert.ok(stretched.tensor[0]! > 200 && stretched.tensor[64]! < 30);
});

test('custom-vision resize: the centred square, 256, centre crop', async () => {
  // Left half black, right half white, 400x200: the centred square is x 100..300, half and half.
  const img = await sharp({ create: { width: 400, height: 200, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .composite([{ input: { create: { width: 200, height: 200, channels: 3, background: { r: 255, g: 255, b: 255 } } }, left: 200, top: 0 }])
    .png()
    .toBuffer();
  const out = await prepareInput(img, spec({ width: 224, height: 224, resize: 'custom-vision' }), UPLOAD_LIMITS);
  const at = (x: number, y: number) => out.tensor[(y * 224 + x) * 3]!;
  assert.ok(at(10, 100) < 30 && at(213, 100) > 225, `${at(10, 100)} ${at(213, 100)}`);
  assert.ok(Math.abs(at(100, 100) - 0) < 30 && at(124, 100) > 225);
});

test('EXIF orientation is applied: a portrait photo stored landscape is read as portrait', async () => {
  const stored = await sharp({ create: { width: 60, height: 40, channels: 3, background: { r: 0, g: 255, b: 0 } } })
    .jpeg()
    .withMetadata({ orientation: 6 })
    .toBuffer();
  const out = await prepareInput(stored, spec());
  assert.deepEqual([out.width, out.height], [40, 60]);
});

test('frames take JPEG only; uploads also PNG and WebP', async () => {
  const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 1, g: 2, b: 3 } } })
    .png()
    .toBuffer();
  await assert.rejects(
    prepareInput(png, spec(), FRAME_LIMITS),
    (err: unknown) => err instanceof ImageError && err.status === 415 && /PNG is not accepted here: expected JPEG/.test(err.message),
  );
  assert.equal((await prepareInput(png, spec(), UPLOAD_LIMITS)).width, 4);
  await assert.rejects(prepareInput(Buffer.alloc(10, 1), spec(), { ...UPLOAD_LIMITS, maxBytes: 5 }), /exceeds 5/);
});

test('the fused resample matches a libvips resize closely, in every layout and channel order; big images go through libvips', async () => {
  const { emojiScene } = await import('./helpers.ts');
  const scene = await emojiScene('1f34a');
  const jpeg = await sharp(scene.rgb, { raw: { width: scene.width, height: scene.height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
  const reference = await sharp(jpeg).resize(96, 64, { fit: 'fill' }).raw().toBuffer();
  for (const layout of ['NHWC', 'NCHW'] as const) {
    for (const channels of ['RGB', 'BGR'] as const) {
      const s = spec({ width: 96, height: 64, layout, channels, scale: 1 / 255, mean: [0.1, 0.2, 0.3], std: [0.5, 0.6, 0.7] });
      const got = await prepareInput(Buffer.from(await sharp(jpeg).resize(160, 100, { fit: 'fill' }).jpeg({ quality: 95 }).toBuffer()), s);
      const want = toTensor(reference, s);
      let diff = 0;
      for (let i = 0; i < want.length; i++) diff += Math.abs(got.tensor[i]! - want[i]!);
      const meanDiffBytes = (diff / want.length) * 255 * 0.6;
      assert.ok(meanDiffBytes < 6, `${layout} ${channels}: mean difference ${meanDiffBytes.toFixed(2)} levels`);
    }
  }
  // 640x480 into 8x8: far beyond 2x, libvips shrinks it.
  const small = await prepareInput(jpeg, spec());
  assert.equal(small.tensor.length, 8 * 8 * 3);
  assert.ok(Math.abs(small.tensor[0]! - 128) < 10, `grey corner ${small.tensor[0]}`);
});

test('a JPEG is measured from its header (the one decodeFrame read, when given), an Exif JPEG by libvips with its orientation', async () => {
  const plain = await sharp({ create: { width: 33, height: 17, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .jpeg()
    .toBuffer();
  const read = readJpegHeader(plain);
  const measured = await prepareInput(plain, spec(), FRAME_LIMITS);
  assert.deepEqual([measured.width, measured.height], [33, 17]);
  // The header handed over is used as it is, not read again: a size it claims is checked before any decoding.
  const claimed = { ...read, width: 40_000, height: 40_000 };
  await assert.rejects(
    prepareInput(plain, spec(), FRAME_LIMITS, undefined, claimed),
    (err: unknown) => err instanceof ImageError && err.fault === 'too-many-pixels' && /40000x40000/.test(err.message),
  );
  const exif = await sharp(plain).withMetadata({ orientation: 6 }).jpeg().toBuffer();
  assert.equal(readJpegHeader(exif).exif, true);
  const turned = await prepareInput(exif, spec(), UPLOAD_LIMITS);
  assert.deepEqual([turned.width, turned.height], [17, 33], 'orientation 6 turns it a quarter');
  await assert.rejects(prepareInput(plain.subarray(0, 10), spec(), UPLOAD_LIMITS), (err: unknown) => err instanceof ImageError && err.fault === 'corrupt');
});

test('the rewritten resample gives the reference floats bit for bit, in every mode, layout, channel order and normalisation, into a new or a reused array', async () => {
  const { resampleToTensor } = await import('../src/pipeline/image.ts');
  const { referenceResampleToTensor } = await import('./reference-impl.ts');
  const { emojiScene } = await import('./helpers.ts');
  const scene = await emojiScene('1f34a');
  let seed = 7;
  const noise = (n: number) => Uint8Array.from({ length: n }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
  // Images: a real decoded camera frame, resized ones, and noise (odd sizes).
  const images: Array<{ rgb: Uint8Array; width: number; height: number }> = [{ rgb: scene.rgb, width: scene.width, height: scene.height }];
  for (const [width, height] of [
    [333, 517],
    [97, 61],
  ] as const) {
    images.push({
      rgb: await sharp(scene.rgb, { raw: { width: scene.width, height: scene.height, channels: 3 } })
        .resize(width, height, { fit: 'fill' })
        .raw()
        .toBuffer(),
      width,
      height,
    });
  }
  images.push({ rgb: noise(45 * 38 * 3), width: 45, height: 38 });
  const norms = [
    {},
    { scale: 1 / 255 },
    { mean: [123.675, 116.28, 103.53] as [number, number, number], std: [58.395, 57.12, 57.375] as [number, number, number] },
  ];
  const bits = (t: Float32Array) => new Uint32Array(t.buffer, t.byteOffset, t.length);
  let compared = 0;
  for (const image of images) {
    for (const [W, H] of [
      [512, 512],
      [96, 64],
      [40, 50],
    ] as const) {
      const full = { x: 0, y: 0, width: image.width, height: image.height };
      const scale = Math.min(W / image.width, H / image.height);
      const w = Math.max(1, Math.round(image.width * scale));
      const h = Math.max(1, Math.round(image.height * scale));
      const cases = [
        { src: full, dst: { x: 0, y: 0, width: W, height: H } }, // stretch
        { src: full, dst: { x: Math.floor((W - w) / 2), y: Math.floor((H - h) / 2), width: w, height: h } }, // letterbox
        { src: { x: 3.5, y: 1.25, width: image.width * 0.6, height: image.height * 0.7 }, dst: { x: 0, y: 0, width: W, height: H } }, // a fractional crop (custom vision)
        {
          src: { x: 2, y: 1, width: Math.min(W, image.width - 2), height: Math.min(H, image.height - 1) },
          dst: { x: 0, y: 0, width: Math.min(W, image.width - 2), height: Math.min(H, image.height - 1) },
        }, // same size: a copy
      ];
      for (const { src, dst } of cases) {
        for (const layout of ['NHWC', 'NCHW'] as const) {
          for (const channels of ['RGB', 'BGR'] as const) {
            for (const norm of norms) {
              const s = spec({ width: W, height: H, layout, channels, ...norm });
              const want = bits(referenceResampleToTensor(image.rgb, image.width, image.height, src, dst, s));
              const reused = new Float32Array(W * H * 3).fill(Number.NaN);
              for (const into of [undefined, reused]) {
                const got = resampleToTensor(image.rgb, image.width, image.height, src, dst, s, into);
                if (into) assert.equal(got, into, 'fills the array it is given');
                assert.deepEqual(
                  bits(got),
                  want,
                  `${image.width}x${image.height} -> ${W}x${H} ${JSON.stringify({ src, dst, layout, channels, norm, reused: !!into })}`,
                );
                compared++;
              }
            }
          }
        }
      }
    }
  }
  assert.equal(compared, images.length * 3 * 4 * 2 * 2 * norms.length * 2);
});

test('prepareInput fills a given (dirty) array exactly as it fills a new one, in every resize mode; an array of the wrong size is not used', async () => {
  const { emojiScene } = await import('./helpers.ts');
  const scene = await emojiScene('1f34a');
  const jpeg = await sharp(scene.rgb, { raw: { width: scene.width, height: scene.height, channels: 3 } })
    .jpeg({ quality: 85 })
    .toBuffer();
  for (const resize of ['stretch', 'letterbox', 'custom-vision'] as const) {
    for (const layout of ['NHWC', 'NCHW'] as const) {
      const s = spec({ width: 512, height: 384, resize, layout });
      const fresh = await prepareInput(jpeg, s, UPLOAD_LIMITS);
      const into = new Float32Array(512 * 384 * 3).fill(-1);
      const reused = await prepareInput(jpeg, s, UPLOAD_LIMITS, into);
      assert.equal(reused.tensor, into);
      assert.deepEqual(reused.tensor, fresh.tensor, `${resize} ${layout}`);
      assert.deepEqual(reused.region, fresh.region);
    }
  }
  const wrong = new Float32Array(5);
  assert.notEqual((await prepareInput(jpeg, spec(), FRAME_LIMITS, wrong)).tensor, wrong);
});

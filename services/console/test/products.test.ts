import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32, deflateSync } from 'node:zlib';
import WebSocket from 'ws';
import { startTestBroker, waitUntil } from '@sightline/kit/testing';
import type { ConsoleApp } from '../src/index.ts';
import { PRODUCT_PHOTOS_BODY_LIMIT } from '../src/routes/products.ts';
import { login, OPERATOR, runService, startConsole, tempDir, VIEWER } from './helpers.ts';

const TOKEN = 'console-products-token-0123456789abcdefghijklm';

/** A photo with no image library: a PNG of `width`×`height`, a coloured square on grey. */
function png(width: number, height: number, colour: [number, number, number] = [230, 120, 20]): Buffer {
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside = x > width / 4 && x < (width * 3) / 4 && y > height / 4 && y < (height * 3) / 4;
      rows.set(inside ? colour : [128, 128, 128], y * (width * 3 + 1) + 1 + x * 3);
    }
  }
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A JPEG's size, from its frame header. */
function jpegSize(jpeg: Buffer): { width: number; height: number } {
  assert.deepEqual([...jpeg.subarray(0, 2)], [0xff, 0xd8], 'a JPEG');
  for (let at = 2; at + 9 < jpeg.length;) {
    const marker = jpeg[at + 1]!;
    if (marker >= 0xc0 && marker <= 0xc2) return { height: jpeg.readUInt16BE(at + 5), width: jpeg.readUInt16BE(at + 7) };
    at += 2 + jpeg.readUInt16BE(at + 2);
  }
  throw new Error('no frame header');
}

/** A form as a browser's FormData makes it: its bytes and its Content-Type (with the boundary). */
async function form(files: Array<{ bytes: Buffer; name?: string; type?: string }>, fields: Record<string, string> = {}) {
  const data = new FormData();
  for (const [name, value] of Object.entries(fields)) data.append(name, value);
  files.forEach((f, i) => data.append('photos', new Blob([new Uint8Array(f.bytes)], { type: f.type ?? 'image/png' }), f.name ?? `photo-${i}.png`));
  const request = new Request('http://localhost/', { method: 'POST', body: data });
  return { payload: Buffer.from(await request.arrayBuffer()), type: request.headers.get('content-type')! };
}

/** The console as a page of its own origin calls it: session cookie, CSRF token, Origin. */
function client(app: ConsoleApp, who: { cookie: string; csrf: string }) {
  const http = app.runtime.http;
  const changing = (extra: Record<string, string>) => ({
    cookie: who.cookie,
    'x-csrf-token': who.csrf,
    host: 'localhost',
    origin: 'http://localhost',
    ...extra,
  });
  return {
    get: (url: string) => http.inject({ url, headers: { cookie: who.cookie } }),
    put: (url: string, payload: unknown) =>
      http.inject({ method: 'PUT', url, payload: JSON.stringify(payload), headers: changing({ 'content-type': 'application/json' }) }),
    delete: (url: string, headers: Record<string, string> = {}) =>
      http.inject({ method: 'DELETE', url, payload: '{}', headers: changing({ 'content-type': 'application/json', ...headers }) }),
    upload: (url: string, body: { payload: Buffer; type: string }, headers: Record<string, string> = {}) =>
      http.inject({ method: 'POST', url, payload: body.payload, headers: changing({ 'content-type': body.type, ...headers }) }),
  };
}

/** A browser's live socket, as the page opens it. */
async function openLive(port: number, cookie: string) {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/live`, { headers: { cookie, origin: `http://127.0.0.1:${port}` } });
  const messages: Array<{ type: string; [key: string]: unknown }> = [];
  socket.on('message', (data, isBinary) => {
    if (!isBinary) messages.push(JSON.parse(String(data)));
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return { socket, messages };
}

interface Product {
  id: string;
  name: string | null;
  photos: Array<{ id: string; crop: string; box: object | null; url: string }>;
}

test(
  'with inference running: photos posted to the console reach inference as they were sent; products listed, renamed, photos served and removed; inference’s refusals passed on; viewers only look; every change pushed live',
  { timeout: 180_000 },
  async (t) => {
    const broker = await startTestBroker(t);
    const dir = tempDir(t);
    // At most 3 photos a product, so the limit (a 409) is easy to reach.
    const inference = await runService(
      t,
      'inference',
      {
        SIGHTLINE_MQTT_URL: broker.url,
        SIGHTLINE_DATA_DIR: dir,
        SIGHTLINE_HTTP_TOKEN: TOKEN,
        SIGHTLINE_INFERENCE_MAX_PHOTOS_PER_PRODUCT: '3',
        HOME: process.env.HOME ?? '',
      },
      120_000,
    );
    const { app } = await startConsole(t, broker.url, { SIGHTLINE_HTTP_TOKEN: TOKEN, SIGHTLINE_CONSOLE_SERVICES: `inference=${inference}` });
    const fromInference = async <T = Product>(path: string) => {
      const res = await fetch(`${inference}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      return { status: res.status, body: (await res.json()) as T };
    };
    const who = await login(app, OPERATOR);
    const operator = client(app, who);
    // Recognition loads its backbone after the detector: until then inference says 503.
    await waitUntil('inference lists its products', async () => (await operator.get('/api/products')).statusCode === 200, 60_000);
    await waitUntil('the console is on the bus', () => app.runtime.bus.ready());
    const live = await openLive(app.runtime.httpPort(), who.cookie);
    t.after(() => live.socket.close());
    const pushed = () => live.messages.filter((m) => m.type === 'products').map((m) => m.state as { products: Array<{ id: string; photos: number }> });
    await waitUntil('hello', () => live.messages.some((m) => m.type === 'hello'));

    await t.test('an upload goes on to inference as it came: both files, the name, the crop', async () => {
      const body = await form([{ bytes: png(96, 64) }, { bytes: png(40, 30, [20, 160, 40]), name: 'second.png' }], { name: 'Clementines', crop: 'whole' });
      const res = await operator.upload('/api/products/clementine/photos', body);
      assert.equal(res.statusCode, 201, res.body);
      const answer = res.json<{ product: { id: string; name: string; photos: number }; added: Product['photos'] }>();
      assert.deepEqual(answer.product.id, 'clementine');
      assert.deepEqual([answer.product.name, answer.product.photos], ['Clementines', 2]);
      assert.deepEqual(
        answer.added.map((p) => [p.crop, p.box, p.url]),
        answer.added.map((p) => ['whole', null, `/api/products/clementine/photos/${p.id}`]),
      );
      const kept = await fromInference('/products/clementine');
      assert.equal(kept.body.name, 'Clementines');
      assert.deepEqual(
        kept.body.photos.map((p) => p.id),
        answer.added.map((p) => p.id),
      );
      // Each file, whole: the stored photos have the sizes of the two sent.
      const sizes = [];
      for (const photo of answer.added) {
        const served = await operator.get(photo.url);
        assert.equal(served.statusCode, 200);
        assert.equal(served.headers['content-type'], 'image/jpeg');
        assert.equal(served.headers['x-content-type-options'], 'nosniff');
        sizes.push(jpegSize(served.rawPayload));
      }
      assert.deepEqual(sizes, [
        { width: 96, height: 64 },
        { width: 40, height: 30 },
      ]);
      // A box field too: the photo is cut to it (with inference's 10 % margin on each side, clipped to the photo).
      const boxed = await operator.upload('/api/products/clementine/photos', await form([{ bytes: png(100, 80) }], { box: '0.5,0.25,0.5,0.5' }));
      assert.equal(boxed.statusCode, 201, boxed.body);
      const [photo] = boxed.json<{ added: Product['photos'] }>().added;
      assert.equal(photo!.crop, 'box');
      assert.deepEqual(jpegSize((await operator.get(photo!.url)).rawPayload), { width: 55, height: 48 });
      await waitUntil('the change pushed live', () => pushed().some((s) => s.products.some((p) => p.id === 'clementine' && p.photos === 3)));
    });

    await t.test('listed with photo counts; a thumbnail is the first photo', async () => {
      const listed = await operator.get('/api/products');
      assert.equal(listed.statusCode, 200);
      const body = listed.json<{ products: Array<{ id: string; name: string; photos: number }>; backbone: string; threshold: number }>();
      assert.deepEqual(
        body.products.map((p) => [p.id, p.name, p.photos]),
        [['clementine', 'Clementines', 3]],
      );
      assert.match(body.backbone, /^mobilenetv2/);
      const one = (await operator.get('/api/products/clementine')).json<Product>();
      assert.equal(one.photos.length, 3);
      const thumbnail = await operator.get('/api/products/clementine/thumbnail');
      assert.equal(thumbnail.statusCode, 302);
      assert.equal(thumbnail.headers.location, one.photos[0]!.url);
    });

    await t.test('inference’s refusals passed on with their status and reason; nothing kept', async () => {
      const full = await operator.upload('/api/products/clementine/photos', await form([{ bytes: png(32, 32) }]));
      assert.equal(full.statusCode, 409, full.body);
      assert.deepEqual(full.json(), { error: '"clementine" has 3 photos; 1 more would pass the limit of 3' });
      const notImage = await operator.upload('/api/products/pears/photos', await form([{ bytes: Buffer.from('%PDF-1.7 hello'), type: 'application/pdf' }]));
      assert.equal(notImage.statusCode, 400);
      assert.deepEqual(notImage.json(), { error: 'not a JPEG, PNG or WebP image' });
      const badCrop = await operator.upload('/api/products/pears/photos', await form([{ bytes: png(32, 32) }], { crop: 'everything' }));
      assert.equal(badCrop.statusCode, 400);
      assert.match(badCrop.json().error, /crop must be whole, detector or box/);
      const many = await operator.upload('/api/products/pears/photos', await form(Array.from({ length: 21 }, () => ({ bytes: png(8, 8) }))));
      assert.equal(many.statusCode, 413);
      assert.deepEqual(many.json(), { error: 'at most 20 photos in one request' });
      const badName = await operator.put('/api/products/pears', { name: 42 });
      assert.equal(badName.statusCode, 400);
      assert.match(badName.json().error, /expected \{"name"/);
      const unknown = await operator.get('/api/products/nope');
      assert.equal(unknown.statusCode, 404);
      assert.deepEqual(unknown.json(), { error: 'no product "nope"' });
      assert.equal((await operator.get('/api/products/clementine/photos/000000000000')).statusCode, 404);
      assert.deepEqual(
        (await fromInference<{ products: Array<{ id: string }> }>('/products')).body.products.map((p) => p.id),
        ['clementine'],
      );
    });

    await t.test('a viewer lists and looks, and changes nothing', async () => {
      const viewer = client(app, await login(app, VIEWER));
      assert.equal((await viewer.get('/api/products')).statusCode, 200);
      const one = (await viewer.get('/api/products/clementine')).json<Product>();
      assert.equal((await viewer.get(one.photos[0]!.url)).statusCode, 200);
      const refusals = [
        await viewer.upload('/api/products/clementine/photos', await form([{ bytes: png(32, 32) }])),
        await viewer.put('/api/products/clementine', { name: 'Mine now' }),
        await viewer.delete(`/api/products/clementine/photos/${one.photos[0]!.id}`),
        await viewer.delete('/api/products/clementine'),
      ];
      for (const res of refusals) {
        assert.equal(res.statusCode, 403);
        assert.match(res.json().message, /victor is a viewer account/);
      }
      const missingToken = await operator.delete('/api/products/clementine', { 'x-csrf-token': '' });
      assert.equal(missingToken.statusCode, 403);
      assert.match(missingToken.json().message, /X-CSRF-Token/);
      const kept = await fromInference('/products/clementine');
      assert.deepEqual([kept.body.name, kept.body.photos.length], ['Clementines', 3]);
    });

    await t.test('renamed, made, a photo removed, a product removed: each in inference and pushed live', async () => {
      const renamed = await operator.put('/api/products/clementine', { name: 'Easy peelers' });
      assert.equal(renamed.statusCode, 200);
      assert.equal(renamed.json<Product>().name, 'Easy peelers');
      assert.match(renamed.json<Product>().photos[0]!.url, /^\/api\/products\/clementine\/photos\//);
      const made = await operator.put('/api/products/pears', { name: null });
      assert.equal(made.statusCode, 201);
      const photo = (await operator.get('/api/products/clementine')).json<Product>().photos[0]!;
      const removed = await operator.delete(`/api/products/clementine/photos/${photo.id}`);
      assert.equal(removed.statusCode, 204);
      assert.equal((await operator.delete(`/api/products/clementine/photos/${photo.id}`)).statusCode, 404);
      assert.equal((await operator.get(photo.url)).statusCode, 404);
      assert.equal((await fromInference('/products/clementine')).body.photos.length, 2);
      assert.equal((await operator.delete('/api/products/pears')).statusCode, 204);
      await waitUntil('the changes pushed live', () => {
        const last = pushed().at(-1);
        return last?.products.length === 1 && last.products[0]!.photos === 2;
      });
      assert.equal((await fromInference('/products/pears')).status, 404);
    });
  },
);

test('product routes: a session, the CSRF token, this origin and an operator, checked before a photo is read; ids and the size checked before inference is asked', async (t) => {
  const broker = await startTestBroker(t);
  // Inference down (helpers.ts): a call that passes every check gets 502.
  const { app } = await startConsole(t, broker.url);
  const http = app.runtime.http;
  const photos = await form([{ bytes: png(16, 16) }]);
  assert.equal((await http.inject({ url: '/api/products' })).statusCode, 401);
  const anonymous = await http.inject({ method: 'POST', url: '/api/products/x/photos', payload: photos.payload, headers: { 'content-type': photos.type } });
  assert.equal(anonymous.statusCode, 401);

  const operator = client(app, await login(app, OPERATOR));
  const down = await operator.get('/api/products');
  assert.equal(down.statusCode, 502);
  assert.deepEqual(down.json(), { error: 'bad gateway', message: 'inference cannot be reached' });
  assert.equal((await operator.upload('/api/products/x/photos', photos)).statusCode, 502);
  assert.equal((await operator.get('/api/products/x/photos/abc')).statusCode, 502);

  // Refused before any upstream call (which would be a 502 here).
  for (const url of ['/api/products/..%2F..%2Fmodels', `/api/products/${'p'.repeat(65)}`, '/api/products/-x', '/api/products/a%20b']) {
    for (const res of [
      await operator.get(url),
      await operator.put(url, { name: 'x' }),
      await operator.delete(url),
      await operator.upload(`${url}/photos`, photos),
      await operator.get(`${url}/photos/abc`),
    ]) {
      assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
      assert.match(res.json().message, /^id: must be 1-64 characters/);
    }
  }
  const badPhoto = await operator.delete('/api/products/x/photos/..%2Fx');
  assert.equal(badPhoto.statusCode, 400);
  assert.match(badPhoto.json().message, /^photo: /);

  // Over 64 MiB: refused by the console, never passed on.
  const oversize = { payload: Buffer.alloc(PRODUCT_PHOTOS_BODY_LIMIT + 1, 0x41), type: photos.type };
  const tooLarge = await operator.upload('/api/products/x/photos', oversize);
  assert.equal(tooLarge.statusCode, 413);
  assert.deepEqual(tooLarge.json(), { error: 'payload too large', message: 'the photos are over 64 MiB together: send fewer at a time' });
  assert.equal((await operator.upload('/api/products/x/photos', { payload: Buffer.from('{}'), type: 'application/json' })).statusCode, 415);
  assert.equal((await operator.upload('/api/products/x/photos', { payload: Buffer.alloc(0), type: photos.type })).statusCode, 400);

  // Everyone else is refused before the body is read: a viewer's 64 MiB is a 403, not a 413.
  const viewer = client(app, await login(app, VIEWER));
  const refused = await viewer.upload('/api/products/x/photos', oversize);
  assert.equal(refused.statusCode, 403);
  assert.match(refused.json().message, /viewer account/);
  const noToken = await operator.upload('/api/products/x/photos', oversize, { 'x-csrf-token': 'wrong' });
  assert.equal(noToken.statusCode, 403);
  assert.match(noToken.json().message, /X-CSRF-Token/);
  const crossOrigin = await operator.upload('/api/products/x/photos', photos, { origin: 'http://evil.example' });
  assert.equal(crossOrigin.statusCode, 403);
  assert.match(crossOrigin.json().message, /cross-origin/);
});

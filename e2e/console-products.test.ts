/**
 * The console's Products page in a real browser (Debian's Chromium through playwright-core) on the
 * whole dev stack, the video showing a tangerine on the counter again and again. The operator
 * teaches a product from a photo of that tangerine (a JPEG file, sent as a browser sends a file
 * input): it is listed with one photo and its thumbnail, and the camera's objects are recognised
 * as it from then on. Another operator's change shows up without a reload. The photo is deleted,
 * the product renamed and deleted (by keyboard, through its confirmation). A viewer sees the list
 * and nothing to change it with. axe-core checks each view; screenshots go to .artefacts/console/.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectAsync } from 'mqtt';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { setAccount } from '@sightline/console';
import { channels } from '@sightline/schemas';
import { axeViolations, launchBrowser, screenshot, scrollsSideways } from './browser.ts';
import { makeItemVideo } from './item-video.ts';
import { launchStack } from './launch.ts';

const PRODUCT = 'clementine';

async function expectNoViolations(page: Page, where: string): Promise<void> {
  const violations = await axeViolations(page);
  assert.deepEqual(violations, [], `axe on ${where}: ${JSON.stringify(violations, null, 1)}`);
}

async function until(what: string, check: () => boolean, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}:\n${output().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A photo of the tangerine as the camera sees it (the video's grey counter), as a phone would save it. */
async function tangerinePhoto(dir: string): Promise<string> {
  const emoji = join(createRequire(import.meta.url).resolve('@lobehub/fluent-emoji-3d/package.json'), '..', 'assets', '1f34a.webp');
  const file = join(dir, 'tangerine.jpg');
  await sharp({ create: { width: 640, height: 480, channels: 3, background: '#808080' } })
    .composite([{ input: await sharp(emoji).resize(260, 260).png().toBuffer(), gravity: 'centre' }])
    .jpeg({ quality: 90 })
    .toFile(file);
  return file;
}

/** Whether every image the locator finds has loaded (a picture, not a broken image). */
const loaded = (page: Page, selector: string) =>
  page.waitForFunction((s) => {
    const images = Array.from(document.querySelectorAll<HTMLImageElement>(s));
    return images.length > 0 && images.every((img) => img.complete && img.naturalWidth > 0);
  }, selector);

test(
  'the Products page in Chromium: a product taught from a photo is listed with its thumbnail and recognised on the camera; changes by others show up live; photo and product deleted; viewers only look',
  { timeout: 300_000 },
  async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sightline-e2e-products-'));
    t.after(() => rmSync(dataDir, { recursive: true, force: true }));
    const video = await makeItemVideo(dataDir, { emptySeconds: 2, itemSeconds: 4 });
    const photo = await tangerinePhoto(dataDir);
    const stack = await launchStack(dataDir, { SIGHTLINE_CAPTURE_SOURCE: video, SIGHTLINE_CAPTURE_FPS: '5' });
    t.after(() => stack.kill());
    const base = `http://localhost:${stack.httpPorts.SIGHTLINE_CONSOLE_HTTP_PORT}`;
    const adminPassword = readFileSync(join(dataDir, 'credentials', 'console-admin'), 'utf8');

    // What inference names the camera's objects.
    const bus = await connectAsync(`mqtt://127.0.0.1:${stack.mqttPort}`, { protocolVersion: 4, ...stack.login('operator') });
    t.after(() => bus.endAsync(true));
    const labels: Array<{ at: number; labels: string[] }> = [];
    bus.on('message', (_topic, payload) => {
      const d = channels.detections.codec.decode(payload);
      labels.push({ at: d.capturedAt, labels: d.objects.map((o) => o.label) });
    });
    await bus.subscribeAsync('sightline/cameras/demo/detections', { qos: 0 });

    const browser = await launchBrowser();
    t.after(() => browser.close());
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));

    await page.goto(base);
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password').fill(adminPassword);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Live', level: 1 }).waitFor();
    await page.getByRole('link', { name: 'Products' }).click();
    await page.getByRole('heading', { name: 'Products', level: 1 }).waitFor();
    // Recognition loads its backbone after the detector: the list comes when inference has it.
    await page.getByText('No product has been taught yet.').waitFor({ timeout: 60_000 });
    await expectNoViolations(page, 'the products page, empty');

    await t.test('a bad id is refused in the page, with the reason, before anything is sent', async () => {
      await page.getByLabel('Product id').fill('not an id!');
      await page.getByRole('button', { name: 'Teach the product' }).click();
      await page.getByRole('alert').filter({ hasText: 'Not sent: The product id must be 1-64 letters' }).waitFor();
      assert.equal(await page.getByLabel('Product id').getAttribute('aria-invalid'), 'true');
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'teach-id', 'the field to fix has the focus');
      await expectNoViolations(page, 'the products page with a refusal');
    });

    let taughtAt = 0;
    await t.test('taught from a photo file: listed with 1 photo and its thumbnail', async () => {
      await page.getByLabel('Product id').fill(PRODUCT);
      await page.getByLabel('Name (optional)').fill('Clementines');
      await page.getByLabel('Photos', { exact: true }).setInputFiles(photo);
      assert.equal(await page.getByLabel(/the object the detector finds/).isChecked(), true, "the detector's box by default");
      await page.getByRole('button', { name: 'Teach the product' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: `Taught ${PRODUCT}: 1 photo added, 1 in all.` })
        .waitFor({ timeout: 60_000 });
      taughtAt = Date.now();
      const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: PRODUCT, exact: true }) });
      await row.getByRole('cell', { name: '1 photo', exact: true }).waitFor();
      await row.getByText('Clementines').waitFor();
      await loaded(page, 'img.thumbnail');
      await expectNoViolations(page, 'the products page with a product');
      const size = page.viewportSize()!;
      await page.setViewportSize({ width: 640, height: 720 });
      assert.equal(await scrollsSideways(page), false, 'the products page scrolls sideways at 640 px (1280 px at 200 %)');
      await page.setViewportSize(size);
      await screenshot(page, '08-products');
    });

    await t.test('and used at once: the camera’s tangerine is recognised as the product', async () => {
      await until(
        'a frame after the teaching names the product',
        () => labels.some((l) => l.at > taughtAt && l.labels.includes(PRODUCT)),
        45_000,
        stack.output,
      );
    });

    await t.test('another operator’s change shows up without a reload', async () => {
      const login = await fetch(`${base}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: adminPassword }),
      });
      assert.equal(login.status, 200);
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      const { csrf } = (await login.json()) as { csrf: string };
      const made = await fetch(`${base}/api/products/pears`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrf, origin: base },
        body: JSON.stringify({ name: 'Conference pears' }),
      });
      assert.equal(made.status, 201, await made.text());
      const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'pears', exact: true }) });
      await row.getByText('Conference pears').waitFor({ timeout: 10_000 });
      await row.getByRole('cell', { name: '0 photos', exact: true }).waitFor();
    });

    await t.test('the product’s photo shown and deleted; the product renamed', async () => {
      await page.getByRole('link', { name: PRODUCT, exact: true }).click();
      await page.getByRole('heading', { name: `Product Clementines (${PRODUCT})`, level: 1 }).waitFor();
      const image = page.getByRole('img', { name: `Photo 1 of Clementines (${PRODUCT})` });
      await image.waitFor();
      await loaded(page, '.photos img');
      await page.getByText("Photo 1: cut to the detector's box").waitFor();
      await expectNoViolations(page, "a product's page");
      await screenshot(page, '09-product');
      await page.getByRole('button', { name: 'Delete photo 1' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: `Photo 1 of ${PRODUCT} deleted.` })
        .waitFor();
      await page.getByText(`No photo yet: until it has one, nothing is recognised as ${PRODUCT}.`).waitFor();
      assert.equal(await image.count(), 0);
      await page.getByRole('textbox', { name: 'Name', exact: true }).fill('Easy peelers');
      await page.getByRole('button', { name: 'Save the name' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: `${PRODUCT} is now called Easy peelers.` })
        .waitFor();
      await page.getByRole('heading', { name: `Product Easy peelers (${PRODUCT})`, level: 1 }).waitFor();
    });

    await t.test('the product deleted by keyboard alone, through its confirmation', async () => {
      await page.getByRole('button', { name: `Delete ${PRODUCT}…` }).focus();
      await page.keyboard.press('Enter');
      await page.getByRole('group', { name: `Delete ${PRODUCT} and its 0 photos? Objects will no longer be recognised as it.` }).waitFor();
      // The confirmation takes the focus as it renders: wait for it rather than read it at once.
      await page.waitForFunction(() => document.activeElement?.textContent === 'Cancel', undefined, { timeout: 5000 }).catch(() => {});
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Cancel', 'the safe choice has the focus');
      await expectNoViolations(page, "a product's page asking to confirm");
      await page.keyboard.press('Shift+Tab');
      await page.waitForFunction((name) => document.activeElement?.textContent === name, `Yes, delete ${PRODUCT}`, { timeout: 5000 }).catch(() => {});
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), `Yes, delete ${PRODUCT}`);
      await page.keyboard.press('Enter');
      await page
        .getByRole('status')
        .filter({ hasText: `${PRODUCT} deleted, with its photos` })
        .waitFor();
      await page.getByRole('heading', { name: 'Products', level: 1 }).waitFor();
      assert.equal(new URL(page.url()).hash, '#/products');
      await page.getByRole('link', { name: PRODUCT, exact: true }).waitFor({ state: 'detached' });
      await page.getByRole('link', { name: 'pears', exact: true }).waitFor();
    });

    await t.test('a viewer sees the products and nothing to change them with', async () => {
      await setAccount(join(dataDir, 'console', 'users.json'), 'watcher', 'a viewer password', 'viewer');
      const viewer = await browser.newContext();
      t.after(() => viewer.close());
      const other = await viewer.newPage();
      other.on('pageerror', (err) => pageErrors.push(err.message));
      await other.goto(`${base}/#/products`);
      await other.getByLabel('User name').fill('watcher');
      await other.getByLabel('Password').fill('a viewer password');
      await other.getByRole('button', { name: 'Log in' }).click();
      await other.getByRole('heading', { name: 'Products', level: 1 }).waitFor();
      await other.getByRole('link', { name: 'pears', exact: true }).waitFor();
      await other.getByText('an operator account can teach and change them').waitFor();
      assert.equal(await other.locator('form').count(), 0, 'no upload form');
      assert.equal(await other.locator('input[type="file"]').count(), 0);
      await expectNoViolations(other, 'the products page for a viewer');
      await other.getByRole('link', { name: 'pears', exact: true }).click();
      await other.getByRole('heading', { name: 'Product Conference pears (pears)', level: 1 }).waitFor();
      assert.equal(await other.getByRole('button', { name: /Delete|Save|Add/ }).count(), 0, 'no change buttons');
      await expectNoViolations(other, "a product's page for a viewer");
    });

    assert.deepEqual(pageErrors, [], 'no script errors');
  },
);

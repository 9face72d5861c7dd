/**
 * The console in a real browser (Debian's Chromium through playwright-core) on the whole dev
 * stack: a video shows a teddy bear (not sold: an unknown-item alert with its frame) and an
 * orange (scanned). Logged in as the stack's operator, the browser sees frames painted with the
 * boxes of those very frames, the lane's basket fill and its live region say what was said,
 * the alert acknowledged and resolved with its snapshot, the model switched; a viewer account can
 * look but not change. axe-core runs on every page; screenshots go to .artefacts/console/.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectAsync } from 'mqtt';
import type { Page } from 'playwright-core';
import { setAccount } from '@sightline/console';
import { channels, type Detections, type Speech } from '@sightline/schemas';
import { axeViolations, launchBrowser, screenshot, scrollsSideways, widestElements } from './browser.ts';
import { makeItemVideo } from './item-video.ts';
import { launchStack } from './launch.ts';

const LANE = 'lane-1';

async function expectNoViolations(page: Page, where: string): Promise<void> {
  const violations = await axeViolations(page);
  assert.deepEqual(violations, [], `axe on ${where}: ${JSON.stringify(violations, null, 1)}`);
}

/** Usable at 200 % zoom: the same page at half the width does not scroll sideways. */
async function expectNoSidewaysScroll(page: Page, where: string): Promise<void> {
  const size = page.viewportSize()!;
  await page.setViewportSize({ width: 640, height: 720 });
  try {
    if (await scrollsSideways(page)) assert.fail(`${where} scrolls sideways at 640 px (1280 px at 200 %): ${(await widestElements(page)).join('; ')}`);
  } finally {
    await page.setViewportSize(size);
  }
}

test(
  'the console in Chromium: live boxes on their own frames, a lane screen that speaks, alerts handled, a model switched, viewers kept read-only',
  { timeout: 300_000 },
  async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sightline-e2e-console-'));
    t.after(() => rmSync(dataDir, { recursive: true, force: true }));
    const video = await makeItemVideo(dataDir, { first: { codepoint: '1f9f8', seconds: 3 } });
    const stack = await launchStack(dataDir, { SIGHTLINE_CAPTURE_SOURCE: video, SIGHTLINE_CAPTURE_FPS: '5' });
    t.after(() => stack.kill());
    const base = `http://localhost:${stack.httpPorts.SIGHTLINE_CONSOLE_HTTP_PORT}`;
    const adminPassword = readFileSync(join(dataDir, 'credentials', 'console-admin'), 'utf8');

    // What the bus says, to compare with what the page shows.
    const bus = await connectAsync(`mqtt://127.0.0.1:${stack.mqttPort}`, { protocolVersion: 4, ...stack.login('operator') });
    t.after(() => bus.endAsync(true));
    const detections = new Map<number, Detections>();
    const speeches: Speech[] = [];
    const controls: Array<{ command?: string; source?: string }> = [];
    const controlResults: Array<{ command?: string; outcome?: string }> = [];
    bus.on('message', (topic, payload) => {
      if (topic === 'sightline/cameras/demo/detections') {
        const d = channels.detections.codec.decode(payload);
        detections.set(d.seq, d);
      } else if (topic === `sightline/lanes/${LANE}/speech`) speeches.push(channels.speech.codec.decode(payload));
      else if (topic === `sightline/lanes/${LANE}/control`) controls.push(JSON.parse(payload.toString()));
      else if (topic === `sightline/lanes/${LANE}/control/result`) controlResults.push(JSON.parse(payload.toString()));
    });
    await bus.subscribeAsync([
      'sightline/cameras/demo/detections',
      `sightline/lanes/${LANE}/speech`,
      `sightline/lanes/${LANE}/control`,
      `sightline/lanes/${LANE}/control/result`,
    ]);

    const browser = await launchBrowser();
    t.after(() => browser.close());
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const outside: string[] = [];
    page.on('request', (request) => {
      if (
        !request.url().startsWith(base) &&
        !request.url().startsWith('ws://localhost') &&
        !request.url().startsWith('blob:') &&
        !request.url().startsWith('data:')
      )
        outside.push(request.url());
    });
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));

    await t.test('login: refused with the reason, then in; the page needs nothing from elsewhere', async () => {
      await page.goto(base);
      await page.getByLabel('User name').waitFor();
      await expectNoViolations(page, 'the login page');
      await screenshot(page, '01-login');
      await page.getByLabel('User name').fill('admin');
      await page.getByLabel('Password').fill('not the password');
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('alert').filter({ hasText: 'wrong user name or password' }).waitFor();
      await page.getByLabel('Password').fill(adminPassword);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('heading', { name: 'Live', level: 1 }).waitFor();
      const cookies = await context.cookies();
      const session = cookies.find((c) => c.name === 'sightline_session');
      assert.ok(session, 'a session cookie');
      assert.equal(session.httpOnly, true);
      assert.equal(session.secure, true);
      assert.equal(session.sameSite, 'Strict');
    });

    await t.test('live: every frame painted carries the boxes inference found in that very frame', async () => {
      await page.waitForFunction(
        () =>
          (window as unknown as { sightlineLive: { painted: Array<{ objects: unknown[] | null }> } }).sightlineLive.painted.filter(
            (p) => (p.objects?.length ?? 0) > 0,
          ).length >= 5,
        null,
        { timeout: 90_000 },
      );
      const painted = await page.evaluate(
        () =>
          (window as unknown as { sightlineLive: { painted: Array<{ camera: string; seq: number; objects: unknown[] | null; latencyMs: number }> } })
            .sightlineLive.painted,
      );
      const boxed = painted.filter((p) => p.objects !== null);
      assert.ok(boxed.length >= 5, `${boxed.length} frames painted with detections`);
      let compared = 0;
      for (const p of boxed) {
        const published = detections.get(p.seq);
        if (!published) continue; // subscribed a little after the page
        assert.deepEqual(p.objects, published.objects, `frame ${p.seq}: the boxes drawn are those of frame ${p.seq}`);
        compared += 1;
      }
      assert.ok(compared >= 5, `compared ${compared} painted frames with their detections`);
      await expectNoViolations(page, 'the live page');
      await expectNoSidewaysScroll(page, 'the live page');
      await screenshot(page, '02-live');
      await page.getByRole('link', { name: 'demo' }).click();
      await page.getByRole('heading', { name: 'Camera demo' }).waitFor();
      await page.getByRole('table').waitFor({ timeout: 10_000 });
      await expectNoViolations(page, 'the single-camera view');
      await screenshot(page, '03-camera');
    });

    await t.test('lane screen: the basket fills, the live region says what the lane said, a key sends a control', async () => {
      await page.goto(`${base}/#/lanes/${LANE}`);
      await page.getByRole('heading', { name: `Lane ${LANE}` }).waitFor();
      await page.locator('table.basket').getByText('Orange').first().waitFor({ timeout: 90_000 });
      const region = page.getByRole('status').first();
      assert.equal(await region.getAttribute('aria-live'), 'polite');
      await page.waitForFunction(() => document.querySelector('.said')?.textContent !== 'Nothing said yet.');
      const shown = await region.textContent();
      // The page and this test hear the lane through separate subscriptions: the page may show
      // the sentence a moment before this process has read it off its socket.
      for (const by = Date.now() + 10_000; !speeches.some((s) => s.text === shown) && Date.now() < by;) await new Promise((r) => setTimeout(r, 50));
      assert.ok(
        speeches.some((s) => s.text === shown),
        `the live region says ${JSON.stringify(shown)}; the lane said ${JSON.stringify(speeches.map((s) => s.text))}`,
      );
      await page.locator('body').press('5');
      await page.waitForFunction(() => /repeat: repeated/.test(document.querySelector('.result')?.textContent ?? ''), null, { timeout: 15_000 });
      assert.ok(
        controls.some((c) => c.command === 'repeat' && c.source === 'screen'),
        `a repeat from the screen on the bus: ${JSON.stringify(controls)}`,
      );
      assert.ok(
        controlResults.some((r) => r.command === 'repeat'),
        `its result on the bus: ${JSON.stringify(controlResults)}`,
      );
      await expectNoViolations(page, 'the lane screen');
      await expectNoSidewaysScroll(page, 'the lane screen');
      await screenshot(page, '04-lane');
    });

    await t.test('alerts: the unknown item is listed with its snapshot, acknowledged, then resolved', async () => {
      await page.goto(`${base}/#/alerts`);
      await page.getByRole('heading', { name: 'Alerts' }).waitFor();
      const row = page.locator('tr', { hasText: 'unknown-item' }).first();
      await row.waitFor({ timeout: 90_000 });
      const image = row.locator('img.snapshot');
      await image.waitFor();
      await page.waitForFunction(() => {
        const img = document.querySelector<HTMLImageElement>('img.snapshot');
        return img !== null && img.complete && img.naturalWidth > 0;
      });
      await expectNoViolations(page, 'the alerts page');
      await screenshot(page, '05-alerts');
      await expectNoSidewaysScroll(page, 'the alerts page with its actions');
      await row.getByRole('button', { name: /^Acknowledge/ }).click();
      await page.getByRole('status').filter({ hasText: 'unknown-item acknowledged' }).waitFor();
      await page
        .locator('tr', { hasText: 'unknown-item' })
        .first()
        .getByRole('button', { name: /^Resolve/ })
        .click();
      await page.getByRole('status').filter({ hasText: 'unknown-item resolved' }).waitFor();
      await page.getByLabel('State').selectOption('resolved');
      await page.locator('tr', { hasText: 'unknown-item' }).first().waitFor();
      // The list is the filtered one once no row offers an action (a resolved alert has none).
      await page.waitForFunction(() => document.querySelector('table.alerts td.actions button') === null);
      await expectNoSidewaysScroll(page, 'the alerts page');
    });

    await t.test('services and models: every service ready; the model switched and the result shown', async () => {
      await page.goto(`${base}/#/services`);
      await page.getByRole('heading', { name: 'Services and models' }).waitFor();
      await page.locator('td.ok', { hasText: 'ready' }).nth(8).waitFor({ timeout: 30_000 });
      assert.equal(await page.locator('td.bad').count(), 0, 'no service not ready');
      await page.getByLabel('Model').selectOption('centernet-coco');
      await page.getByRole('button', { name: 'Switch model' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: /Now running centernet-coco/ })
        .waitFor({ timeout: 120_000 });
      await expectNoViolations(page, 'the services page');
      await expectNoSidewaysScroll(page, 'the services page');
      await screenshot(page, '06-services');
    });

    await t.test('a viewer can look but not change; logged out, the API answers 401', async () => {
      await setAccount(join(dataDir, 'console', 'users.json'), 'watcher', 'a viewer password', 'viewer');
      const viewer = await browser.newContext();
      t.after(() => viewer.close());
      const other = await viewer.newPage();
      await other.goto(base);
      await other.getByLabel('User name').fill('watcher');
      await other.getByLabel('Password').fill('a viewer password');
      await other.getByRole('button', { name: 'Log in' }).click();
      await other.getByRole('heading', { name: 'Live' }).waitFor();
      await other.goto(`${base}/#/alerts`);
      await other.getByRole('heading', { name: 'Alerts' }).waitFor();
      await other.locator('tr', { hasText: 'unknown-item' }).first().waitFor({ timeout: 30_000 });
      assert.equal(await other.getByRole('button', { name: /^Acknowledge|^Resolve/ }).count(), 0, 'no change buttons for a viewer');
      const refused = await other.evaluate(async () => {
        const session = await (await fetch('/api/session')).json();
        const res = await fetch('/api/models/current', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrf },
          body: '{"model":"centernet-coco"}',
        });
        return { status: res.status, body: await res.json() };
      });
      assert.equal(refused.status, 403);
      assert.match(refused.body.message, /viewer account/);
      await other.getByRole('button', { name: 'Log out' }).click();
      await other.getByLabel('User name').waitFor();
      assert.equal(await other.evaluate(async () => (await fetch('/api/lanes')).status), 401);
    });

    assert.deepEqual(outside, [], 'no request beyond the console');
    assert.deepEqual(pageErrors, [], 'no script errors');
  },
);

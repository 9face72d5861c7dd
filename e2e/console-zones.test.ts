/**
 * The console's zone editor in a real browser (Debian's Chromium through playwright-core) on the
 * whole dev stack, the video showing an orange in the middle of the counter again and again. With
 * the default scan zone (the whole frame) lane-1 scans it. The operator redraws lane-1's scan zone
 * by clicking a small square in a corner onto the frame and saves it: checkout answers that zone,
 * and the orange is no longer scanned, with no restart. Then a point is dragged, another moved
 * and removed by keyboard, a zone crossing itself is typed into the points table and refused with
 * checkout's reason, and a viewer sees the zones with no way to change them. axe-core checks the
 * page; the screenshot goes to .artefacts/console/07-zones.png.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectAsync } from 'mqtt';
import type { Page } from 'playwright-core';
import { defaultRules } from '@sightline/alert';
import { setAccount } from '@sightline/console';
import { channels, scanSchema, type Scan } from '@sightline/schemas';
import { axeViolations, launchBrowser, screenshot, scrollsSideways } from './browser.ts';
import { makeItemVideo } from './item-video.ts';
import { launchStack } from './launch.ts';

const LANE = 'lane-1';
/** The new scan zone: a square in the top-left corner, where the orange never is (it sits in the middle). */
const CORNER: Array<[number, number]> = [
  [0.03, 0.03],
  [0.15, 0.03],
  [0.15, 0.15],
  [0.03, 0.15],
];

async function expectNoViolations(page: Page, where: string): Promise<void> {
  const violations = await axeViolations(page);
  assert.deepEqual(violations, [], `axe on ${where}: ${JSON.stringify(violations, null, 1)}`);
}

/** An input's value as a number, once it is `expected` (the page draws after the key). */
async function valueBecomes(page: Page, label: string, expected: number): Promise<void> {
  const input = page.getByLabel(label, { exact: true });
  const deadline = Date.now() + 5000;
  while (Number(await input.inputValue()) !== expected) {
    if (Date.now() > deadline) assert.fail(`${label} is ${await input.inputValue()}, not ${expected}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function until(what: string, check: () => boolean, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}:\n${output().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test(
  'the zone editor in Chromium: a scan zone redrawn by clicking on the frame is saved to checkout and used at once; a crossing zone refused with the reason',
  { timeout: 150_000 },
  async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sightline-e2e-zones-'));
    t.after(() => rmSync(dataDir, { recursive: true, force: true }));
    // A short loop: 2 s of empty counter, then the orange for 4 s.
    const video = await makeItemVideo(dataDir, { emptySeconds: 2, itemSeconds: 4 });
    // A restricted zone too, so the page lists both kinds.
    const rulesFile = join(dataDir, 'rules.json');
    writeFileSync(
      rulesFile,
      JSON.stringify({
        rules: [
          ...defaultRules(),
          {
            id: 'back-door',
            type: 'person-in-zone',
            camera: 'demo',
            zone: [
              [0.7, 0.1],
              [0.95, 0.1],
              [0.95, 0.6],
              [0.7, 0.6],
            ],
          },
        ],
      }),
    );
    const stack = await launchStack(dataDir, { SIGHTLINE_CAPTURE_SOURCE: video, SIGHTLINE_CAPTURE_FPS: '5', SIGHTLINE_ALERT_RULES_FILE: rulesFile });
    t.after(() => stack.kill());
    const base = `http://localhost:${stack.httpPorts.SIGHTLINE_CONSOLE_HTTP_PORT}`;
    const checkout = `http://127.0.0.1:${stack.httpPorts.SIGHTLINE_CHECKOUT_HTTP_PORT}`;
    const adminPassword = readFileSync(join(dataDir, 'credentials', 'console-admin'), 'utf8');

    // Every scan of the lane, and when the camera's frames show the orange.
    const bus = await connectAsync(`mqtt://127.0.0.1:${stack.mqttPort}`, { protocolVersion: 4, ...stack.login('operator') });
    t.after(() => bus.endAsync(true));
    const scans: Scan[] = [];
    const frames: Array<{ at: number; orange: boolean }> = [];
    bus.on('message', (topic, payload) => {
      if (topic === `sightline/lanes/${LANE}/scan`) scans.push(scanSchema.parse(JSON.parse(payload.toString())));
      else {
        const d = channels.detections.codec.decode(payload);
        frames.push({ at: d.capturedAt, orange: d.objects.some((o) => o.label === 'orange') });
      }
    });
    await bus.subscribeAsync([`sightline/lanes/${LANE}/scan`, 'sightline/cameras/demo/detections'], { qos: 1 });

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
    await page.getByRole('link', { name: 'Zones' }).click();
    await page.getByRole('heading', { name: 'Zones', level: 1 }).waitFor();
    const picker = page.getByLabel('Zone', { exact: true });
    await picker.waitFor();
    assert.deepEqual(await picker.locator('option').allTextContents(), [
      'Scan zone of lane lane-1 (camera demo)',
      'Restricted zone of rule back-door (camera demo)',
    ]);
    await picker.selectOption({ label: 'Scan zone of lane lane-1 (camera demo)' });
    const rows = page.locator('table.points tbody th[scope="row"]');
    assert.equal(await rows.count(), 4, 'the default zone: the whole frame');
    await page.waitForFunction(
      () => (window as unknown as { sightlineLive: { painted: Array<{ camera: string }> } }).sightlineLive.painted.some((p) => p.camera === 'demo'),
      null,
      { timeout: 30_000 },
    );
    await expectNoViolations(page, 'the zones page');

    await t.test('with the whole frame as its zone, the lane scans the orange', async () => {
      await until('the orange is scanned', () => scans.some((s) => s.product.sku === 'PRODUCE-ORANGE'), 45_000, stack.output);
    });

    let savedAt = 0;
    await t.test('redrawn by clicking on the frame and saved: checkout answers the new zone', async () => {
      await page.getByRole('button', { name: 'Remove all points' }).click();
      assert.equal(await page.getByText('No points yet').count(), 1);
      // The mouse clicks where the frame is on screen: scrolled into view first.
      await page.locator('.zone-overlay').scrollIntoViewIfNeeded();
      const frame = (await page.locator('.zone-overlay').boundingBox())!;
      for (const [x, y] of CORNER) await page.mouse.click(frame.x + x * frame.width, frame.y + y * frame.height);
      assert.equal(await rows.count(), 4);
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByRole('status').filter({ hasText: 'Saved: the scan zone of lane lane-1 has 4 points' }).waitFor();
      savedAt = Date.now();
      const answer = (await (await fetch(`${checkout}/lanes/${LANE}/zone`)).json()) as { lane: string; camera: string; zone: Array<{ x: number; y: number }> };
      assert.equal(answer.lane, LANE);
      assert.equal(answer.zone.length, 4);
      answer.zone.forEach((p, i) => {
        assert.ok(Math.abs(p.x - CORNER[i]![0]) < 0.005 && Math.abs(p.y - CORNER[i]![1]) < 0.005, `point ${i}: ${JSON.stringify(p)} is where it was clicked`);
      });
      await screenshot(page, '07-zones');
    });

    await t.test('and used at once: the orange in the middle is no longer scanned', async () => {
      // A whole showing of the orange after the save: onto an empty counter, 3 s or more there, off again. With the
      // whole frame as the zone, the orange was scanned 1.1 s after it came (detected in every frame, 5 fps).
      const shownAgain = () => {
        const after = frames.filter((f) => f.at > savedAt);
        const arrived = after.findIndex((f, i) => i > 0 && f.orange && !after[i - 1]!.orange);
        if (arrived < 0) return false;
        const left = after.findIndex((f, i) => i > arrived && !f.orange);
        return left > 0 && after[left]!.at - after[arrived]!.at >= 3000;
      };
      await until('the orange is shown again after the save', shownAgain, 30_000, stack.output);
      const since = scans.filter((s) => s.at > savedAt);
      assert.deepEqual(
        since.map((s) => s.product.sku),
        [],
        'no scan while the orange sits outside the new zone',
      );
    });

    await t.test('a point dragged, another moved by the arrow keys and removed by Delete; Reset shows the saved zone again', async () => {
      const handle = (await page.getByRole('button', { name: /^Point 2:/ }).boundingBox())!;
      const frame = (await page.locator('.zone-overlay').boundingBox())!;
      await page.mouse.move(handle.x + handle.width / 2, handle.y + handle.height / 2);
      await page.mouse.down();
      await page.mouse.move(frame.x + 0.25 * frame.width, frame.y + 0.3 * frame.height, { steps: 5 });
      await page.mouse.up();
      const dragged = [Number(await page.getByLabel('Point 2 x (%)').inputValue()), Number(await page.getByLabel('Point 2 y (%)').inputValue())];
      assert.ok(Math.abs(dragged[0]! - 25) < 0.5 && Math.abs(dragged[1]! - 30) < 0.5, `point 2 dragged to ${dragged.join(', ')} %`);
      assert.equal(await rows.count(), 4, 'a drag adds no point');

      const first = page.getByRole('button', { name: /^Point 0:/ });
      await first.focus();
      const before = Number(await page.getByLabel('Point 0 x (%)').inputValue());
      await page.keyboard.press('ArrowRight');
      await page.keyboard.press('ArrowRight');
      await valueBecomes(page, 'Point 0 x (%)', Math.round((before + 2) * 100) / 100);
      await page.keyboard.press('Delete');
      await page.getByRole('button', { name: 'Point 3', exact: true }).waitFor({ state: 'detached' });
      assert.equal(await rows.count(), 3);
      await page.getByText('Unsaved changes.').waitFor();
      await page.getByRole('button', { name: 'Reset' }).click();
      await page.getByRole('status').filter({ hasText: 'The saved zone is shown again.' }).waitFor();
      assert.equal(await rows.count(), 4);
      await valueBecomes(page, 'Point 0 x (%)', before);
      await valueBecomes(page, 'Point 2 x (%)', 14.97);
    });

    await t.test('a zone crossing itself, typed into the points table, is refused with checkout’s reason', async () => {
      // Points 2 and 3 change places: (3, 15) then (15, 15) makes a bow tie.
      await page.getByLabel('Point 2 x (%)').fill('3');
      await page.getByLabel('Point 3 x (%)').fill('15');
      await page.getByRole('button', { name: 'Save' }).click();
      const refusal = page.getByRole('alert').filter({ hasText: 'Not saved' });
      await refusal.waitFor();
      assert.equal(await refusal.textContent(), 'Not saved: zone: edges 1-2 and 3-0 cross or touch: a zone must not cross itself');
      const kept = (await (await fetch(`${checkout}/lanes/${LANE}/zone`)).json()) as { zone: Array<{ x: number; y: number }> };
      assert.ok(Math.abs(kept.zone[2]!.x - 0.15) < 0.005, `checkout kept the saved zone: ${JSON.stringify(kept.zone)}`);
      await expectNoViolations(page, 'the zones page with a refusal');
      const size = page.viewportSize()!;
      await page.setViewportSize({ width: 640, height: 720 });
      assert.equal(await scrollsSideways(page), false, 'the zones page scrolls sideways at 640 px (1280 px at 200 %)');
      await page.setViewportSize(size);
    });

    await t.test('a viewer sees the zones and nothing to change them with', async () => {
      await setAccount(join(dataDir, 'console', 'users.json'), 'watcher', 'a viewer password', 'viewer');
      const viewer = await browser.newContext();
      t.after(() => viewer.close());
      const other = await viewer.newPage();
      await other.goto(`${base}/#/zones`);
      await other.getByLabel('User name').fill('watcher');
      await other.getByLabel('Password').fill('a viewer password');
      await other.getByRole('button', { name: 'Log in' }).click();
      await other.getByRole('heading', { name: 'Zones', level: 1 }).waitFor();
      await other.getByRole('img', { name: /scan zone of lane lane-1 on demo's frame: 4 points/ }).waitFor();
      assert.equal(await other.getByRole('button', { name: /^(Save|Reset|Add point|Remove point|Point \d)/ }).count(), 0, 'no editing controls');
      assert.equal(await other.locator('table.points input').count(), 0, 'no inputs in the points table');
      await expectNoViolations(other, 'the zones page for a viewer');
    });

    assert.deepEqual(pageErrors, [], 'no script errors');
  },
);

import { mkdirSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchBrowser } from '../support/browser.ts';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';

// Chromium is installed by .ci/run (apt-get install chromium); without it this file cannot run.
describe.skipIf(!hasChromium)('dashboard in Chromium against the real server with the demo facility', () => {
  let server: ServerProcess;
  let browser: Browser;
  let startedAt: number;

  beforeAll(async () => {
    startedAt = Date.now();
    server = await startServerProcess(['--demo']);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('signs in as the demo admin and shows projects with GPU-hours in the chart and its table', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const consoleErrors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    page.on('pageerror', (e) => consoleErrors.push(e.message));

    await page.goto(server.url);
    await page.getByTestId('demo-login-admin').click();
    // The demo sends its history through the ingest API; rows appear as soon as the first batches land.
    const firstRow = page.locator('[data-testid=usage-table] tbody tr').first();
    await firstRow.waitFor({ timeout: 60_000 });
    const populatedS = (Date.now() - startedAt) / 1000;
    console.log(`e2e: ${populatedS.toFixed(1)} s from server start to a populated chart`);

    const rows = await page.locator('[data-testid=usage-table] tbody tr').evaluateAll((trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent ?? '')),
    );
    expect(rows.length).toBeGreaterThanOrEqual(3);
    const gpuHours = rows.map((r) => Number(r[1]!.replace(/,/g, '')));
    expect(gpuHours.every((h) => h > 0)).toBe(true);
    // The chart drew something: its canvas is not blank.
    const inked = await page.getByTestId('usage-chart').evaluate((canvas) => {
      const c = canvas as HTMLCanvasElement;
      const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) n++;
      return n;
    });
    expect(inked).toBeGreaterThan(1000);
    mkdirSync('test/artifacts', { recursive: true });
    await page.screenshot({ path: 'test/artifacts/dashboard-usage.png', fullPage: true });
    expect(consoleErrors, consoleErrors.join("\n")).toEqual([]);
  });
});

/**
 * The dashboard's weight and speed, for `npm run bench` and the end-to-end tests:
 * - the shipped JavaScript, gzip-compressed (all of web/dist, and what the browser actually
 *   loads up to the first populated view);
 * - the time from a demo one-click sign-in to the role's first view showing data, in Chromium.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../support/browser.ts';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';

const distAssets = join(import.meta.dirname, '../../web/dist/assets');

/** Builds web/dist when it is missing or older than its sources, so a fresh install's bench measures the build it ships. */
export function buildDashboard(): void {
  execFileSync(process.execPath, [join(import.meta.dirname, '../../web/ensure-built.js')], { stdio: 'inherit' });
}

/** Gzip size of one built asset (level 9, as a static server would precompress it). */
export function gzipBytes(file: string): number {
  return gzipSync(readFileSync(join(distAssets, file)), { level: 9 }).length;
}

/** Gzip bytes of every JavaScript file the build ships. */
export function totalJsGzipBytes(): number {
  return readdirSync(distAssets)
    .filter((f) => f.endsWith('.js'))
    .reduce((s, f) => s + gzipBytes(f), 0);
}

/** A table row in the role's landing view: the view has data. */
export const populatedSelector = 'main table tbody tr';

/**
 * Signs in on `page` with the demo button for `role` and measures, in the page's own clock,
 * the milliseconds from the click to the first table row of the view it lands on; also
 * returns the gzip bytes of the JavaScript loaded by then.
 */
export async function measureFirstView(page: Page, url: string, role: string): Promise<{ renderMs: number; jsGzipBytes: number }> {
  const scripts = new Set<string>();
  page.on('response', (r) => {
    const m = /\/assets\/([^/?]+\.js)$/.exec(r.url());
    if (m) scripts.add(m[1]!);
  });
  await page.goto(url);
  const button = page.getByTestId(`demo-login-${role}`);
  await button.waitFor();
  // The click and the wait for the row both happen inside the page, so the figure holds no driver round trips.
  // No named functions inside: tsx (npm run bench) would wrap them in a helper the page lacks.
  const renderMs = await button.evaluate(
    (el, selector) =>
      new Promise<number>((resolve) => {
        const t0 = performance.now();
        new MutationObserver((_, observer) => {
          if (document.querySelector(selector) !== null) {
            observer.disconnect();
            resolve(performance.now() - t0);
          }
        }).observe(document.body, { childList: true, subtree: true });
        (el as HTMLButtonElement).click();
      }),
    populatedSelector,
  );
  return { renderMs, jsGzipBytes: [...scripts].reduce((s, f) => s + gzipBytes(f), 0) };
}

/** Waits until the demo has sent its month of history (the views then have full windows). */
export async function demoHistorySent(server: ServerProcess, timeoutMs = 300_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!/demo: history sent/.test(server.output())) {
    if (Date.now() > until) throw new Error(`demo history not sent in ${timeoutMs} ms:\n${server.output()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * `npm run bench` entry: JavaScript gzip sizes and the render time of each role's first
 * view on the demo (median of three sign-ins), against `url` or a demo server it starts.
 * Builds the dashboard first when it is missing or stale.
 */
export async function benchWeb(options: { url?: string } = {}): Promise<Record<string, number>> {
  buildDashboard();
  const results: Record<string, number> = { 'web: JS gzip bytes, whole build': totalJsGzipBytes() };
  let server: ServerProcess | null = null;
  let browser: Browser | null = null;
  try {
    let url = options.url;
    if (!url) {
      server = await startServerProcess(['--demo']);
      await demoHistorySent(server);
      url = server.url;
    }
    browser = await launchBrowser();
    for (const role of ['facility', 'committee', 'researcher']) {
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const context = await browser.newContext({ timezoneId: 'Europe/Copenhagen', locale: 'en-GB' });
        const page = await context.newPage();
        const { renderMs, jsGzipBytes } = await measureFirstView(page, url, role);
        times.push(renderMs);
        results[`web: JS gzip bytes to first view (${role})`] = jsGzipBytes;
        await context.close();
      }
      results[`web: first populated view after sign-in (${role}), median ms`] = times.sort((a, b) => a - b)[1]!;
    }
  } finally {
    await browser?.close();
    await server?.stop();
  }
  return results;
}

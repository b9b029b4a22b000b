/**
 * Issue 15.5 in Chromium: a newcomer who signs in right after `npm start` sees that the
 * demo's history is still loading, and how far it is, instead of "0 GPUs busy" and empty
 * charts without a word; the line goes once the history is in.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchBrowser } from '../support/browser.ts';
import { missing } from '../support/requirements.ts';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';

describe.skipIf(missing('Chromium at /usr/bin/chromium', hasChromium))('the dashboard while the demo history loads', () => {
  let server: ServerProcess;
  let browser: Browser;

  beforeAll(async () => {
    // The full month, as `npm start` sends it: long enough to sign in while it loads.
    server = await startServerProcess(['--demo'], { HEATLEDGER_DEMO_DAYS: '30' });
    browser = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('shows "loading 30 days of history: N %" until the history is in, in English and Danish', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'Europe/Copenhagen', locale: 'en-GB' });
    const page = await context.newPage();
    await page.goto(server.url);
    await page.getByTestId('demo-login-facility').click();
    const banner = page.getByTestId('demo-history');
    await banner.waitFor({ timeout: 30_000 });
    const text = (await banner.textContent()) ?? '';
    const m = /^Loading 30 days of history: (\d+) % \(the figures fill in as it arrives\)$/.exec(text.trim());
    expect(m, text).not.toBeNull();
    const shown = Number(m![1]);
    // What the page shows is what the server said a moment ago: never ahead of it, and not done.
    const health = (await (await fetch(`${server.url}/api/health`)).json()) as { demoHistory: { percent: number; done: boolean } };
    expect(shown).toBeGreaterThanOrEqual(0);
    expect(shown).toBeLessThan(100);
    expect(shown).toBeLessThanOrEqual(health.demoHistory.percent);

    // Danish: the same line in the other language.
    const da = await browser.newContext({ timezoneId: 'Europe/Copenhagen', locale: 'da-DK' });
    const daPage = await da.newPage();
    await daPage.goto(server.url);
    await daPage.getByTestId('demo-login-facility').click();
    const daText = (await daPage.getByTestId('demo-history').textContent({ timeout: 30_000 })) ?? '';
    expect(daText.trim()).toMatch(/^Indlæser 30 dages historik: \d+ % \(tallene fyldes ud, efterhånden som den kommer\)$/);
    await da.close();

    // It goes when the history is in, and the page then shows the machine's figures.
    await banner.waitFor({ state: 'detached', timeout: 240_000 });
    const after = (await (await fetch(`${server.url}/api/health`)).json()) as { demoHistory: { percent: number; done: boolean } };
    expect(after.demoHistory).toEqual({ historyDays: 30, percent: 100, done: true });
    await context.close();
  }, 300_000);
});

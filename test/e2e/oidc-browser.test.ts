/**
 * Issue 16 point 1 in Chromium: the dashboard's "Sign in with …" button, the provider's own
 * sign-in and consent pages (oidc-provider, started here), back in the dashboard as that
 * person; signing out goes through the provider's logout and back to the sign-in page.
 */
import { resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchBrowser } from '../support/browser.ts';
import { reserve, startHeatLedger, startProvider, type HeatLedgerServer, type TestProvider } from '../support/oidc-provider.ts';
import { missing } from '../support/requirements.ts';

// The dashboard as `npm test` builds it (HEATLEDGER_WEB_DIR: another build of it).
const webDir = process.env.HEATLEDGER_WEB_DIR || resolve(import.meta.dirname, '../../web/dist');

describe.skipIf(missing('Chromium at /usr/bin/chromium', hasChromium))('single sign-on in Chromium', () => {
  let provider: TestProvider;
  let hl: HeatLedgerServer;
  let browser: Browser;

  beforeAll(async () => {
    const spot = await reserve();
    provider = await startProvider({
      accounts: { cora: { preferred_username: 'cora', groups: ['hpc-committee'], email: 'cora@example.org' } },
      clients: [
        {
          client_id: 'heatledger',
          client_secret: 'browser-secret',
          redirect_uris: [`${spot.url}/api/v1/auth/oidc/callback`],
          post_logout_redirect_uris: [`${spot.url}/`],
        },
      ],
    });
    hl = await startHeatLedger(spot, {
      HEATLEDGER_OIDC_ISSUER: provider.issuer,
      HEATLEDGER_OIDC_CLIENT_ID: 'heatledger',
      HEATLEDGER_OIDC_CLIENT_SECRET: 'browser-secret',
      HEATLEDGER_OIDC_NAME: 'DeiC Login',
      HEATLEDGER_OIDC_SCOPES: 'openid profile email groups',
      HEATLEDGER_OIDC_ROLE_MAP: 'hpc-committee=committee',
      HEATLEDGER_WEB_DIR: webDir,
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await hl?.stop();
    await provider?.stop();
  });

  async function open(locale: string): Promise<{ page: Page; errors: string[] }> {
    const context = await browser.newContext({ locale, timezoneId: 'Europe/Copenhagen' });
    const page = await context.newPage();
    const errors: string[] = [];
    // Only the dashboard's own errors: the provider's pages ask for a web font that cannot load here.
    page.on('console', (m) => m.type() === 'error' && page.url().startsWith(hl.url) && !/Failed to load resource/.test(m.text()) && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    return { page, errors };
  }

  it('offers the provider on the sign-in page, in Danish too', async () => {
    const { page } = await open('da-DK');
    await page.goto(hl.url);
    const button = page.getByTestId('sso-login');
    await button.waitFor();
    expect(await button.textContent()).toBe('Log ind med DeiC Login');
    expect(await button.getAttribute('href')).toBe('/api/v1/auth/oidc/login');
    // The local form stays for break-glass accounts.
    expect(await page.locator('input[name=password]').count()).toBe(1);
    await page.context().close();
  });

  it('signs in at the provider and lands in the dashboard as that person, and signs out there too', async () => {
    const { page, errors } = await open('en-GB');
    await page.goto(hl.url);
    const button = page.getByTestId('sso-login');
    await button.waitFor();
    expect(await button.textContent()).toBe('Sign in with DeiC Login');
    await button.click();
    // The provider's own sign-in page, then its consent page.
    await page.waitForURL((u) => u.href.startsWith(`${provider.issuer}/interaction/`));
    await page.locator('input[name=login]').fill('cora');
    await page.locator('input[name=password]').fill('any password');
    await page.locator('button[type=submit]').click();
    await page.getByRole('button', { name: 'Continue' }).click();
    // Back in the dashboard, signed in as cora with the committee's role and first view.
    await page.getByTestId('who').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('who').textContent()).toBe('cora · committee');
    expect(page.url()).toBe(`${hl.url}/#/allocations`);
    const session = (await page.context().cookies(hl.url)).find((c) => c.name === 'hl_session')!;
    expect([session.httpOnly, session.sameSite]).toEqual([true, 'Strict']);

    await page.getByTestId('sign-out').click();
    // The provider asks to confirm its logout, then sends the browser back to HeatLedger.
    await page.waitForURL((u) => u.href.startsWith(provider.issuer));
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await page.waitForURL((u) => u.href.startsWith(hl.url));
    await page.getByTestId('sso-login').waitFor();
    expect((await page.context().cookies(hl.url)).some((c) => c.name === 'hl_session')).toBe(false);
    expect(await page.evaluate(async () => ((await (await fetch('/api/v1/auth/me')).json()) as { me: unknown }).me)).toBeNull();
    expect(errors).toEqual([]);
  });
});

/**
 * Issue 15, point 3: a server started before the dashboard is built answers `/` with a page
 * that says how to build it (not a JSON 404), and serves the dashboard once it is built.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeApp } from '../support/factories.ts';

describe('the dashboard before it is built', () => {
  const webDir = join(mkdtempSync(join(tmpdir(), 'hl-web-unbuilt-')), 'dist');
  const t = makeApp({ config: { webDir } });

  it('answers / and other dashboard paths with a page that says how to build it', async () => {
    for (const path of ['/', '/jobs']) {
      const res = await t.app.request(path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await res.text();
      expect(html).toContain('has not been built');
      expect(html).toContain('npm run build:web');
      expect(html).toContain(webDir);
    }
  });

  it('still answers unknown API paths with the JSON error', async () => {
    const res = await t.app.request('/api/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no route for GET /api/v1/nothing-here' } });
  });

  it('serves the dashboard once it has been built, without a restart', async () => {
    mkdirSync(join(webDir, 'assets'), { recursive: true });
    writeFileSync(join(webDir, 'index.html'), '<!doctype html><title>built</title><script type="module" src="/assets/app.js"></script>');
    writeFileSync(join(webDir, 'assets', 'app.js'), 'console.log("built")');
    const page = await t.app.request('/');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>built</title>');
    const script = await t.app.request('/assets/app.js');
    expect(script.status).toBe(200);
    expect(await script.text()).toBe('console.log("built")');
  });
});

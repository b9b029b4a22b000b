/**
 * Issue 15, point 17: "My jobs" in Chromium against the real server. The table is in the
 * order it says (newest submitted first), and a click on a column heading sorts by that
 * column, a second click reverses it; the expected orders are worked out here from the jobs sent.
 */
import { spawnSync } from 'node:child_process';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchBrowser } from '../support/browser.ts';
import { missing } from '../support/requirements.ts';
import { createTokenByCli, startServerProcess, type ServerProcess } from '../support/server-process.ts';

const H = 3_600_000;
const NOW = Date.now();
const at = (hoursAgo: number | null) => (hoursAgo === null ? null : new Date(NOW - hoursAgo * H).toISOString());

// Submitted, started and ended so many hours ago; the pending job is neither the newest nor the oldest.
const sent = [
  { jobId: '101', state: 'COMPLETED', submit: 10, start: 9, end: 7, gpus: 4 },
  { jobId: '102', state: 'COMPLETED', submit: 6, start: 6, end: 5, gpus: 1 },
  { jobId: '103', state: 'COMPLETED', submit: 8, start: 5, end: 2, gpus: 2 },
  { jobId: '104', state: 'PENDING', submit: 5, start: null, end: null, gpus: 8 },
  { jobId: '105', state: 'RUNNING', submit: 4, start: 3, end: null, gpus: 1 },
];
/** GPU-hours charged: GPUs × hours run (up to now for the running job, none for the pending one). */
const gpuHours = (j: (typeof sent)[number]) => (j.start === null ? 0 : j.gpus * (j.start - (j.end ?? 0)));
const ids = (list: typeof sent) => list.map((j) => j.jobId);

describe.skipIf(missing('Chromium at /usr/bin/chromium', hasChromium))('My jobs: order and sorting in Chromium', () => {
  let server: ServerProcess;
  let browser: Browser;

  beforeAll(async () => {
    server = await startServerProcess();
    const token = createTokenByCli(server.dbPath, 'e2e-jobs', 'ingest');
    const jobs = sent.map((j) => ({
      jobId: j.jobId,
      arrayJobId: null,
      name: `job-${j.jobId}`,
      user: 'rita',
      account: 'proj-a',
      partition: 'gpu',
      qos: 'normal',
      state: j.state,
      submitTime: at(j.submit),
      eligibleTime: at(j.submit),
      startTime: at(j.start),
      endTime: at(j.end),
      gpus: j.gpus,
      gpuType: 'h200',
      cpus: 8,
      nodes: j.start === null ? [] : ['gpu-n01'],
      exitCode: j.state === 'COMPLETED' ? 0 : null,
    }));
    const res = await fetch(`${server.url}/api/v1/ingest/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ schema: 1, cluster: 'c', jobs }),
    });
    expect(res.status, await res.text()).toBe(202);
    const add = spawnSync(process.execPath, ['bin/heatledger.js', 'user', 'add', '--name', 'rita', '--role', 'researcher', '--project', 'proj-a', '--db', server.dbPath], {
      input: 'rita-password-1\n',
      encoding: 'utf8',
    });
    expect(add.status, add.stderr).toBe(0);
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  const shownIds = (page: Page) => page.locator('[data-testid=jobs-table] tbody tr td:first-child').allTextContents();
  const sortState = (page: Page, key: string) => page.getByTestId(`jobs-sort-${key}`).locator('xpath=..').getAttribute('aria-sort');

  it('shows newest submitted first, and sorts by the column clicked', async () => {
    const context = await browser.newContext({ timezoneId: 'Europe/Copenhagen', locale: 'en-GB' });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.fill('input[name=username]', 'rita');
    await page.fill('input[name=password]', 'rita-password-1');
    await page.click('button[type=submit]');
    // A researcher lands on My jobs.
    await expect.poll(() => page.locator('[data-testid=jobs-table] tbody tr').count(), { timeout: 30_000 }).toBe(sent.length);

    // Default: by submit time, newest first: 105 (4 h ago), 104 (5), 102 (6), 103 (8), 101 (10).
    const bySubmit = ids(sent.toSorted((a, b) => a.submit - b.submit));
    expect(bySubmit).toEqual(['105', '104', '102', '103', '101']);
    expect(await shownIds(page)).toEqual(bySubmit);
    expect(await sortState(page, 'submitTime')).toBe('descending');
    expect(await sortState(page, 'gpuHours')).toBe('none');

    // GPU-hours, largest first: 101 (4 × 2 = 8), 103 (2 × 3 = 6), 105 (1 × 3, running), 102 (1), 104 (pending, 0).
    const byGpuHours = ids(sent.toSorted((a, b) => gpuHours(b) - gpuHours(a)));
    expect(byGpuHours).toEqual(['101', '103', '105', '102', '104']);
    await page.getByTestId('jobs-sort-gpuHours').click();
    await expect.poll(() => shownIds(page)).toEqual(byGpuHours);
    expect(await sortState(page, 'gpuHours')).toBe('descending');
    expect(await sortState(page, 'submitTime')).toBe('none');

    // Again: smallest first.
    await page.getByTestId('jobs-sort-gpuHours').click();
    await expect.poll(() => shownIds(page)).toEqual(byGpuHours.toReversed());
    expect(await sortState(page, 'gpuHours')).toBe('ascending');

    // A text column starts A to Z: the state, then (equal states) newest submitted first.
    await page.getByTestId('jobs-sort-state').click();
    await expect.poll(() => shownIds(page)).toEqual(['102', '103', '101', '104', '105']);
    expect(await sortState(page, 'state')).toBe('ascending');

    // GPUs, most first: 104 (8), 101 (4), 103 (2), then the 1-GPU jobs newest submitted first: 105, 102.
    await page.getByTestId('jobs-sort-gpus').click();
    await expect.poll(() => shownIds(page)).toEqual(['104', '101', '103', '105', '102']);

    expect(errors).toEqual([]);
    await context.close();
  });
});

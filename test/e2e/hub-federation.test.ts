/**
 * Issue 18, end to end with real processes: two site servers (`heatledger serve`, SQLite)
 * with different data push to one hub (`heatledger hub serve`, the real PostgreSQL of
 * .ci/pg/start.sh) every second. The hub's totals by project equal the sum of the sites' own
 * answers exactly; the hub killed with SIGKILL in the middle of a push transaction and
 * restarted gets exact totals again once the sites resume; a late sample at a site reaches
 * the hub with the next push; one site's token writing another site's rows gets 403.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FacilityReading } from '../../collectors/shared/wire.ts';
import { iso, job, series } from '../support/factories.ts';
import { hasChromium, launchBrowser } from '../support/browser.ts';
import { heatledger, startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { freshDatabase, hasPostgres, testPgUrl, type TestDatabase } from '../support/postgres.ts';
import { missing } from '../support/requirements.ts';
import { createTokenByCli, startServerProcess, type ServerProcess } from '../support/server-process.ts';

const H = 3_600_000;
const M = 60_000;
/** Whole hours: the window both sides answer over ends an hour before the test began, so every hour in it is complete. */
const HOUR0 = Math.floor(Date.now() / H) * H;
const FROM = HOUR0 - 5 * 24 * H;
const TO = HOUR0 - H;

const freePort = () =>
  new Promise<number>((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });

interface SiteJob {
  id: string;
  project: string;
  user: string;
  partition: string;
  gpus: number;
  submit: number;
  start: number;
  end: number | null;
  watts: number;
}

/** Site B's bigger workload: 40 jobs over four days, twenty users of four projects. */
const lumiJobs: SiteJob[] = Array.from({ length: 40 }, (_, i) => {
  const start = FROM + 3 * H + i * 2 * H + ((i * 7) % 60) * M;
  return { id: String(5000 + i), project: `proj-${'abcd'[i % 4]}`, user: `u${i % 20}`, partition: i % 3 ? 'standard-g' : 'small-g', gpus: 1 + (i % 8), submit: start - ((i * 13) % 90) * M, start, end: start + (1 + (i % 5)) * H + 17 * M, watts: 300 + 10 * i };
});
const bittenJobs: SiteJob[] = [
  { id: '1', project: 'proj-a', user: 'alice', partition: 'gpu', gpus: 2, submit: FROM + 20 * H, start: FROM + 20 * H + 7 * M, end: FROM + 22 * H + 37 * M, watts: 610 },
  { id: '2', project: 'proj-b', user: 'bob', partition: 'gpu', gpus: 1, submit: FROM + 30 * H, start: FROM + 33 * H + 13 * M, end: FROM + 60 * H + M, watts: 420 },
  { id: '3', project: 'proj-e', user: 'erik', partition: 'gpu', gpus: 4, submit: FROM + 70 * H, start: FROM + 71 * H + 59 * M, end: TO - 5 * H - 3 * M, watts: 700 },
];

async function post(site: ServerProcess, token: string, kind: string, body: unknown) {
  const res = await fetch(`${site.url}/api/v1/ingest/${kind}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status, await res.clone().text()).toBe(202);
}

async function load(site: ServerProcess, token: string, cluster: string, jobs: SiteJob[]) {
  await post(site, token, 'jobs', {
    schema: 1,
    cluster,
    jobs: jobs.map((j) =>
      job({ jobId: j.id, account: j.project, user: j.user, partition: j.partition, gpus: j.gpus, submitTime: iso(j.submit), eligibleTime: iso(j.submit), startTime: iso(j.start), endTime: j.end === null ? null : iso(j.end), state: 'COMPLETED', nodes: [`${cluster}-n01`] }),
    ),
  });
  for (const [i, j] of jobs.entries()) {
    await post(site, token, 'gpu', { schema: 1, cluster, node: `${cluster}-n01`, samples: series(j.start, j.end!, 60, { gpuUuid: `GPU-${cluster}-${i}`, gpuIndex: i % 8, powerW: j.watts, jobIds: [j.id] }) });
  }
  const readings: FacilityReading[] = [];
  for (let t = FROM - H; t <= TO + H; t += 5 * M) {
    readings.push({ ts: iso(t), meter: 'it', quantity: 'itPowerW', value: 9000 }, { ts: iso(t), meter: 'main', quantity: 'facilityPowerW', value: 10_800 });
    readings.push({ ts: iso(t), meter: 'dh', quantity: 'heatReusedW', value: 4000 }, { ts: iso(t), meter: 'grid', quantity: 'gridCo2GPerKWh', value: 150 });
  }
  await post(site, token, 'facility', { schema: 1, site: cluster, readings });
}

describe.skipIf(missing('PostgreSQL (HEATLEDGER_TEST_PG_URL; .ci/pg/start.sh)', await hasPostgres()))('federation: two sites push to a hub on PostgreSQL', () => {
  let db: TestDatabase;
  let hub: HubProcess;
  let port: number;
  const sites: Record<string, { server: ServerProcess; ingest: string; read: string }> = {};
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    db = await freshDatabase('hub_e2e');
    port = await freePort();
    hub = await startHubProcess(db.url, port);
    for (const site of ['bitten', 'lumi-dk']) {
      const made = heatledger(['hub', 'token', 'create', '--site', site, '--database-url', db.url]);
      expect(made.status, made.stderr).toBe(0);
      tokens[site] = made.stdout.trim();
      expect(tokens[site]).toMatch(/^hl_push_\d+_\S+$/);
    }
    const read = heatledger(['token', 'create', '--name', 'committee', '--scope', 'read', '--database-url', db.url]);
    expect(read.status, read.stderr).toBe(0);
    tokens.read = read.stdout.trim();
    for (const [site, jobs] of [['bitten', bittenJobs], ['lumi-dk', lumiJobs]] as const) {
      const server = await startServerProcess([], { HEATLEDGER_HUB_URL: hub.url, HEATLEDGER_HUB_TOKEN: tokens[site]!, HEATLEDGER_SITE: site, HEATLEDGER_HUB_PUSH_S: '1' });
      sites[site] = { server, ingest: createTokenByCli(server.dbPath, 'ingest', 'ingest'), read: createTokenByCli(server.dbPath, 'read', 'read') };
      await load(server, sites[site]!.ingest, site, jobs);
    }
  }, 180_000);

  afterAll(async () => {
    for (const s of Object.values(sites)) await s.server.stop();
    await hub?.stop();
    await db?.drop();
  });

  const hubRead = async (path: string) => {
    const res = await fetch(`${hub.url}${path}`, { headers: { authorization: `Bearer ${tokens.read}` } });
    expect(res.status).toBe(200);
    return res.json() as Promise<{ rows: Array<Record<string, number | string>> }>;
  };

  /** The sites' own usage by project over the window, summed. */
  async function sitesByProject(): Promise<Map<string, { gpuHours: number; energyKWh: number }>> {
    const out = new Map<string, { gpuHours: number; energyKWh: number }>();
    for (const s of Object.values(sites)) {
      const res = await fetch(`${s.server.url}/api/v1/usage?groupBy=project&from=${iso(FROM)}&to=${iso(TO)}`, { headers: { authorization: `Bearer ${s.read}` } });
      for (const r of ((await res.json()) as { rows: Array<{ key: string; gpuHours: number; energyKWh: number }> }).rows) {
        const m = out.get(r.key) ?? { gpuHours: 0, energyKWh: 0 };
        m.gpuHours += r.gpuHours;
        m.energyKWh += r.energyKWh;
        out.set(r.key, m);
      }
    }
    return out;
  }

  /** Whether the hub's totals by project equal the sites' (GPU-hours to the millisecond, kWh to 1e-9); the differences otherwise. */
  async function mismatch(): Promise<string | null> {
    const want = await sitesByProject();
    const got = (await hubRead(`/api/v1/hub/usage?groupBy=project&from=${iso(FROM)}&to=${iso(TO)}`)).rows.filter((r) => r.project !== '(unattributed)');
    const problems: string[] = [];
    if (got.length !== want.size) problems.push(`projects: hub ${got.map((r) => r.project).join(',')} sites ${[...want.keys()].join(',')}`);
    for (const r of got) {
      const w = want.get(r.project as string);
      if (!w) continue;
      if (Math.abs((r.gpuHours as number) - w.gpuHours) * H >= 1) problems.push(`${r.project} GPU-hours ${r.gpuHours} != ${w.gpuHours}`);
      if (Math.abs((r.energyKWh as number) - w.energyKWh) > 1e-9) problems.push(`${r.project} kWh ${r.energyKWh} != ${w.energyKWh}`);
    }
    return problems.length ? problems.join('; ') : null;
  }

  async function converged(timeoutMs = 60_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    let last: string | null = 'not checked';
    while (Date.now() < until) {
      last = await mismatch();
      if (last === null) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`the hub never matched the sites: ${last}`);
  }

  it("holds the sum of the two sites' own answers by project, exactly", async () => {
    await converged();
    const want = await sitesByProject();
    // proj-a is at both sites: the hub's figure is both sites' together.
    expect(want.get('proj-a')!.gpuHours).toBeGreaterThan(2 * 2.5);
    const bySite = (await hubRead(`/api/v1/hub/usage?groupBy=site&from=${iso(FROM)}&to=${iso(TO)}`)).rows.map((r) => r.site);
    expect(bySite).toEqual(['bitten', 'lumi-dk']);
  }, 90_000);

  it('is exact again after the hub is killed (SIGKILL) in the middle of a push and restarted', async () => {
    // Keep the sites pushing: late samples for old hours at LUMI change a day every 150 ms.
    let n = 0;
    let feeding = true;
    const feeder = (async () => {
      while (feeding) {
        const t = FROM + 3 * H + (n % 90) * H + 30_000;
        await post(sites['lumi-dk']!.server, sites['lumi-dk']!.ingest, 'gpu', { schema: 1, cluster: 'lumi-dk', node: 'lumi-dk-n01', samples: series(t, t + 10 * M, 60, { gpuUuid: `GPU-late-${n++}`, gpuIndex: 9, powerW: 250, jobIds: [] }) });
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    // Kill the hub while one of its connections is inside a push transaction.
    const watch = new pg.Client({ connectionString: testPgUrl });
    await watch.connect();
    const dbName = new URL(db.url).pathname.slice(1);
    let caught = false;
    const until = Date.now() + 30_000;
    while (!caught && Date.now() < until) {
      const r = await watch.query("SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND xact_start IS NOT NULL AND query ILIKE '%hub_%' AND pid <> pg_backend_pid()", [dbName]);
      caught = (r.rowCount ?? 0) > 0;
    }
    hub.child.kill('SIGKILL');
    await new Promise((r) => hub.child.once('exit', r));
    await watch.end();
    expect(caught, 'a push transaction was in flight when the hub was killed').toBe(true);
    feeding = false;
    await feeder;
    // Down for a few pushes, then back on the same port; the sites resume by themselves.
    await new Promise((r) => setTimeout(r, 2500));
    hub = await startHubProcess(db.url, port);
    await converged();
  }, 120_000);

  it('shows a late sample at a site after the next push', async () => {
    const before = (await hubRead(`/api/v1/hub/usage?groupBy=project&from=${iso(FROM)}&to=${iso(TO)}`)).rows.find((r) => r.project === 'proj-e')!.energyKWh as number;
    // A second GPU of erik's job at bitten for one hour at 500 W: 0.5 kWh more for proj-e.
    const j = bittenJobs[2]!;
    const t = Math.ceil(j.start / H) * H;
    await post(sites.bitten!.server, sites.bitten!.ingest, 'gpu', { schema: 1, cluster: 'bitten', node: 'bitten-n01', samples: series(t, t + H, 30, { gpuUuid: 'GPU-bitten-late', gpuIndex: 7, powerW: 500, jobIds: [j.id] }) });
    const projE = async () => (await hubRead(`/api/v1/hub/usage?groupBy=project&from=${iso(FROM)}&to=${iso(TO)}`)).rows.find((r) => r.project === 'proj-e')!.energyKWh as number;
    const until = Date.now() + 60_000;
    while ((await projE()) === before && Date.now() < until) await new Promise((r) => setTimeout(r, 250));
    await converged();
    expect((await projE()) - before).toBeCloseTo(0.5, 6);
  }, 90_000);

  it("refuses one site's token writing another site's rows (403)", async () => {
    const res = await fetch(`${hub.url}/api/v1/hub/push`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.bitten}`, 'content-type': 'application/json' },
      body: JSON.stringify({ schema: 1, site: 'lumi-dk', days: [{ dayTs: Math.floor(FROM / (24 * H)) * 24 * H, completeToTs: Math.floor(FROM / (24 * H)) * 24 * H + H, hash: 'c'.repeat(64), usage: [], jobs: [], facility: [] }] }),
    });
    expect(res.status).toBe(403);
    expect(await mismatch()).toBeNull();
  });

  it('`hub push --db` pushes once and says by its status whether all was accepted', async () => {
    const env = { HEATLEDGER_HUB_URL: hub.url, HEATLEDGER_SITE: 'bitten' };
    const ok = heatledger(['hub', 'push', '--db', sites.bitten!.server.dbPath], { ...env, HEATLEDGER_HUB_TOKEN: tokens.bitten! });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^hub push: \d+ days stored, \d+ unchanged, \d+ rows sent$/m);
    const wrong = heatledger(['hub', 'push', '--db', sites.bitten!.server.dbPath], { ...env, HEATLEDGER_HUB_TOKEN: tokens['lumi-dk']! });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain("the hub token is lumi-dk's, not bitten's");
  });

  it.skipIf(missing('Chromium at /usr/bin/chromium', hasChromium))("shows a researcher signed in at the hub's page their project at every site, and nothing else", async () => {
    const add = spawnSync(process.execPath, ['bin/heatledger.js', 'user', 'add', '--name', 'rita', '--role', 'researcher', '--project', 'proj-a', '--database-url', db.url], { input: 'correct horse\n', encoding: 'utf8' });
    expect(add.status, add.stderr).toBe(0);
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(hub.url);
      await page.getByTestId('hub-username').fill('rita');
      await page.getByTestId('hub-password').fill('correct horse');
      await page.getByTestId('hub-login').click();
      await page.getByTestId('hub-who').filter({ hasText: 'rita (researcher): proj-a' }).waitFor();
      await page.locator('[data-testid=hub-usage] tbody tr').first().waitFor();
      const rows = await page.locator('[data-testid=hub-usage] tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 2).map((td) => td.textContent).join('/')));
      expect(rows).toEqual(['bitten/proj-a', 'lumi-dk/proj-a']);
      // Facility figures are not a researcher's; waits by site and partition are everyone's.
      expect(await page.locator('[data-testid=hub-facility] tbody tr').count()).toBe(0);
      expect(await page.getByTestId('hub-facility-note').isVisible()).toBe(true);
      expect(await page.locator('[data-testid=hub-waits] tbody tr').count()).toBeGreaterThan(0);
      // Her project's review across sites: its GPU-hours by site and partition sum to the usage table's.
      await page.getByTestId('hub-review').click();
      await page.locator('[data-testid=hub-review-waits] tbody tr').first().waitFor();
      const gpuHours = async (testid: string, col: number) =>
        (await page.locator(`[data-testid=${testid}] tbody tr`).evaluateAll((trs, c) => trs.map((tr) => Number(tr.querySelectorAll('td')[c]!.textContent!.replace(/,/g, ''))), col)).reduce((a, b) => a + b, 0);
      const reviewed = await gpuHours('hub-review-sites', 2);
      expect(reviewed).toBeGreaterThan(0);
      expect(reviewed).toBeCloseTo(await gpuHours('hub-usage', 2), 0);
      const waitSites = await page.locator('[data-testid=hub-review-waits] tbody tr td:first-child').allTextContents();
      expect(waitSites.every((s) => s === 'bitten' || s === 'lumi-dk')).toBe(true);
      mkdirSync('test/artifacts', { recursive: true });
      await page.screenshot({ path: 'test/artifacts/hub-researcher.png', fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});

/**
 * Issue 16 end to end against a real Slurm (CI: .ci/slurm/start.sh, HEATLEDGER_SLURM=1), the
 * real `heatledger serve`, a real OpenID provider (oidc-provider) and a real SMTP server
 * (smtp-server), all started here: people sign in through the provider in Chromium; accounts, a
 * coordinator and a GrpTRESMins=gres/gpu limit made with sacctmgr; one round of the real
 * `heatledger collect slurm --once` makes the memberships and the grant; a change in Slurm
 * (a user removed, the limit raised) changes access and the grant at the next round; use
 * past 50 % of the grant delivers one email per PI and committee member, with its figures.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchBrowser } from '../support/browser.ts';
import { freePort, startProvider, type TestProvider } from '../support/oidc-provider.ts';
import { createTokenByCli, exited, startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { missing } from '../support/requirements.ts';
import { startSmtpSink, type SmtpSink } from '../support/smtp.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(repoRoot, 'bin', 'heatledger.js');
const hasSacctmgr = spawnSync('sh', ['-c', 'command -v sacctmgr'], { encoding: 'utf8' }).status === 0;
const enabled = hasSacctmgr && process.env.HEATLEDGER_SLURM === '1';
const ciDir = process.env.SLURM_CI_DIR ?? '/tmp/heatledger-slurm';
const env = { ...process.env, SLURM_CONF: process.env.SLURM_CONF ?? join(ciDir, 'etc', 'slurm.conf'), TZ: 'UTC' };
const sacctmgr = (...args: string[]) => execFileSync('sacctmgr', ['-i', ...args], { env, encoding: 'utf8' });

const DAY = 86_400_000;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

describe.skipIf(missing('a real Slurm (sacctmgr on PATH and HEATLEDGER_SLURM=1) and Chromium', enabled && hasChromium))('memberships, grants and grant emails from a real Slurm', () => {
  // Fresh accounts each run: the CI cluster's database outlives a run on a developer machine.
  const sfx = Math.random().toString(16).slice(2, 8);
  const parent = `hl${sfx}-parent`;
  const account = `hl${sfx}-a`;
  const work = mkdtempSync(join(tmpdir(), 'hl-assoc-e2e-'));
  const period = { start: day(Date.now() - 30 * DAY), end: day(Date.now() + 150 * DAY) };
  let smtp: SmtpSink;
  let provider: TestProvider;
  let browser: Browser;
  let server: ServerProcess;
  let ingest = '';
  let admin = '';

  const collectOnce = async () => {
    const child = spawn(process.execPath, [cli, 'collect', 'slurm', '--once', '--server', server.url, '--token', ingest, '--state-file', join(work, 'state'), '--spool-dir', join(work, 'spool')], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const code = await exited(child);
    expect(code, log).toBe(0);
    expect(log).toMatch(new RegExp(`sent \\d+ associations of ci`));
    return log;
  };
  const get = async (path: string, headers: Record<string, string>) => {
    const res = await fetch(`${server.url}${path}`, { headers });
    return { status: res.status, body: (await res.json()) as unknown };
  };
  const asAdmin = { authorization: '' };
  const login = async (username: string) => {
    const res = await fetch(`${server.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: 'a long password' }) });
    expect(res.status).toBe(200);
    return { cookie: res.headers.get('set-cookie')!.split(';')[0]! };
  };
  const addPerson = (args: string[]) => {
    const run = spawnSync(process.execPath, [cli, 'user', 'add', ...args, '--db', server.dbPath], { cwd: repoRoot, input: 'a long password\n', encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
  };

  /** Signs in through the provider's own pages in a fresh Chromium profile; the page is back in the dashboard. */
  const signIn = async (username: string): Promise<Page> => {
    const page = await (await browser.newContext({ locale: 'en-GB' })).newPage();
    await page.goto(server.url);
    await page.getByTestId('sso-login').click();
    await page.waitForURL((u) => u.href.startsWith(`${provider.issuer}/interaction/`));
    await page.locator('input[name=login]').fill(username);
    await page.locator('input[name=password]').fill('any password');
    await page.locator('button[type=submit]').click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByTestId('who').waitFor({ timeout: 30_000 });
    return page;
  };
  const navProjects = async (page: Page) => (await page.locator('[data-testid^=nav-project-]').allTextContents()).sort();

  beforeAll(async () => {
    smtp = await startSmtpSink();
    const smtpPort = smtp.port;

    sacctmgr('add', 'account', parent, 'cluster=ci', 'organization=ci');
    sacctmgr('add', 'account', account, `parent=${parent}`, 'cluster=ci', 'organization=ci');
    sacctmgr('add', 'user', 'alice', `account=${account}`, 'cluster=ci');
    sacctmgr('add', 'user', 'bob', `account=${account}`, 'cluster=ci');
    sacctmgr('add', 'coordinator', `account=${account}`, 'names=alice');
    // 600 GPU-minutes = 10 GPU-hours; the parent 6,000 = 100.
    sacctmgr('modify', 'account', account, 'where', 'cluster=ci', 'set', 'GrpTRESMins=gres/gpu=600');
    sacctmgr('modify', 'account', parent, 'where', 'cluster=ci', 'set', 'GrpTRESMins=gres/gpu=6000');

    // The provider knows the people by their Slurm user names; kim is in the committee's group.
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    provider = await startProvider({
      accounts: {
        alice: { preferred_username: 'alice', groups: [], email: 'alice@sdu.example' },
        bob: { preferred_username: 'bob', groups: [], email: 'bob@sdu.example' },
        kim: { preferred_username: 'kim', groups: ['hpc-committee'], email: 'kim@deic.example' },
      },
      clients: [{ client_id: 'heatledger', client_secret: 'e2e-secret', redirect_uris: [`${url}/api/v1/auth/oidc/callback`], post_logout_redirect_uris: [`${url}/`] }],
    });
    browser = await launchBrowser();
    server = await startServerProcess(['--port', String(port)], {
      HEATLEDGER_PUBLIC_URL: url,
      HEATLEDGER_OIDC_ISSUER: provider.issuer,
      HEATLEDGER_OIDC_CLIENT_ID: 'heatledger',
      HEATLEDGER_OIDC_CLIENT_SECRET: 'e2e-secret',
      HEATLEDGER_OIDC_NAME: 'DeiC Login',
      HEATLEDGER_OIDC_SCOPES: 'openid profile email groups',
      HEATLEDGER_OIDC_ROLE_MAP: 'hpc-committee=committee',
      HEATLEDGER_GRANT_PERIOD: `${period.start}/${period.end}`,
      HEATLEDGER_SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      HEATLEDGER_MAIL_FROM: 'heatledger@bitten.example',
      HEATLEDGER_ALERT_CHECK_S: '1',
    });
    ingest = createTokenByCli(server.dbPath, 'e2e-assoc-ingest', 'ingest');
    admin = createTokenByCli(server.dbPath, 'e2e-assoc-admin', 'admin');
    asAdmin.authorization = `Bearer ${admin}`;
    // alice and bob also get local passwords (the API checks below); alice reads her mail in Danish.
    addPerson(['--name', 'alice', '--role', 'researcher', '--email', 'alice@sdu.example', '--lang', 'da']);
    addPerson(['--name', 'bob', '--role', 'researcher', '--email', 'bob@sdu.example']);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await provider?.stop();
    await smtp?.close();
    for (const a of [account, parent]) spawnSync('sacctmgr', ['-i', 'delete', 'account', a, 'cluster=ci'], { env });
  });

  it('one collector round: members from the associations, the coordinator as PI, the limit as a grant under its parent', async () => {
    await collectOnce();
    expect((await get(`/api/v1/projects/${account}/members`, asAdmin)).body).toEqual({ project: account, fromSlurm: [{ user: 'alice', pi: true }, { user: 'bob', pi: false }], fromAdministrators: [] });
    const grants = (await get('/api/v1/allocations', asAdmin)).body as { rows: Array<{ id: number; project: string; grantedGpuHours: number; parentId: number | null; periodStart: string; periodEnd: string }> };
    const a = grants.rows.find((r) => r.project === account)!;
    const p = grants.rows.find((r) => r.project === parent)!;
    expect([a.grantedGpuHours, p.grantedGpuHours, a.parentId]).toEqual([10, 100, p.id]);
    expect([a.periodStart, a.periodEnd]).toEqual([`${period.start}T00:00:00.000Z`, `${period.end}T00:00:00.000Z`]);
    const alice = await login('alice');
    const me = ((await get('/api/v1/auth/me', alice)).body as { me: { role: string; projects: string[] } }).me;
    // The PI view holds the accounts alice coordinates (on a developer's cluster perhaps others too), not the parent.
    expect(me.role).toBe('pi');
    expect(me.projects).toContain(account);
    expect(me.projects).not.toContain(parent);
    const bob = await login('bob');
    expect(((await get('/api/v1/auth/me', bob)).body as { me: { projects: string[] } }).me.projects).toContain(account);
    expect((await get(`/api/v1/projects/${account}/review`, bob)).status).toBe(200);

    // In Chromium, through the provider: alice as the account's PI, bob as a member, kim as the committee (made at first sign-in).
    const pa = await signIn('alice');
    expect(await pa.getByTestId('who').textContent()).toBe('alice · PI');
    expect(await navProjects(pa)).toContain(account);
    await pa.getByTestId(`nav-project-${account}`).click();
    await expect.poll(() => pa.getByTestId('members-slurm').locator('li').allTextContents()).toEqual(['alice (PI)', 'bob']);
    const b = await signIn('bob');
    expect(await b.getByTestId('who').textContent()).toBe('bob · researcher');
    expect(await navProjects(b)).toContain(account);
    await b.getByTestId(`nav-project-${account}`).click();
    await b.locator('[data-testid=review-efficiency]').waitFor();
    expect(await b.getByTestId('review-members').count()).toBe(0);
    const k = await signIn('kim');
    expect(await k.getByTestId('who').textContent()).toBe('kim · committee');
    await expect.poll(() => k.getByTestId('allocations-table').textContent()).toContain(account);
    for (const page of [pa, b, k]) await page.context().close();
  });

  it('the next round after a change in Slurm: bob removed loses access, the raised limit changes the grant (audited)', async () => {
    sacctmgr('delete', 'user', 'bob', `account=${account}`, 'cluster=ci');
    sacctmgr('modify', 'account', account, 'where', 'cluster=ci', 'set', 'GrpTRESMins=gres/gpu=1200');
    await collectOnce();
    const bob = await login('bob');
    expect(((await get('/api/v1/auth/me', bob)).body as { me: { projects: string[] } }).me.projects).not.toContain(account);
    const review = await get(`/api/v1/projects/${account}/review`, bob);
    expect(review.status).toBe(403);
    expect(JSON.stringify(review.body)).not.toContain('burnDown');
    const page = await signIn('bob');
    expect(await navProjects(page)).not.toContain(account);
    await page.context().close();
    const grants = (await get('/api/v1/allocations', asAdmin)).body as { rows: Array<{ project: string; grantedGpuHours: number }> };
    expect(grants.rows.find((r) => r.project === account)!.grantedGpuHours).toBe(20);
    const audit = (await get('/api/v1/allocations/audit', asAdmin)).body as { rows: Array<{ actor: string; action: string; details: { before?: { grantedGpuHours: number }; after?: { grantedGpuHours: number } } }> };
    const change = audit.rows.find((r) => r.action === 'allocation.update' && r.actor === 'slurm:ci')!;
    expect([change.details.before!.grantedGpuHours, change.details.after!.grantedGpuHours]).toEqual([10, 20]);
  });

  it('use past 50 % of the grant mails the PI (Danish) and the committee member (English) once each', async () => {
    // 4 GPUs for 3 hours ended an hour ago: 12 GPU-hours of the 20 granted, 60 %.
    const end = Date.now() - 3_600_000;
    const start = end - 3 * 3_600_000;
    const job = { jobId: `${sfx}1`, user: 'bob', account, partition: 'gpu', state: 'COMPLETED', submitTime: new Date(start - 60_000).toISOString(), startTime: new Date(start).toISOString(), endTime: new Date(end).toISOString(), gpus: 4 };
    const res = await fetch(`${server.url}/api/v1/ingest/jobs`, { method: 'POST', headers: { authorization: `Bearer ${ingest}`, 'content-type': 'application/json' }, body: JSON.stringify({ schema: 1, cluster: 'ci', jobs: [job] }) });
    expect(res.status).toBe(202);
    const deadline = Date.now() + 30_000;
    while (smtp.mails.length < 2 && Date.now() < deadline) await sleep(200);
    await sleep(1500);
    expect(smtp.mails.map((m) => m.to).sort()).toEqual(['alice@sdu.example', 'kim@deic.example']);
    const text = (raw: string) => raw.replace(/=\r\n/g, '').replace(/=C3=A6/g, 'æ').replace(/=C3=B8/g, 'ø').replace(/=C3=A5/g, 'å');
    expect(text(smtp.mails.find((m) => m.to === 'alice@sdu.example')!.raw)).toContain(`Projekt ${account} har brugt 60,0 % af sin bevilling: 12,0 af 20,0 GPU-timer (grænse 50 %).`);
    expect(text(smtp.mails.find((m) => m.to === 'kim@deic.example')!.raw)).toContain(`Project ${account} has used 60.0 % of its grant: 12.0 of 20.0 GPU-hours (threshold 50 %).`);
  });
});

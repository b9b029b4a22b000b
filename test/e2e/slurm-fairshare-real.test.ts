/**
 * Issue 19 point 3 end to end against a real Slurm (CI: .ci/slurm/start.sh, HEATLEDGER_SLURM=1)
 * and the real `heatledger serve`: accounts with their own shares, a user with two shares
 * and one with Fairshare=parent, made with sacctmgr; one round of the real
 * `heatledger collect slurm --once`; GET /api/v1/fairshare then gives what `sshare -a -l -P`
 * says, read here independently (split on `|`, figures looked up by header name).
 * The cluster is whatever SLURM_CONF names, so the test runs on the CI cluster
 * (priority/basic: Slurm computes no NormShares) and on one with priority/multifactor.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenByCli, exited, startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { missing } from '../support/requirements.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(repoRoot, 'bin', 'heatledger.js');
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
const enabled = has('sacctmgr') && has('sshare') && process.env.HEATLEDGER_SLURM === '1';
const ciDir = process.env.SLURM_CI_DIR ?? '/tmp/heatledger-slurm';
const env = { ...process.env, SLURM_CONF: process.env.SLURM_CONF ?? join(ciDir, 'etc', 'slurm.conf'), TZ: 'UTC' };
const sacctmgr = (...args: string[]) => execFileSync('sacctmgr', ['-i', ...args], { env, encoding: 'utf8' });

interface ApiFigures {
  rawShares: number | null;
  sharesFromParent: boolean;
  shares: number | null;
  usage: number | null;
  fairShare: number | null;
  levelFs: number | null;
  rawUsage: number;
  standing: string;
  explanation: string;
}
type ApiProject = ApiFigures & { cluster: string; project: string; parent: string | null; users: Array<ApiFigures & { user: string }> };

/** sshare's own lines for `account`, by header name: the test's reading, not the collector's parser. */
function sshareLines(account: string): Array<Record<string, string>> {
  const lines = execFileSync('sshare', ['-a', '-l', '-P'], { env, encoding: 'utf8' }).split('\n').filter((l) => l !== '');
  const header = lines[0]!.split('|');
  return lines
    .slice(1)
    .map((l) => Object.fromEntries(l.split('|').map((v, i) => [header[i]!, v])))
    .filter((r) => r.Account!.trim() === account);
}
const num = (v: string) => (v === '' || v === 'inf' ? null : Number(v));

describe.skipIf(missing('a real Slurm (sacctmgr and sshare on PATH and HEATLEDGER_SLURM=1)', enabled))('fair share from a real Slurm', () => {
  const sfx = Math.random().toString(16).slice(2, 8);
  const parent = `hl${sfx}-fs`;
  const a = `hl${sfx}-fa`;
  const b = `hl${sfx}-fb`;
  const work = mkdtempSync(join(tmpdir(), 'hl-fairshare-e2e-'));
  let cluster = '';
  let server: ServerProcess;
  let ingest = '';
  const admin = { authorization: '' };

  beforeAll(async () => {
    cluster = /^ClusterName\s*=\s*(\S+)/m.exec(execFileSync('scontrol', ['show', 'config'], { env, encoding: 'utf8' }))![1]!;
    sacctmgr('add', 'account', parent, `cluster=${cluster}`, 'organization=ci', 'fairshare=7');
    sacctmgr('add', 'account', a, `parent=${parent}`, `cluster=${cluster}`, 'organization=ci', 'fairshare=3');
    sacctmgr('add', 'account', b, `parent=${parent}`, `cluster=${cluster}`, 'organization=ci', 'fairshare=1');
    sacctmgr('add', 'user', 'alice', `account=${a}`, `cluster=${cluster}`, 'fairshare=2');
    sacctmgr('add', 'user', 'bob', `account=${a}`, `cluster=${cluster}`, 'fairshare=parent');
    sacctmgr('add', 'user', 'bob', `account=${b}`, `cluster=${cluster}`);
    server = await startServerProcess();
    ingest = createTokenByCli(server.dbPath, 'e2e-fairshare-ingest', 'ingest');
    admin.authorization = `Bearer ${createTokenByCli(server.dbPath, 'e2e-fairshare-admin', 'admin')}`;
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    for (const x of [a, b, parent]) spawnSync('sacctmgr', ['-i', 'delete', 'account', x, `cluster=${cluster}`], { env });
  });

  it('one collector round: each project’s figures as sshare prints them, with the sentence they call for', async () => {
    const child = spawn(process.execPath, [cli, 'collect', 'slurm', '--once', '--server', server.url, '--token', ingest, '--state-file', join(work, 'state'), '--spool-dir', join(work, 'spool')], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    expect(await exited(child), log).toBe(0);
    expect(log).toMatch(new RegExp(`sent the fair share of ${cluster} \\(\\d+ rows\\)`));

    const res = await fetch(`${server.url}/api/v1/fairshare`, { headers: admin });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { clusters: Array<{ cluster: string }>; projects: ApiProject[] };
    expect(body.clusters.map((c) => c.cluster)).toEqual([cluster]);
    const project = (name: string) => body.projects.find((p) => p.project === name)!;

    for (const [name, above, rawShares] of [[parent, 'root', 7], [a, parent, 3], [b, parent, 1]] as const) {
      const [line] = sshareLines(name).filter((r) => r.User === '');
      expect(line!.RawShares).toBe(String(rawShares));
      const p = project(name);
      expect(p).toMatchObject({ cluster, parent: above, rawShares, sharesFromParent: false, shares: num(line!.NormShares!), usage: num(line!.EffectvUsage!), levelFs: num(line!.LevelFS!), rawUsage: Number(line!.RawUsage) });
      // No jobs ran in these new accounts: no usage, or (priority/basic) no share at all.
      expect(p.explanation).toBe(line!.NormShares === '' ? `Slurm reports no share for ${name} (fair share is not computed on this cluster)` : `${name} has no usage yet: its jobs get the highest fair-share priority`);
    }
    // The users of the first account: alice with 2 shares, bob drawing on the account's.
    const users = sshareLines(a).filter((r) => r.User !== '');
    expect(users.map((r) => [r.User, r.RawShares])).toEqual([['alice', '2'], ['bob', 'parent']]);
    expect(project(a).users.map((u) => [u.user, u.rawShares, u.sharesFromParent, u.shares, u.fairShare])).toEqual(users.map((r) => [r.User, num(r.RawShares!.replace('parent', '')), r.RawShares === 'parent', num(r.NormShares!), num(r.FairShare!)]));
    expect(project(a).users[1]!.explanation).toBe(`bob draws on ${a}'s share: their jobs are placed as ${a}'s are`);
  });

  it('--once --stdout --fairshare prints the batch the round sends', () => {
    const run = spawnSync(process.execPath, [cli, 'collect', 'slurm', '--once', '--stdout', '--fairshare'], { cwd: repoRoot, env, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const batch = JSON.parse(run.stdout) as { schema: number; cluster: string; rows: Array<{ account: string; user: string | null; parent: string | null; rawShares: number | null }> };
    expect([batch.schema, batch.cluster]).toEqual([1, cluster]);
    expect(batch.rows.filter((r) => r.account === a).map((r) => [r.user, r.parent, r.rawShares])).toEqual([[null, parent, 3], ['alice', null, 2], ['bob', null, null]]);
  });
});

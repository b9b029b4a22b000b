/**
 * Issue 15, point 3: `npm install` builds the dashboard (the `prepare` script runs
 * web/ensure-built.js), on a copy of the web sources so the tree's own web/dist is not touched.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '../..');
const copies: string[] = [];
afterAll(() => copies.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A copy of what the build reads: web/ without dist, and the server file the dashboard bundles. */
function copyOfSources(withNodeModules: boolean): string {
  const root = mkdtempSync(join(tmpdir(), 'hl-web-build-'));
  copies.push(root);
  cpSync(join(repo, 'web'), join(root, 'web'), { recursive: true, filter: (src) => !src.startsWith(join(repo, 'web', 'dist')) });
  cpSync(join(repo, 'server'), join(root, 'server'), { recursive: true });
  if (withNodeModules) symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'), 'dir');
  return root;
}

const ensureBuilt = (root: string) => spawnSync(process.execPath, [join(root, 'web', 'ensure-built.js')], { cwd: root, encoding: 'utf8' });

describe('building the dashboard at install', () => {
  it('is the prepare script', () => {
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.prepare).toBe('node web/ensure-built.js');
  });

  it('builds web/dist with the scripts its page loads, and only again when a source changes', () => {
    const root = copyOfSources(true);
    const dist = join(root, 'web', 'dist');
    expect(existsSync(dist)).toBe(false);
    const first = ensureBuilt(root);
    expect(first.status, first.stderr).toBe(0);
    const index = readFileSync(join(dist, 'index.html'), 'utf8');
    const scripts = [...index.matchAll(/src="\/assets\/([^"]+\.js)"/g)].map((m) => m[1]!);
    expect(scripts.length).toBeGreaterThan(0);
    for (const s of scripts) expect(readdirSync(join(dist, 'assets'))).toContain(s);

    // Current: a second run leaves the build alone.
    const builtAt = statSync(join(dist, 'index.html')).mtimeMs;
    expect(ensureBuilt(root).status).toBe(0);
    expect(statSync(join(dist, 'index.html')).mtimeMs).toBe(builtAt);

    // A source newer than the build, here the server file the CSV buttons bundle: built again.
    const later = new Date(builtAt + 60_000);
    utimesSync(join(root, 'server', 'csv.ts'), later, later);
    expect(ensureBuilt(root).status).toBe(0);
    expect(statSync(join(dist, 'index.html')).mtimeMs).toBeGreaterThan(builtAt);
  });

  it('does not fail an install without dev dependencies, and says why nothing was built', () => {
    const root = copyOfSources(false);
    const run = ensureBuilt(root);
    expect(run.status).toBe(0);
    expect(run.stderr).toContain('vite is not installed');
    expect(existsSync(join(root, 'web', 'dist'))).toBe(false);
  });
});

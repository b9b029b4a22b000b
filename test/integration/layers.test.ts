/**
 * Issue 14: the storage layer (db/) imports nothing from the layers above it: not the
 * server (routes, use-case services, configuration) and not the collectors. Read from the
 * import lines of every TypeScript file under db/, tests included.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Every .ts file under `dir`, recursively. */
function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'migrations' ? [] : tsFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** The modules a file imports or re-exports, statically or dynamically, resolved to repository paths. */
function importsOf(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const specs = [...src.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
  return specs.map((s) => (s.startsWith('.') ? relative(root, resolve(dirname(file), s)) : s));
}

describe('layers', () => {
  it('finds the imports it checks (the reader is not blind)', () => {
    expect(importsOf(join(root, 'db/client.ts'))).toEqual(expect.arrayContaining(['better-sqlite3', 'db/schema.ts', 'db/store.ts']));
    expect(importsOf(join(root, 'server/app.ts'))).toEqual(expect.arrayContaining(['db/store.ts', 'server/read-cache.ts']));
  });

  it('keeps db/ free of imports from server/ and collectors/', () => {
    const files = tsFiles(join(root, 'db'));
    expect(files.length).toBeGreaterThan(20);
    const upward = files.flatMap((f) => importsOf(f).filter((i) => /^(server|collectors|web)\//.test(i)).map((i) => `${relative(root, f)} → ${i}`));
    expect(upward).toEqual([]);
  });
});

/**
 * Online backup: SQLite's backup API (better-sqlite3 `db.backup()`) copies a consistent
 * snapshot page by page while the server keeps ingesting; pages that change during the
 * copy make it restart from the changed page, so the result is one committed state.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';

export interface BackupResult {
  path: string;
  pages: number;
  integrity: string;
}

/**
 * Copies the database at `sourcePath` to `targetPath` (written beside it first, then
 * renamed, so a half-written backup never carries the final name) and checks the copy
 * with `PRAGMA integrity_check`.
 */
export async function backupDatabase(sourcePath: string, targetPath: string): Promise<BackupResult> {
  if (!existsSync(sourcePath)) throw new Error(`no database at ${sourcePath}`);
  const target = resolve(targetPath);
  if (existsSync(target)) throw new Error(`${targetPath} exists; choose a new path for the backup`);
  mkdirSync(dirname(target), { recursive: true });
  const partial = `${target}.partial`;
  rmSync(partial, { force: true });
  // Not readonly: a reader of a WAL database may need to create its -shm file.
  const source = new Database(sourcePath, { fileMustExist: true });
  let pages: number;
  try {
    source.pragma('busy_timeout = 5000');
    pages = (await source.backup(partial)).totalPages;
  } finally {
    source.close();
  }
  const copy = new Database(partial, { readonly: true });
  let integrity: string;
  try {
    integrity = String(copy.pragma('integrity_check', { simple: true }));
  } finally {
    copy.close();
  }
  if (integrity !== 'ok') {
    rmSync(partial, { force: true });
    throw new Error(`the backup failed its integrity check: ${integrity}`);
  }
  renameSync(partial, target);
  return { path: target, pages, integrity };
}

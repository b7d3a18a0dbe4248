import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, rmSync } from 'node:fs';

/**
 * Creates a new database file whole: `init` builds it (schema and all) under a temporary name,
 * which is then linked to `file`. So `file` never exists empty or half-made by soakp's doing,
 * and an empty file found there is never taken for a new vault. When another process creates
 * `file` first, the link fails with EEXIST and that process's database is the one kept.
 * Returns whether this call's file is the one kept.
 */
export async function createWhole(file: string, init: (tmp: string) => Promise<void>): Promise<boolean> {
  const tmp = `${file}.new-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    closeSync(openSync(tmp, 'wx', 0o600)); // owner-only from the start: SQLite gives its -wal and -shm the same mode
    await init(tmp);
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  } finally {
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) rmSync(f, { force: true });
  }
}

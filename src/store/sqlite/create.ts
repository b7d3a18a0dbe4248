import { randomBytes } from 'node:crypto';
import { closeSync, constants, copyFileSync, linkSync, openSync, rmSync } from 'node:fs';

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
    place(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  } finally {
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) rmSync(f, { force: true });
  }
}

// A hard link puts the finished file in place at once, and only if nothing is there yet. Some
// file systems (network shares, some container volumes) have no hard links: an exclusive copy
// keeps the "only if nothing is there" part.
function place(tmp: string, file: string): void {
  try {
    linkSync(tmp, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS' && code !== 'EXDEV') throw err;
    copyFileSync(tmp, file, constants.COPYFILE_EXCL);
  }
}

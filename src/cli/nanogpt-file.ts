import BetterSqlite3 from 'better-sqlite3-multiple-ciphers';
import type { NanogptRow } from '../admin/index.js';
import { SoakpError } from '../shared/index.js';

/**
 * The `users` rows of the NanoGPT multi-user proxy's keys.db. Opened read-only: the proxy may
 * still be running on it, and an import must leave the file as it found it.
 */
export function readNanogptUsers(file: string): NanogptRow[] {
  let db: BetterSqlite3.Database;
  try {
    db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  } catch {
    throw new SoakpError('invalid_request', `Cannot open ${file}.`);
  }
  try {
    return db.prepare('SELECT email, api_key FROM users').all() as NanogptRow[];
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_NOTADB') throw new SoakpError('invalid_request', `${file} is not a SQLite database.`);
    throw new SoakpError('invalid_request', `${file} has no users table with email and api_key columns: it is not the NanoGPT proxy's keys.db.`);
  } finally {
    db.close();
  }
}

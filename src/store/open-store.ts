import { join } from 'node:path';
import { SoakpError } from '../shared/index.js';
import type { Store } from './ports.js';
import { openSqliteStore } from './sqlite/open.js';

export interface StoreLocation {
  dataDir: string;
  /** `postgres://…` selects PostgreSQL; a path or `sqlite:` URL a SQLite file; none: `<dataDir>/soakp.db`. */
  databaseUrl?: string | undefined;
  fileKey?: Buffer | undefined;
}

export function sqliteFileOf(loc: StoreLocation): string | undefined {
  const url = loc.databaseUrl;
  if (!url) return join(loc.dataDir, 'soakp.db');
  if (/^postgres(ql)?:\/\//i.test(url)) return undefined;
  return url.replace(/^sqlite:(\/\/)?/i, '');
}

export async function openStore(loc: StoreLocation): Promise<Store> {
  const file = sqliteFileOf(loc);
  if (file === undefined) {
    throw new SoakpError('invalid_config', 'PostgreSQL is not supported yet in this version; use the SQLite default.');
  }
  return openSqliteStore({ file, fileKey: loc.fileKey });
}

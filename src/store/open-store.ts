import { join } from 'node:path';
import type { Logger } from '../shared/index.js';
import type { Store } from './ports.js';
import { openPostgresStore } from './postgres/open.js';
import { openMemoryStore, openSqliteStore } from './sqlite/open.js';

export interface StoreLocation {
  dataDir: string;
  /** `postgres://…` selects PostgreSQL; a path or `sqlite:` URL a SQLite file; none: `<dataDir>/soakp.db`. */
  databaseUrl?: string | undefined;
  fileKey?: Buffer | undefined;
  /** For warnings from a PostgreSQL store's connections. */
  logger?: Logger | undefined;
}

/** Whether the database is PostgreSQL (a `postgres://` or `postgresql://` URL). */
export function isPostgresUrl(url: string | undefined): boolean {
  return url !== undefined && /^postgres(ql)?:\/\//i.test(url);
}

/** `memory:`: an in-memory store, lost at exit. */
export function isMemoryUrl(url: string | undefined): boolean {
  return url !== undefined && url.trim().toLowerCase() === 'memory:';
}

export function sqliteFileOf(loc: StoreLocation): string | undefined {
  const url = loc.databaseUrl;
  if (!url) return join(loc.dataDir, 'soakp.db');
  if (isPostgresUrl(url) || isMemoryUrl(url)) return undefined;
  return url.replace(/^sqlite:(\/\/)?/i, '');
}

export async function openStore(loc: StoreLocation): Promise<Store> {
  const file = sqliteFileOf(loc);
  if (isMemoryUrl(loc.databaseUrl)) return openMemoryStore();
  if (file === undefined) return openPostgresStore({ url: loc.databaseUrl as string, logger: loc.logger });
  return openSqliteStore({ file, fileKey: loc.fileKey });
}

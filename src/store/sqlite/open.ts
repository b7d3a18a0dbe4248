import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3-multiple-ciphers';
import { Kysely, SqliteDialect } from '../kysely.js';
import { SoakpError } from '../../shared/index.js';
import { migrateToLatest } from '../migrations.js';
import type { Repos, Store } from '../ports.js';
import { sqlRepos } from '../repos.js';
import type { Database } from '../schema.js';
import { exposeSql } from '../sql-access.js';
import { ChangePoller } from './changes.js';
import { configureConnection } from './connection.js';
import { createWhole } from './create.js';
import { fastInsertUsage, fastReserve } from './fast.js';
import { syncHolds } from './holds.js';

export interface SqliteOptions {
  file: string;
  /** 32 bytes: encrypts the whole file (SQLCipher v4 format). Omit for a plain file. */
  fileKey?: Buffer;
  /** How often other processes' commits are looked for; the contract allows up to a second. */
  pollMs?: number;
}

/** Opens (creating if needed) the SQLite database, checks it really is soakp's, migrates it. */
export async function openSqliteStore(options: SqliteOptions): Promise<Store> {
  mkdirSync(dirname(options.file), { recursive: true, mode: 0o700 });
  // The migrations that built a new file count as this open's (the audit head is adopted by them).
  let built: readonly string[] = [];
  const init = async (tmp: string): Promise<void> => {
    const store = await openFile({ ...options, file: tmp }, true);
    built = store.migrated ?? [];
    await store.close();
  };
  const created = !existsSync(options.file) && (await createWhole(options.file, init));
  return openFile(options, false, created ? built : []);
}

/**
 * A store in memory (`--database-url memory:`), for tests and throwaway demos: the same schema,
 * queries and sealed secrets as a file, and everything gone when the process exits.
 */
export async function openMemoryStore(): Promise<Store> {
  const raw = new BetterSqlite3(':memory:');
  configureConnection(raw);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(raw) }) });
  try {
    return new SqliteStore(db, raw, 200, await migrateLocked(db, raw));
  } catch (err) {
    await db.destroy();
    throw err;
  }
}

async function openFile(options: SqliteOptions, fresh: boolean, built: readonly string[] = []): Promise<Store> {
  if (!fresh && statSync(options.file).size === 0) throw emptyFile(options.file);
  let raw: BetterSqlite3.Database | undefined;
  try {
    // Owner-only: SQLite gives the -wal and -shm files the database file's permissions.
    chmodSync(options.file, 0o600);
    raw = new BetterSqlite3(options.file, { fileMustExist: true });
    if (options.fileKey) {
      raw.pragma(`cipher='sqlcipher'`);
      raw.pragma(`legacy=4`);
      // A raw 256-bit key (x'…'), so no passphrase KDF runs: the key is already uniformly random.
      raw.pragma(`key="x'${options.fileKey.toString('hex')}'"`);
    }
    raw.prepare('SELECT count(*) FROM sqlite_master').get(); // fails here on a non-database or wrong key
    if (!fresh && isForeign(raw)) throw foreignDatabase(options.file); // before anything is written to it
    configureConnection(raw);
  } catch (cause) {
    raw?.close();
    if (cause instanceof SoakpError) throw cause;
    // Locked past every wait is not a damaged file: say so, and that a retry may do.
    if ((cause as { code?: string }).code === 'SQLITE_BUSY') throw new SoakpError('store_unavailable', `The database file ${options.file} is locked by another process; try again.`, { cause });
    throw notADatabase(options.file, Boolean(options.fileKey), cause);
  }
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(raw) }) });
  let migrated: string[];
  try {
    migrated = await migrateLocked(db, raw);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return new SqliteStore(db, raw, options.pollMs ?? 200, [...built, ...migrated]);
}

// soakp's own databases are created whole (see create.ts), so one that exists always holds
// kysely's migration table; tables without it belong to someone else.
function isForeign(raw: BetterSqlite3.Database): boolean {
  const tables = raw.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).pluck().all() as string[];
  return tables.length > 0 && !tables.includes('kysely_migration');
}

function foreignDatabase(file: string): SoakpError {
  return new SoakpError(
    'store_corrupt',
    `Cannot open the database file ${file}: ${file} is a SQLite database of another program (it has tables, but not soakp's). ` +
      'soakp changed nothing in it; give soakp its own file (--data-dir or --database-url).',
  );
}

function emptyFile(file: string): SoakpError {
  return new SoakpError(
    'store_corrupt',
    `The database file ${file} is empty (0 bytes), so it is not a soakp database (soakp never leaves one empty). ` +
      'If it is left over from something else, remove it and start again; if a database was expected here, restore it from your backup.',
  );
}

class SqliteStore implements Store {
  readonly users;
  readonly keys;
  readonly tokens;
  readonly secrets;
  readonly masterKeys;
  readonly usage;
  readonly budgets;
  readonly audit;
  readonly certificates;
  readonly leases;
  readonly #db: Kysely<Database>;
  readonly #raw: BetterSqlite3.Database;
  readonly #poller: ChangePoller;
  #closed = false;

  constructor(db: Kysely<Database>, raw: BetterSqlite3.Database, pollMs: number, readonly migrated: readonly string[]) {
    const poller = new ChangePoller(raw, pollMs);
    const repos = sqlRepos(db, () => poller.bump());
    this.users = repos.users;
    this.keys = repos.keys;
    this.tokens = repos.tokens;
    this.secrets = repos.secrets;
    this.masterKeys = repos.masterKeys;
    this.usage = { ...repos.usage, insertMany: fastInsertUsage(db, raw, repos.usage.insertMany) };
    this.budgets = { ...repos.budgets, reserve: fastReserve(db, raw, repos.budgets.reserve), ...syncHolds(db, raw, repos.budgets) };
    this.audit = repos.audit;
    this.certificates = repos.certificates;
    this.leases = repos.leases;
    this.#db = db;
    this.#raw = raw;
    this.#poller = poller;
    exposeSql(this, { db, dialect: 'sqlite' });
  }

  transaction<T>(fn: (tx: Repos) => Promise<T>): Promise<T> {
    return this.#db.transaction().execute((trx) => fn(sqlRepos(trx, () => this.#poller.bump())));
  }

  async ping(): Promise<void> {
    if (this.#closed) throw new SoakpError('store_unavailable', 'The store is closed.');
    this.#raw.prepare('SELECT 1').get();
  }

  onChange(listener: () => void): () => void {
    return this.#poller.subscribe(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#poller.stop();
    // Fold the WAL back into the main file so a clean shutdown leaves one self-contained file.
    try {
      this.#raw.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      await this.#db.destroy();
    }
  }
}

function notADatabase(file: string, encrypted: boolean, cause: unknown): SoakpError {
  const hint = encrypted
    ? 'it is not a SQLite database, or it was encrypted with another master key'
    : 'it is not a SQLite database (or it is an encrypted one and database encryption is off)';
  return new SoakpError('store_corrupt', `Cannot open the database file ${file}: ${hint}.`, { cause });
}

// Kysely takes no lock and opens no transaction for SQLite migrations. Running them inside
// one IMMEDIATE transaction on the raw connection does both: a second process opening a new
// database at the same moment waits (busy_timeout) and then finds nothing left to do, and a
// crash part-way through leaves the schema as it was.
async function migrateLocked(db: Kysely<Database>, raw: BetterSqlite3.Database): Promise<string[]> {
  raw.exec('BEGIN IMMEDIATE');
  try {
    const applied = await migrateToLatest(db as Kysely<unknown>, 'blob');
    raw.exec('COMMIT');
    return applied;
  } catch (err) {
    if (raw.inTransaction) raw.exec('ROLLBACK');
    throw err;
  }
}

// Kysely's SQLite driver prepares every query anew; preparing costs more than running a small
// query. The SQL text of a given builder call is always the same (values are parameters), so
// a bounded cache of prepared statements by text serves nearly every query on the hot path.
function withStatementCache(raw: BetterSqlite3.Database): BetterSqlite3.Database {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return new Proxy(raw, {
    get(target, prop) {
      if (prop !== 'prepare') {
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      }
      return (sqlText: string) => {
        let stmt = cache.get(sqlText);
        if (!stmt) {
          if (cache.size >= 500) cache.clear();
          stmt = target.prepare(sqlText);
          cache.set(sqlText, stmt);
        }
        return stmt;
      };
    },
  });
}

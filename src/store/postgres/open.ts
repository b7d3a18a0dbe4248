import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import type * as Pg from 'pg';
import { Kysely, PostgresDialect, sql } from '../kysely.js';
import { type Logger, SoakpError } from '../../shared/index.js';
import { migrateToLatest } from '../migrations.js';
import type { Repos, Store } from '../ports.js';
import { usageRepo } from '../ledger-repos.js';
import { sqlRepos } from '../repos.js';
import type { Database } from '../schema.js';
import { exposeSql } from '../sql-access.js';
import { PgChanges } from './changes.js';

export interface PostgresOptions {
  /** `postgres://user:password@host:port/database?sslmode=…` (node-postgres' connection string). */
  url: string;
  /** Connections in the pool. */
  poolSize?: number;
  logger?: Logger | undefined;
}

// node-postgres (with pg-protocol and its parsers) is loaded only when PostgreSQL is configured.
const load = createRequire(import.meta.url); // a local name: the import rules see what it loads

/** Opens the store on PostgreSQL and migrates it (Kysely holds an advisory lock while it does). */
export async function openPostgresStore(options: PostgresOptions): Promise<Store> {
  const pg = load('pg') as typeof Pg;
  const where = describe(options.url);
  // int8 columns (times in ms, counts) as numbers, for this pool only: every value soakp keeps fits in 2^53.
  const types = { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === 20 ? Number : pg.types.getTypeParser(oid, format)) };
  const config: Pg.PoolConfig = { connectionString: options.url, types: types as Pg.CustomTypesConfig, max: options.poolSize ?? 10, connectionTimeoutMillis: 10_000 };
  const pool = new pg.Pool(config);
  // soakp's queries are small, and JIT-compiling a usage report costs it more than it saves
  // (~0.25 s a report); queued ahead of the connection's first query.
  pool.on('connect', (client) => void client.query('SET jit = off').catch(() => undefined));
  // An idle connection dropped by the server is replaced on next use; the pool must not crash the process.
  pool.on('error', (err) => options.logger?.warn({ err: err.message }, 'a PostgreSQL connection failed; it will be replaced'));
  // A connection that cannot be had is the store being unavailable (503), not a failure of soakp's (500).
  const unavailable = (cause: unknown) => new SoakpError('store_unavailable', `The database ${where} is unavailable; try again shortly.`, { cause });
  const gate = { connect: () => pool.connect().catch((err: unknown) => Promise.reject(unavailable(err))), end: () => pool.end() };
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: gate }) });
  try {
    const schema = (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]?.s ?? 'public';
    const migrated = await migrateRetrying(db, schema);
    // One channel per schema: deployments (or tests) sharing a database in several schemas do not hear each other.
    const channel = `soakp_changes:${schema}`;
    const changes = new PgChanges(() => new pg.Client({ connectionString: options.url, connectionTimeoutMillis: 10_000 }), channel, options.logger);
    await changes.start();
    return new PostgresStore(db, changes, channel, migrated, options.logger);
  } catch (err) {
    await db.destroy().catch(() => undefined);
    if (err instanceof SoakpError) throw err;
    throw new SoakpError('store_unavailable', `Cannot open the PostgreSQL database ${where}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Kysely's migrator first lists the tables of every schema in the database; a schema dropped
 * by someone else meanwhile fails that listing (3F000, "schema … does not exist"). That is
 * not soakp's schema and not lasting: ask again, a few times.
 */
async function migrateRetrying(db: Kysely<Database>, schema: string): Promise<string[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrateToLatest(db as Kysely<unknown>, 'bytea', schema);
    } catch (err) {
      const code = ((err as { cause?: { code?: string } }).cause ?? {}).code;
      if (code !== '3F000' || attempt >= 5) throw err;
    }
  }
}

/**
 * A usage report groups up to a month of the ledger: with PostgreSQL's default 4 MB of
 * work_mem, 100,000 users' groups spill to disk. It gets more, for its own transaction only.
 */
function reportQuery<T>(db: Kysely<Database>, run: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (trx) => {
    await sql`SET LOCAL work_mem = '64MB'`.execute(trx);
    return run(trx);
  });
}

/** host:port/database, for messages: never the user's password. */
function describe(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return '(an unreadable URL)';
  }
}

class PostgresStore implements Store {
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
  /** This instance, in change notifications (the only thing they carry). */
  readonly #instance = randomBytes(6).toString('hex');
  #closed = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly changes: PgChanges,
    private readonly channel: string,
    readonly migrated: readonly string[],
    private readonly logger: Logger | undefined,
  ) {
    const repos = sqlRepos(db, () => this.#notify());
    this.users = repos.users;
    this.keys = repos.keys;
    this.tokens = repos.tokens;
    this.secrets = repos.secrets;
    this.masterKeys = repos.masterKeys;
    this.usage = { ...repos.usage, summarize: (filter: Parameters<Repos['usage']['summarize']>[0]) => reportQuery(db, (trx) => usageRepo(trx).summarize(filter)) };
    this.budgets = repos.budgets;
    this.audit = repos.audit;
    this.certificates = repos.certificates;
    this.leases = repos.leases;
    exposeSql(this, { db, dialect: 'postgres' });
  }

  async transaction<T>(fn: (tx: Repos) => Promise<T>): Promise<T> {
    let changed = false;
    const result = await this.db.transaction().execute((trx) => fn(sqlRepos(trx, () => void (changed = true))));
    if (changed) this.#notify(); // after the commit: a notice before it could reload old data
    return result;
  }

  async ping(): Promise<void> {
    if (this.#closed) throw new SoakpError('store_unavailable', 'The store is closed.');
    await sql`select 1`.execute(this.db);
  }

  onChange(listener: () => void): () => void {
    return this.changes.subscribe(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.changes.close();
    await this.db.destroy();
  }

  #notify(): void {
    sql`select pg_notify(${this.channel}, ${this.#instance})`.execute(this.db).catch((err: unknown) => {
      this.logger?.warn({ err: (err as Error).message }, 'could not announce a change to other instances; they see it on their next reconnect');
    });
  }
}

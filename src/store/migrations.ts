import type { Migration, MigrationProvider } from 'kysely';
import { type Kysely, Migrator, sql } from './kysely.js';
import { SoakpError } from '../shared/index.js';

/**
 * Migrations live in code (not files found at run time) so the bundle, the library and a
 * Lambda all carry them. Names sort in order; never edit one that has shipped — add another.
 * Written in portable SQL so PostgreSQL runs the same list (`blob` becomes `bytea` there).
 */
function migrations(binary: string): Record<string, Migration> {
  return {
    '0001_init': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('users')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('email', 'text', (c) => c.notNull().unique())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('upstream_keys')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('upstream', 'text', (c) => c.notNull())
          .addColumn('hint', 'text', (c) => c.notNull())
          .addColumn('master_version', 'integer', (c) => c.notNull())
          .addColumn('wrapped_key', sql.raw(binary), (c) => c.notNull())
          .addColumn('ciphertext', sql.raw(binary), (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addUniqueConstraint('upstream_keys_user_upstream', ['user_id', 'upstream'])
          .execute();
        await db.schema
          .createTable('tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('display_prefix', 'text', (c) => c.notNull())
          .addColumn('hash', sql.raw(binary), (c) => c.notNull().unique())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint')
          .addColumn('last_used_at', 'bigint')
          .addColumn('revoked_at', 'bigint')
          .addColumn('options', 'text', (c) => c.notNull().defaultTo('{}'))
          .execute();
        await db.schema.createIndex('tokens_user').on('tokens').column('user_id').execute();
        await db.schema
          .createTable('secrets')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('master_version', 'integer', (c) => c.notNull())
          .addColumn('wrapped_key', sql.raw(binary), (c) => c.notNull())
          .addColumn('ciphertext', sql.raw(binary), (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('master_keys')
          .addColumn('version', 'integer', (c) => c.primaryKey())
          .addColumn('check_value', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0002_policies_usage_audit': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('users').addColumn('policy', 'text', (c) => c.notNull().defaultTo('{}')).execute();
        await db.schema
          .createTable('usage')
          .addColumn('id', sql.raw(binary === 'blob' ? 'integer primary key autoincrement' : 'bigserial primary key'))
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('token_id', 'text', (c) => c.notNull())
          .addColumn('upstream', 'text', (c) => c.notNull())
          .addColumn('model', 'text')
          .addColumn('endpoint', 'text', (c) => c.notNull())
          .addColumn('status', 'integer', (c) => c.notNull())
          .addColumn('prompt_tokens', 'bigint', (c) => c.notNull())
          .addColumn('completion_tokens', 'bigint', (c) => c.notNull())
          .addColumn('total_tokens', 'bigint', (c) => c.notNull())
          .addColumn('cost_micros', 'bigint', (c) => c.notNull())
          .addColumn('duration_ms', 'bigint', (c) => c.notNull())
          .addColumn('bytes_in', 'bigint', (c) => c.notNull())
          .addColumn('bytes_out', 'bigint', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('usage_at').on('usage').column('at').execute();
        await db.schema.createIndex('usage_user_at').on('usage').columns(['user_id', 'at']).execute();
        await db.schema
          .createTable('budget_counters')
          .addColumn('scope', 'text', (c) => c.notNull())
          .addColumn('period', 'text', (c) => c.notNull())
          .addColumn('spent_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('spent_micros', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('reserved_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('reserved_micros', 'bigint', (c) => c.notNull().defaultTo(0))
          .addPrimaryKeyConstraint('budget_counters_pk', ['scope', 'period'])
          .execute();
        await db.schema
          .createTable('audit_log')
          .addColumn('id', sql.raw(binary === 'blob' ? 'integer primary key autoincrement' : 'bigserial primary key'))
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('target', 'text')
          .addColumn('details', 'text', (c) => c.notNull())
          .addColumn('source', 'text')
          .addColumn('prev_hash', 'text', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .execute();
        // One row holding the chain's head: appenders lock it first, in SQLite and PostgreSQL
        // alike, so two processes can never both extend the chain from the same entry.
        await db.schema
          .createTable('audit_head')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .execute();
        await sql`insert into audit_head (id, seq, hash) values (1, 0, '')`.execute(db);
      },
    },
    // The head's MAC under a key derived from the master key: without it, deleting the newest
    // entries and moving the head back would leave a valid-looking chain. '' until signed.
    [AUDIT_HEAD_MAC_MIGRATION]: {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('audit_head').addColumn('mac', 'text', (c) => c.notNull().defaultTo('')).execute();
      },
    },
    // Certificates soakp obtains itself (ACME), shared by every instance on the store; their keys
    // are sealed among the secrets. A lease names the one instance that renews at a time.
    '0004_tls_certificates': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('tls_certificates')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('domains', 'text', (c) => c.notNull())
          .addColumn('cert_pem', 'text')
          .addColumn('serial', 'text')
          .addColumn('issuer', 'text')
          .addColumn('directory', 'text')
          .addColumn('not_before', 'bigint')
          .addColumn('not_after', 'bigint')
          .addColumn('renew_at', 'bigint')
          .addColumn('last_error', 'text')
          .addColumn('last_error_at', 'bigint')
          .addColumn('retry_at', 'bigint')
          .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('renew_requested_at', 'bigint')
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        // Pending HTTP-01 answers: the CA may ask any instance behind the load balancer.
        await db.schema
          .createTable('acme_challenges')
          .addColumn('token', 'text', (c) => c.primaryKey())
          .addColumn('key_authorization', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('leases')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('holder', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    // What each running instance holds reserved on each budget, as of its last settlement batch,
    // so that a live instance can release the reservations of one that died without settling.
    '0005_budget_holds': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('instances')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('budget_holds')
          .addColumn('instance', 'text', (c) => c.notNull())
          .addColumn('scope', 'text', (c) => c.notNull())
          .addColumn('period', 'text', (c) => c.notNull())
          .addColumn('tokens', 'bigint', (c) => c.notNull())
          .addColumn('micros', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('budget_holds_pk', ['instance', 'scope', 'period'])
          .execute();
      },
    },
    // `soakp usage` reads a period's rows for their sums: with every column it reads in one index
    // (time first), a month of a large ledger is read from the index alone, in order, instead of
    // one table lookup per row. It replaces the index on time alone.
    '0006_usage_summary_index': {
      async up(db: Kysely<unknown>) {
        await db.schema.createIndex('usage_at_summary').on('usage').columns(['at', 'user_id', 'model', 'prompt_tokens', 'completion_tokens', 'total_tokens', 'cost_micros']).execute();
        await db.schema.dropIndex('usage_at').execute();
      },
    },
  };
}

/** The head MAC's migration: a head is adopted (signed as it stands) only by the process that ran it. */
export const AUDIT_HEAD_MAC_MIGRATION = '0003_audit_head_mac';

/**
 * Runs what has not run yet; returns the names of the migrations this call applied. `schema`
 * (PostgreSQL): where Kysely's own migration tables are looked for — without it Kysely takes
 * such tables in any schema of the database (another application's) for soakp's.
 */
export async function migrateToLatest(db: Kysely<unknown>, binaryType: 'blob' | 'bytea', schema?: string): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(binaryType) };
  const { error, results } = await new Migrator({ db, provider, ...(schema === undefined ? {} : { migrationTableSchema: schema }) }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new SoakpError('store_unavailable', `Database migration ${failed} failed: ${describe(error)}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

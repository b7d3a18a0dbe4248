import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';
import { SoakpError } from '../shared/errors.js';

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
  };
}

export async function migrateToLatest(db: Kysely<unknown>, binaryType: 'blob' | 'bytea'): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(binaryType) };
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new SoakpError('store_unavailable', `Database migration ${failed} failed: ${describe(error)}`, { cause: error });
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

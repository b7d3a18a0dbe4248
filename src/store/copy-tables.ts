import { type Kysely, sql } from './kysely.js';
import type { Database } from './schema.js';

export type Row = Record<string, unknown>;

/** A table as `store copy` sees it: the columns that order it, and whether its id is an identity. */
export interface CopiedTable {
  readonly name: keyof Database;
  readonly key: readonly string[];
  readonly identity?: boolean;
}

/**
 * Every table of schema.ts, parents before children (users before their keys and tokens).
 * A table added by a migration must be added here too: a test compares this list with the
 * tables a migrated database holds.
 */
export const COPIED_TABLES: readonly CopiedTable[] = [
  { name: 'users', key: ['id'] },
  { name: 'upstream_keys', key: ['id'] },
  { name: 'tokens', key: ['id'] },
  { name: 'secrets', key: ['id'] },
  { name: 'master_keys', key: ['version'] },
  { name: 'usage', key: ['id'], identity: true },
  { name: 'budget_counters', key: ['scope', 'period'] },
  // With the counters: the reserved amounts they hold are released through these once the
  // instances' heartbeats are seen still on the destination (none after a clean stop).
  { name: 'instances', key: ['id'] },
  { name: 'budget_holds', key: ['instance', 'scope', 'period'] },
  { name: 'audit_log', key: ['id'], identity: true },
  { name: 'audit_head', key: ['id'] },
  { name: 'tls_certificates', key: ['name'] },
  { name: 'acme_challenges', key: ['token'] },
  { name: 'leases', key: ['name'] },
];

type Db = Kysely<Database>;

/** The table's rows in key order, `size` at a time: keyset paging, so each batch costs the same. */
export async function* batches(db: Db, table: CopiedTable, size: number): AsyncGenerator<Row[]> {
  const order = sql.join(table.key.map((k) => sql.ref(k)));
  let after: unknown[] | undefined;
  for (;;) {
    const where = after ? sql`where (${order}) > (${sql.join(after)})` : sql``;
    const { rows } = await sql<Row>`select * from ${sql.table(table.name)} ${where} order by ${order} limit ${size}`.execute(db);
    if (rows.length > 0) yield rows;
    const last = rows.at(-1);
    if (!last || rows.length < size) return;
    after = table.key.map((k) => last[k]);
  }
}

/** Inserts the rows as they are: ids, identity columns and bytes included. */
export async function insertRows(db: Db, table: CopiedTable, rows: readonly Row[]): Promise<void> {
  const columns = Object.keys(rows[0] ?? {});
  if (columns.length === 0) return;
  const values = rows.map((r) => sql`(${sql.join(columns.map((c) => r[c]))})`);
  await sql`insert into ${sql.table(table.name)} (${sql.join(columns.map((c) => sql.ref(c)))}) values ${sql.join(values)}`.execute(db);
}

/** How many rows a table holds; the audit head's row counts once the chain has an entry. */
export async function rowCount(db: Db, table: CopiedTable): Promise<number> {
  const where = table.name === 'audit_head' ? sql`where seq > 0` : sql``;
  const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(table.name)} ${where}`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

export async function emptyTable(db: Db, table: CopiedTable): Promise<void> {
  await sql`delete from ${sql.table(table.name)}`.execute(db);
}

/**
 * Moves an identity's counter to just past the largest id copied. PostgreSQL's sequence does
 * not move when ids are given; SQLite's moves up by itself but not down (after --replace), and
 * a gap before the next audit entry would read as entries removed.
 */
export async function resetIdentity(db: Db, dialect: 'sqlite' | 'postgres', table: CopiedTable): Promise<void> {
  const t = sql.table(table.name);
  if (dialect === 'postgres') {
    await sql`select setval(pg_get_serial_sequence(${table.name}, 'id'), coalesce((select max(id) from ${t}), 0) + 1, false)`.execute(db);
  } else {
    await sql`update sqlite_sequence set seq = (select coalesce(max(id), 0) from ${t}) where name = ${table.name}`.execute(db);
  }
}

/** The names of the migrations a database has applied (Kysely's own table). */
export async function appliedMigrations(db: Db): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db);
  return rows.map((r) => r.name);
}

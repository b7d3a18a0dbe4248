import { SoakpError } from '../shared/index.js';
import { appliedMigrations, batches, COPIED_TABLES, emptyTable, insertRows, resetIdentity, rowCount } from './copy-tables.js';
import type { Kysely } from './kysely.js';
import type { Store } from './ports.js';
import type { Database } from './schema.js';
import { type SqlAccess, sqlOf } from './sql-access.js';

export interface CopyOptions {
  /** Empty the destination first (in the same transaction) instead of refusing one that holds data. */
  replace?: boolean;
  /** Rows read and written at a time. */
  batchSize?: number;
}

/** Rows copied, by table, in copy order. */
export type CopyCounts = Record<string, number>;

/**
 * Copies every soakp table from one SQL store to another, row for row: ids, sealed bytes,
 * the usage ledger and the audit chain with its signed head, so the copy verifies under the
 * same master key. The source is read in one snapshot; the destination is written in one
 * transaction, so a failure part-way leaves it as it was. Both must be migrated alike.
 */
export async function copyStore(from: Store, to: Store, options: CopyOptions = {}): Promise<CopyCounts> {
  const src = sqlOf(from);
  const dst = sqlOf(to);
  await sameMigrations(src.db, dst.db);
  const size = options.batchSize ?? 500;
  return snapshot(src, (read) =>
    dst.db.transaction().execute(async (write) => {
      const held = await holding(write);
      if (held.length > 0 && !options.replace) throw notEmpty(held);
      // audit_head always: a new database has its (empty) head row from the migrations.
      for (const table of [...COPIED_TABLES].reverse()) await emptyTable(write, table);
      const counts: CopyCounts = {};
      for (const table of COPIED_TABLES) {
        let copied = 0;
        for await (const rows of batches(read, table, size)) {
          await insertRows(write, table, rows);
          copied += rows.length;
        }
        counts[table.name] = copied;
        if (table.identity) await resetIdentity(write, dst.dialect, table);
      }
      return counts;
    }),
  );
}

/** Tables holding soakp data, with their row counts (the empty head of a new database is not data). */
export async function holding(db: Kysely<Database>): Promise<Array<[string, number]>> {
  const found: Array<[string, number]> = [];
  for (const table of COPIED_TABLES) {
    const n = await rowCount(db, table);
    if (n > 0) found.push([table.name, n]);
  }
  return found;
}

// One consistent view of the source: a server still writing to it cannot tear the copy
// (a usage row without its user's token, an audit head ahead of its log).
function snapshot<T>(src: SqlAccess, fn: (read: Kysely<Database>) => Promise<T>): Promise<T> {
  const tx = src.db.transaction();
  return (src.dialect === 'postgres' ? tx.setIsolationLevel('repeatable read').setAccessMode('read only') : tx).execute(fn);
}

async function sameMigrations(src: Kysely<Database>, dst: Kysely<Database>): Promise<void> {
  const [a, b] = await Promise.all([appliedMigrations(src), appliedMigrations(dst)]);
  const onlySource = a.filter((m) => !b.includes(m));
  const onlyDest = b.filter((m) => !a.includes(m));
  if (onlySource.length === 0 && onlyDest.length === 0) return;
  const parts = [
    onlySource.length > 0 ? `only the source has ${onlySource.join(', ')}` : '',
    onlyDest.length > 0 ? `only the destination has ${onlyDest.join(', ')}` : '',
  ].filter(Boolean);
  throw new SoakpError(
    'store_corrupt',
    `The source and the destination are at different schema versions (${parts.join('; ')}). ` +
      'Copy with the soakp version that wrote the newer one; nothing was copied.',
  );
}

function notEmpty(held: ReadonlyArray<[string, number]>): SoakpError {
  const list = held.map(([t, n]) => `${t}: ${n}`).join(', ');
  return new SoakpError(
    'conflict',
    `The destination already holds soakp data (${list}); nothing was copied. ` +
      'Copy into an empty database, or add --replace to delete what is there and copy over it.',
  );
}

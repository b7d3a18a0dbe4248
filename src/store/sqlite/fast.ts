import type BetterSqlite3 from 'better-sqlite3-multiple-ciphers';
import type { UsageRecord } from '../../domain/index.js';
import type { Kysely } from '../kysely.js';
import { overLimit, reserveQuery, toUsageRow } from '../ledger-repos.js';
import type { BudgetRepo, UsageRepo } from '../ports.js';
import type { Database } from '../schema.js';

const SAMPLE: UsageRecord = {
  at: 0, userId: '', tokenId: '', upstream: '', model: null, endpoint: 'chat', status: 0, promptTokens: 0, completionTokens: 0,
  totalTokens: 0, costMicros: 0, durationMs: 0, bytesIn: 0, bytesOut: 0, source: 'none',
};

// Statements on the hot path, prepared once on the raw connection instead of built by Kysely
// each time. While Kysely has a transaction open on this (single) connection such a statement
// would join it, so then the portable path is taken, which waits its turn.

/**
 * The budget reservation runs on every metered request: here it is reserveQuery's SQL, compiled
 * by Kysely once per shape of limit (tokens, micros, both, neither) and prepared on the raw
 * connection. Kysely's parameter order is checked once per shape, loudly, against the order
 * the statement is bound in.
 */
export function fastReserve(db: Kysely<Database>, raw: BetterSqlite3.Database, portable: BudgetRepo['reserve']): BudgetRepo['reserve'] {
  const statements = new Map<string, BetterSqlite3.Statement>();
  const prepared = (limit: Parameters<BudgetRepo['reserve']>[3]): BetterSqlite3.Statement => {
    const shape = `${limit.tokens !== undefined}:${limit.micros !== undefined}`;
    let stmt = statements.get(shape);
    if (!stmt) {
      const probe = { tokens: limit.tokens === undefined ? undefined : -3, micros: limit.micros === undefined ? undefined : -4 };
      const { sql, parameters } = reserveQuery(db, '\u0000scope', '\u0000period', { tokens: -1, micros: -2 }, probe).compile();
      const expected = bound('\u0000scope', '\u0000period', { tokens: -1, micros: -2 }, probe);
      if (JSON.stringify(parameters) !== JSON.stringify(expected)) throw new Error(`Kysely now orders the reservation's parameters as ${JSON.stringify(parameters)}: update bound() in sqlite/fast.ts.`);
      stmt = raw.prepare(sql);
      statements.set(shape, stmt);
    }
    return stmt;
  };
  return async (scope, period, amount, limit) => {
    if (raw.inTransaction) return portable(scope, period, amount, limit);
    if (overLimit(amount, limit)) return false;
    return prepared(limit).run(...bound(scope, period, amount, limit)).changes > 0;
  };
}

/** reserveQuery's parameters, in its order. */
function bound(scope: string, period: string, amount: Parameters<BudgetRepo['reserve']>[2], limit: Parameters<BudgetRepo['reserve']>[3]): Array<string | number> {
  const args: Array<string | number> = [scope, period, amount.tokens, amount.micros];
  if (limit.tokens !== undefined) args.push(limit.tokens);
  if (limit.micros !== undefined) args.push(limit.micros);
  return args;
}

/**
 * The usage ledger's batches (every second under load, up to 200 rows each): one prepared
 * single-row insert run per row inside one transaction — all or none, as the port requires —
 * instead of a statement with thousands of parameters that Kysely compiles anew for every batch.
 */
export function fastInsertUsage(db: Kysely<Database>, raw: BetterSqlite3.Database, portable: UsageRepo['insertMany']): UsageRepo['insertMany'] {
  // The SQL is Kysely's own for one row, compiled once: its positional parameters follow the
  // row's keys, so each row binds its values in order (binding by name would look each one up).
  const { sql } = db.insertInto('usage').values(toUsageRow(SAMPLE)).compile();
  const stmt = raw.prepare(sql);
  const insertAll = raw.transaction((rows: Parameters<UsageRepo['insertMany']>[0]) => {
    for (const r of rows) stmt.run(...Object.values(toUsageRow(r)));
  });
  return async (rows) => {
    if (rows.length === 0) return;
    if (raw.inTransaction) return portable(rows);
    insertAll(rows);
  };
}

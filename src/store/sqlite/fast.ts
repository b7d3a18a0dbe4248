import type BetterSqlite3 from 'better-sqlite3-multiple-ciphers';
import type { UsageRecord } from '../../domain/index.js';
import type { Kysely } from '../kysely.js';
import { toUsageRow } from '../ledger-repos.js';
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
 * The budget reservation runs on every metered request: here it is one prepared statement on
 * the raw connection.
 */
export function fastReserve(raw: BetterSqlite3.Database, portable: BudgetRepo['reserve']): BudgetRepo['reserve'] {
  const stmt = raw.prepare(
    `insert into budget_counters (scope, period, reserved_tokens, reserved_micros) values (@scope, @period, @tokens, @micros)
     on conflict (scope, period) do update set
       reserved_tokens = budget_counters.reserved_tokens + excluded.reserved_tokens,
       reserved_micros = budget_counters.reserved_micros + excluded.reserved_micros
     where (@limitTokens is null or budget_counters.spent_tokens + budget_counters.reserved_tokens + excluded.reserved_tokens <= @limitTokens)
       and (@limitMicros is null or budget_counters.spent_micros + budget_counters.reserved_micros + excluded.reserved_micros <= @limitMicros)`,
  );
  return async (scope, period, amount, limit) => {
    if (raw.inTransaction) return portable(scope, period, amount, limit);
    if ((limit.tokens !== undefined && amount.tokens > limit.tokens) || (limit.micros !== undefined && amount.micros > limit.micros)) return false;
    const result = stmt.run({ scope, period, tokens: amount.tokens, micros: amount.micros, limitTokens: limit.tokens ?? null, limitMicros: limit.micros ?? null });
    return result.changes > 0;
  };
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

import type { CompiledQuery } from 'kysely';
import { type Kysely, sql } from './kysely.js';

import type { Amount } from '../domain/index.js';
import type { BudgetHold, BudgetRepo, BudgetSettlement } from './ports.js';
import type { Database } from './schema.js';

/** Releases `reserved` from a budget's counters (never below zero) and adds `actual` to spent. */
export function settleQuery(db: Kysely<Database>, scope: string, period: string, reserved: Amount, actual: Amount) {
  return db
    .updateTable('budget_counters')
    .set((eb) => ({
      // CASE rather than max()/greatest(): the same SQL in SQLite and PostgreSQL.
      reserved_tokens: sql<number>`case when reserved_tokens > ${reserved.tokens} then reserved_tokens - ${reserved.tokens} else 0 end`,
      reserved_micros: sql<number>`case when reserved_micros > ${reserved.micros} then reserved_micros - ${reserved.micros} else 0 end`,
      spent_tokens: eb('spent_tokens', '+', actual.tokens),
      spent_micros: eb('spent_micros', '+', actual.micros),
    }))
    .where('scope', '=', scope)
    .where('period', '=', period);
}

type Holds = Pick<BudgetRepo, 'join' | 'settleHeld' | 'instances' | 'reclaim'>;

/** What a statement gave: its rows (a select) or how many rows it changed. */
export type Step = { readonly rows: ReadonlyArray<Record<string, unknown>>; readonly changes: number };
/**
 * A transaction as the statements it runs, one after another, each chosen from what the last
 * gave: Kysely runs them awaiting each (runSteps), SQLite's store in one synchronous transaction.
 */
export type Steps<T> = Generator<CompiledQuery, T, Step>;

const NONE: Amount = { tokens: 0, micros: 0 };

/**
 * Each instance's holds on the budgets, written with its settlements, and their reclaim. Every
 * transaction starts with a write to the instance's row: in PostgreSQL that row's lock orders a
 * reclaim against the instance's own writes (the loser finds the row changed or gone). Counters
 * are updated in one order (by scope, then period) everywhere, so transactions that update
 * several cannot deadlock.
 */
export function budgetHolds(db: Kysely<Database>): Holds {
  return {
    async join(instance, at) {
      await db.insertInto('instances').values({ id: instance, heartbeat_at: at }).onConflict((oc) => oc.column('id').doNothing()).execute();
    },
    settleHeld: (instance, at, settlements, holds) => runSteps(db, (trx) => settleHeldSteps(trx, instance, at, settlements, holds)),
    async instances() {
      const rows = await db.selectFrom('instances').select(['id', 'heartbeat_at']).orderBy('id').execute();
      return rows.map((r) => ({ instance: r.id, heartbeatAt: Number(r.heartbeat_at) }));
    },
    reclaim: (instance, heartbeatAt) => runSteps(db, (trx) => reclaimSteps(trx, instance, heartbeatAt)),
  };
}

export function* settleHeldSteps(db: Kysely<Database>, instance: string, at: number, settlements: readonly BudgetSettlement[], holds: readonly BudgetHold[]): Steps<boolean> {
  const beat = yield db.updateTable('instances').set({ heartbeat_at: at }).where('id', '=', instance).compile();
  if (beat.changes === 0) return false;
  for (const h of holds) {
    if (h.amount.tokens !== 0 || h.amount.micros !== 0) yield upsertHold(db, instance, h);
    else yield db.deleteFrom('budget_holds').where('instance', '=', instance).where('scope', '=', h.scope).where('period', '=', h.period).compile();
  }
  for (const s of inOrder(settlements)) yield settleQuery(db, s.scope, s.period, s.reserved, s.actual).compile();
  return true;
}

export function* reclaimSteps(db: Kysely<Database>, instance: string, heartbeatAt: number | undefined): Steps<BudgetHold[] | undefined> {
  let claim = db.deleteFrom('instances').where('id', '=', instance);
  if (heartbeatAt !== undefined) claim = claim.where('heartbeat_at', '=', heartbeatAt);
  if ((yield claim.compile()).changes === 0) return undefined;
  const { rows } = yield db.selectFrom('budget_holds').select(['scope', 'period', 'tokens', 'micros']).where('instance', '=', instance).compile();
  const holds = inOrder(rows.map((r): BudgetHold => ({ scope: String(r.scope), period: String(r.period), amount: { tokens: Number(r.tokens), micros: Number(r.micros) } })));
  for (const h of holds) yield settleQuery(db, h.scope, h.period, h.amount, NONE).compile();
  yield db.deleteFrom('budget_holds').where('instance', '=', instance).compile();
  return holds;
}

function upsertHold(db: Kysely<Database>, instance: string, h: BudgetHold): CompiledQuery {
  return db
    .insertInto('budget_holds')
    .values({ instance, scope: h.scope, period: h.period, tokens: h.amount.tokens, micros: h.amount.micros })
    .onConflict((oc) => oc.columns(['instance', 'scope', 'period']).doUpdateSet({ tokens: h.amount.tokens, micros: h.amount.micros }))
    .compile();
}

/** Sorted by scope, then period, by code unit (not the database's collation, which may differ). */
function inOrder<T extends { scope: string; period: string }>(items: readonly T[]): T[] {
  const key = (x: T) => `${x.scope}\u0000${x.period}`;
  return [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** Runs the steps in a transaction of their own, or in the caller's when `db` already is one. */
function runSteps<T>(db: Kysely<Database>, steps: (trx: Kysely<Database>) => Steps<T>): Promise<T> {
  const run = async (trx: Kysely<Database>): Promise<T> => {
    const it = steps(trx);
    for (let next = it.next(); ; ) {
      if (next.done) return next.value;
      const r = await trx.executeQuery<Record<string, unknown>>(next.value);
      next = it.next({ rows: r.rows, changes: Number(r.numAffectedRows ?? 0n) });
    }
  };
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}

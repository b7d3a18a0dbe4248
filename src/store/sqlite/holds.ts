import type BetterSqlite3 from 'better-sqlite3-multiple-ciphers';
import type { CompiledQuery } from 'kysely';
import { type Step, type Steps, reclaimSteps, settleHeldSteps } from '../budget-holds.js';
import type { Kysely } from '../kysely.js';
import type { BudgetRepo } from '../ports.js';
import type { Database } from '../schema.js';

type Holds = Pick<BudgetRepo, 'settleHeld' | 'reclaim'>;

/**
 * The holds' transactions run synchronously on the raw connection (BEGIN IMMEDIATE), not
 * statement by statement through Kysely: the write lock is never held across turns of the event
 * loop, so another connection in this thread waiting for it (better-sqlite3 waits synchronously)
 * cannot stall the one holding it. Other processes wait their turn (busy_timeout), as for any write.
 * Inside a Kysely transaction on this connection the portable path is taken, which waits for it.
 */
export function syncHolds(db: Kysely<Database>, raw: BetterSqlite3.Database, portable: Holds): Holds {
  const statements = new Map<string, BetterSqlite3.Statement>();
  const run = (q: CompiledQuery): Step => {
    let stmt = statements.get(q.sql);
    if (!stmt) statements.set(q.sql, (stmt = raw.prepare(q.sql))); // a handful of shapes: the texts repeat
    const params = q.parameters as unknown[];
    return stmt.reader ? { rows: stmt.all(...params) as Array<Record<string, unknown>>, changes: 0 } : { rows: [], changes: stmt.run(...params).changes };
  };
  const atomically = raw.transaction(<T>(steps: Steps<T>): T => {
    for (let next = steps.next(); ; next = steps.next(run(next.value))) if (next.done) return next.value;
  });
  return {
    async settleHeld(instance, at, settlements, holds) {
      if (raw.inTransaction) return portable.settleHeld(instance, at, settlements, holds);
      return atomically.immediate(settleHeldSteps(db, instance, at, settlements, holds)) as boolean;
    },
    async reclaim(instance, heartbeatAt) {
      if (raw.inTransaction) return portable.reclaim(instance, heartbeatAt);
      return atomically.immediate(reclaimSteps(db, instance, heartbeatAt)) as Awaited<ReturnType<Holds['reclaim']>>;
    },
  };
}

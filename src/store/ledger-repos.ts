import { type Kysely, sql } from './kysely.js';

import type { AuditEntry, UsageRecord, UsageSummary } from '../domain/index.js';
import type { AuditRepo, BudgetRepo, UsageRepo } from './ports.js';
import type { Database } from './schema.js';
import { budgetHolds, settleQuery } from './budget-holds.js';

/** The usage ledger, budget counters and audit log over any Kysely database with soakp's schema. */
export function usageRepo(db: Kysely<Database>): UsageRepo {
  return {
    async insertMany(rows) {
      if (rows.length === 0) return;
      // PostgreSQL takes at most 65,535 parameters a statement (16 a row): a long batch goes in
      // slices, inside one transaction so that it is still all or nothing.
      const slices: Array<Array<ReturnType<typeof toUsageRow>>> = [];
      for (let i = 0; i < rows.length; i += 1000) slices.push(rows.slice(i, i + 1000).map(toUsageRow));
      if (slices.length === 1) return void (await db.insertInto('usage').values(slices[0] as Array<ReturnType<typeof toUsageRow>>).execute());
      const write = async (tx: Kysely<Database>): Promise<void> => {
        for (const slice of slices) await tx.insertInto('usage').values(slice).execute();
      };
      await (db.isTransaction ? write(db) : db.transaction().execute(write));
    },
    async summarize({ since, userId, by }) {
      // Grouped in SQL: a month of a busy ledger is millions of rows, and only the groups come back.
      // A day is `at` divided by a day's milliseconds: integer division in SQLite and PostgreSQL alike.
      // By user as an expression (user_id is never null): else SQLite walks the whole (user, time)
      // index to save a sort, where the period's rows alone are in the covering time index.
      const group = by === 'day' ? sql<unknown>`usage.at / 86400000` : by === 'user' ? sql<unknown>`coalesce(usage.user_id, '')` : sql<unknown>`usage.model`;
      let q = db
        .selectFrom('usage')
        .select((eb) => [
          group.as('g'),
          eb.fn.countAll<number>().as('requests'),
          eb.fn.sum<number>('usage.prompt_tokens').as('prompt'),
          eb.fn.sum<number>('usage.completion_tokens').as('completion'),
          eb.fn.sum<number>('usage.total_tokens').as('total'),
          eb.fn.sum<number>('usage.cost_micros').as('cost'),
        ])
        .where('usage.at', '>=', since)
        .groupBy(group);
      if (userId !== undefined) q = q.where('usage.user_id', '=', userId);
      // Users' emails joined to the groups, not to every row (a deleted user keeps their id).
      const rows: Array<Awaited<ReturnType<typeof q.execute>>[number] & { email?: string | null }> =
        by === 'user' ? await db.selectFrom(q.as('s')).leftJoin('users', (j) => j.onRef('users.id', '=', sql.ref('s.g'))).selectAll('s').select('users.email').execute() : await q.execute();
      const emails = new Map(rows.map((r) => [String(r.g), r.email ?? undefined]));
      const keyOf = (g: unknown): string => {
        if (by === 'day') return new Date(Number(g) * 86_400_000).toISOString().slice(0, 10);
        if (by === 'user') return emails.get(String(g)) ?? String(g);
        return g === null ? '(none)' : String(g);
      };
      return rows
        .map((r): UsageSummary => ({ key: keyOf(r.g), requests: Number(r.requests), promptTokens: Number(r.prompt), completionTokens: Number(r.completion), totalTokens: Number(r.total), costMicros: Number(r.cost) }))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },
    async count() {
      const r = await db.selectFrom('usage').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      return Number(r.n);
    },
  };
}

type Amount = Parameters<BudgetRepo['reserve']>[2];
type Limit = Parameters<BudgetRepo['reserve']>[3];

/** Whether `amount` alone passes a limit (then no row can take it). */
export function overLimit(amount: Amount, limit: Limit): boolean {
  return (limit.tokens !== undefined && amount.tokens > limit.tokens) || (limit.micros !== undefined && amount.micros > limit.micros);
}

/**
 * The reservation as one statement: insert the row with this reservation, or add it to the
 * existing row only if spent + reserved + amount stays within each limit. Atomic in SQLite and
 * PostgreSQL. Its parameters, in order: scope, period, the amount's tokens and micros, then
 * each limit given (tokens, micros) — SQLite's prepared copy (sqlite/fast.ts) binds them so.
 */
export function reserveQuery(db: Kysely<Database>, scope: string, period: string, amount: Amount, limit: Limit) {
  return db
    .insertInto('budget_counters')
    .values({ scope, period, reserved_tokens: amount.tokens, reserved_micros: amount.micros })
    .onConflict((oc) => {
      let update = oc.columns(['scope', 'period']).doUpdateSet({
        reserved_tokens: sql<number>`budget_counters.reserved_tokens + excluded.reserved_tokens`,
        reserved_micros: sql<number>`budget_counters.reserved_micros + excluded.reserved_micros`,
      });
      if (limit.tokens !== undefined) update = update.where(sql<number>`budget_counters.spent_tokens + budget_counters.reserved_tokens + excluded.reserved_tokens`, '<=', limit.tokens);
      if (limit.micros !== undefined) update = update.where(sql<number>`budget_counters.spent_micros + budget_counters.reserved_micros + excluded.reserved_micros`, '<=', limit.micros);
      return update;
    });
}

export function budgetRepo(db: Kysely<Database>): BudgetRepo {
  return {
    ...budgetHolds(db),
    async reserve(scope, period, amount, limit) {
      if (overLimit(amount, limit)) return false;
      const r = await reserveQuery(db, scope, period, amount, limit).executeTakeFirst();
      return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
    },
    async settle(scope, period, reserved, actual) {
      await settleQuery(db, scope, period, reserved, actual).execute();
    },
    async get(scope, period) {
      const r = await db.selectFrom('budget_counters').selectAll().where('scope', '=', scope).where('period', '=', period).executeTakeFirst();
      return {
        spentTokens: Number(r?.spent_tokens ?? 0),
        spentMicros: Number(r?.spent_micros ?? 0),
        reservedTokens: Number(r?.reserved_tokens ?? 0),
        reservedMicros: Number(r?.reserved_micros ?? 0),
      };
    },
  };
}

export function auditRepo(db: Kysely<Database>): AuditRepo {
  return {
    async append(entry, hashOf, macOf) {
      return db.transaction().execute(async (trx) => {
        // Writing the head row first takes the write lock, so the read below sees the true last hash.
        await trx.updateTable('audit_head').set((eb) => ({ seq: eb('seq', '+', 1) })).where('id', '=', 1).execute();
        const head = await trx.selectFrom('audit_head').select(['seq', 'hash', 'mac']).where('id', '=', 1).executeTakeFirstOrThrow();
        const hash = hashOf(head.hash, entry);
        const row = { at: entry.at, actor: entry.actor, action: entry.action, target: entry.target, details: JSON.stringify(entry.details), source: entry.source, prev_hash: head.hash, hash };
        const inserted = await trx.insertInto('audit_log').values(row).returning('id').executeTakeFirstOrThrow();
        const seq = Number(head.seq);
        await trx.updateTable('audit_head').set({ hash, mac: macOf({ seq: seq - 1, hash: head.hash, mac: head.mac }, seq, hash) }).where('id', '=', 1).execute();
        return { ...entry, id: Number(inserted.id), prevHash: head.hash, hash };
      });
    },
    async head() {
      const h = await db.selectFrom('audit_head').select(['seq', 'hash', 'mac']).where('id', '=', 1).executeTakeFirstOrThrow();
      return { seq: Number(h.seq), hash: h.hash, mac: h.mac };
    },
    async signHead(macOf) {
      return db.transaction().execute(async (trx) => {
        // A no-op write first takes the write lock, as in append: no append slips in between.
        await trx.updateTable('audit_head').set((eb) => ({ seq: eb.ref('seq') })).where('id', '=', 1).execute();
        const h = await trx.selectFrom('audit_head').select(['seq', 'hash', 'mac']).where('id', '=', 1).executeTakeFirstOrThrow();
        if (h.mac !== '') return false;
        await trx.updateTable('audit_head').set({ mac: macOf(Number(h.seq), h.hash) }).where('id', '=', 1).execute();
        return true;
      });
    },
    async list(filter = {}) {
      let q = db.selectFrom('audit_log').selectAll();
      if (filter.since !== undefined) q = q.where('at', '>=', filter.since);
      const rows = filter.limit !== undefined ? (await q.orderBy('id', 'desc').limit(filter.limit).execute()).reverse() : await q.orderBy('id').execute();
      return rows.map(
        (r): AuditEntry => ({
          id: Number(r.id), at: Number(r.at), actor: r.actor, action: r.action, target: r.target,
          details: JSON.parse(r.details) as Record<string, unknown>, source: r.source, prevHash: r.prev_hash, hash: r.hash,
        }),
      );
    },
  };
}

/** A ledger row as the `usage` table holds it: the one mapping, for Kysely and SQLite's prepared insert alike. */
export function toUsageRow(u: UsageRecord) {
  return {
    at: u.at, user_id: u.userId, token_id: u.tokenId, upstream: u.upstream, model: u.model, endpoint: u.endpoint, status: u.status,
    prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.totalTokens, cost_micros: u.costMicros,
    duration_ms: u.durationMs, bytes_in: u.bytesIn, bytes_out: u.bytesOut, source: u.source,
  };
}


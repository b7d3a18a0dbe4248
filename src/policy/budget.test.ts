import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Budget } from '../domain/policy.js';
import { createLogger } from '../shared/logger.js';
import type { BudgetRepo, Store } from '../store/ports.js';
import { openSqliteStore } from '../store/sqlite/open.js';
import { type BudgetOptions, type BudgetSubject, Budgets, type Reservation } from './budget.js';

const logger = createLogger('silent');
const PRICES = { 'cheap-model': { input: 1, output: 2 } };
const NOW = Date.UTC(2026, 10, 23, 12);
const PERIOD = '2026-11';
const subject = (budget: Omit<Budget, 'period'>, scope = 'token:t'): BudgetSubject => ({ scope, budget: { period: 'month', ...budget } });
/** A request whose worst case is `tokens` (all prompt), on the priced model. */
const worst = (tokens: number) => ({ model: 'cheap-model', promptTokens: tokens, completionTokens: 0 });

/** The real SQLite repo, with its reserve calls counted. */
function counted(repo: BudgetRepo): BudgetRepo & { reserves: number } {
  const c = { ...repo, reserves: 0, reserve: (...args: Parameters<BudgetRepo['reserve']>) => (c.reserves++, repo.reserve(...args)) };
  return c;
}

/** Reserves; true when admitted, false on insufficient_quota (any other error fails the test). */
async function admitted(b: Budgets, subjects: BudgetSubject[], tokens: number, held: Reservation[]): Promise<boolean> {
  try {
    held.push(await b.reserve(subjects, worst(tokens), NOW));
    return true;
  } catch (err) {
    expect(err).toMatchObject({ code: 'insufficient_quota' });
    return false;
  }
}

describe('Budgets with per-process leases', () => {
  let dir: string;
  let store: Store;
  let peer: Store; // a second connection to the same file: another soakp process
  const opened: Budgets[] = [];
  const budgets = (repo: BudgetRepo, options?: BudgetOptions) => {
    const b = new Budgets(repo, PRICES, logger, options);
    opened.push(b);
    return b;
  };
  const state = (scope = 'token:t', period = PERIOD) => store.budgets.get(scope, period);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'soakp-budget-'));
    store = await openSqliteStore({ file: join(dir, 'soakp.db') });
    peer = await openSqliteStore({ file: join(dir, 'soakp.db') });
  });

  afterEach(async () => {
    for (const b of opened.splice(0)) await b.close();
    await peer.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves 100 sequential reservations on a large budget with a handful of store writes, and settles them exactly', async () => {
    const repo = counted(store.budgets);
    const b = budgets(repo);
    const held: Reservation[] = [];
    for (let i = 0; i < 100; i++) expect(await admitted(b, [subject({ tokens: 1_000_000, usd: 100 })], 500, held)).toBe(true);
    expect(repo.reserves).toBeLessThanOrEqual(4); // a chunk is 1/64 of the budget: 31 requests of 500 tokens
    expect((await state()).reservedTokens).toBeGreaterThanOrEqual(100 * 500); // in flight + the free pool
    for (const r of held) await r.settle(100, 20, null);
    await b.close();
    expect(await state()).toEqual({ spentTokens: 100 * 120, spentMicros: 100 * (100 + 40), reservedTokens: 0, reservedMicros: 0 });
  });

  it('fetches one chunk for many concurrent requests that miss the pool together', async () => {
    const repo = counted(store.budgets);
    const b = budgets(repo);
    const held: Reservation[] = [];
    const results = await Promise.all(Array.from({ length: 60 }, () => admitted(b, [subject({ tokens: 64_000 })], 50, held)));
    expect(results.every(Boolean)).toBe(true);
    expect(repo.reserves).toBe(3); // 60 × 50 tokens in chunks of 1000, fetched one after another
    expect((await state()).reservedTokens).toBe(3000);
  });

  it('reserves exactly the worst case on a small budget, as without leases', async () => {
    const b = budgets(counted(store.budgets));
    const held: Reservation[] = [];
    expect(await admitted(b, [subject({ tokens: 40 })], 12, held)).toBe(true);
    expect((await state()).reservedTokens).toBe(12);
    const results = await Promise.all(Array.from({ length: 8 }, () => admitted(b, [subject({ tokens: 40 })], 12, held)));
    expect(results.filter(Boolean)).toHaveLength(2);
    expect((await state()).reservedTokens).toBe(36);
  });

  it('never lets two processes together pass a budget, in any interleaving, also after pools are given back', async () => {
    const a = budgets(store.budgets);
    const c = budgets(peer.budgets);
    const held: Reservation[] = [];
    // Requests of 100 on 1000 tokens: the lease (1000/64) is smaller than a request, so exactly 10.
    const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => admitted(i % 2 ? a : c, [subject({ tokens: 1000 })], 100, held)));
    expect(burst.filter(Boolean)).toHaveLength(10);
    // Requests of 10 on 6400 tokens: each process leases 100 at once. Interleave them, settling
    // some at their worst case (so spent + reserved stays what was admitted), checking every step.
    const big = [subject({ tokens: 6400 }, 'user:u')];
    let n = 0;
    for (let i = 0; i < 605; i++) { // c's 403 requests end part-way through its 41st chunk
      if (await admitted(i % 3 === 0 ? a : c, big, 10, held)) n++;
      if (i % 5 === 0) await held.at(-1)?.settle(10, 0, null);
      const s = await state('user:u');
      expect(n * 10).toBeLessThanOrEqual(s.spentTokens + s.reservedTokens); // every admitted request is counted…
      expect(s.spentTokens + s.reservedTokens).toBeLessThanOrEqual(6400); // …within the limit
    }
    while (await admitted(a, big, 10, held)) n++; // a takes all the store has left…
    expect(n).toBeLessThan(640); // …but not c's unused pool
    await c.close(); // which goes back to the store, so a can use the rest of the budget
    while (await admitted(a, big, 10, held)) n++;
    expect(n).toBe(640);
  });

  it('gives the pool back on close: the store reserves nothing once every request settled', async () => {
    const b = budgets(store.budgets);
    const held: Reservation[] = [];
    for (let i = 0; i < 5; i++) await admitted(b, [subject({ tokens: 64_000 }), subject({ usd: 1 }, 'user:u')], 100, held);
    expect((await state()).reservedTokens).toBe(1000); // one chunk: 64,000 / 64
    expect((await state('user:u')).reservedMicros).toBe(15_600); // k × 100 micros within 1,000,000 / 64
    for (const r of held) await r.settle(50, 0, null);
    await b.close();
    expect(await state()).toMatchObject({ spentTokens: 250, reservedTokens: 0, reservedMicros: 0 });
    expect(await state('user:u')).toMatchObject({ spentMicros: 250, reservedTokens: 0, reservedMicros: 0 });
  });

  it('gives back a pool once it has been idle, and a new period starts a new lease', async () => {
    const b = budgets(store.budgets, { idleMs: 60_000 });
    const held: Reservation[] = [];
    await admitted(b, [subject({ tokens: 64_000 })], 100, held);
    await held[0]?.settle(100, 0, null);
    await b.giveBackIdle(Date.now()); // used just now: kept
    expect((await state()).reservedTokens).toBe(900);
    await b.giveBackIdle(Date.now() + 60_000);
    expect(await state()).toMatchObject({ spentTokens: 100, reservedTokens: 0 });
    // The next month's first request gives back this month's pool.
    await admitted(b, [subject({ tokens: 64_000 })], 100, held);
    held.push(await b.reserve([subject({ tokens: 64_000 })], worst(100), Date.UTC(2026, 11, 2)));
    await b.giveBackIdle(0); // nothing idle: just writes pending settlements
    expect((await state()).reservedTokens).toBe(100); // only the request still in flight
    expect((await state('token:t', '2026-12')).reservedTokens).toBe(1000);
  });

  it('pays a use beyond the worst case from the pool, and refuses the next request once the pool cannot', async () => {
    const b = budgets(store.budgets);
    const held: Reservation[] = [];
    const budget = [subject({ tokens: 6400 })];
    expect(await admitted(b, budget, 10, held)).toBe(true); // a chunk of 100: 90 left in the pool
    await held[0]?.settle(40, 0, null); // 30 beyond its worst case: paid from the pool
    await b.giveBackIdle(0); // writes the settlement
    expect(await state()).toMatchObject({ spentTokens: 40, reservedTokens: 60 }); // still 100 in all
    expect(await admitted(b, budget, 10, held)).toBe(true);
    await held[1]?.settle(7000, 0, null); // e.g. a non-streamed answer far beyond max_tokens: the pool runs dry
    await b.giveBackIdle(0);
    expect(await state()).toMatchObject({ spentTokens: 7040, reservedTokens: 0 });
    expect(await admitted(b, budget, 10, held)).toBe(false);
  });

  it('is all or nothing across budgets: a refusal releases what it took from the other budget', async () => {
    const repo = counted(store.budgets);
    const b = budgets(repo);
    const held: Reservation[] = [];
    const both = [subject({ tokens: 64_000 }), subject({ tokens: 150 }, 'user:u')];
    expect(await admitted(b, both, 100, held)).toBe(true);
    expect(await admitted(b, both, 100, held)).toBe(false); // the token's pool gave 100, the user's budget refused
    await b.giveBackIdle(0); // writes the release
    expect((await state()).reservedTokens).toBe(900); // the first request's 100 + the pool's 800
    expect((await state('user:u')).reservedTokens).toBe(100);
    const writes = repo.reserves;
    expect(await admitted(b, [subject({ tokens: 64_000 })], 800, held)).toBe(true); // served by the pool
    expect(repo.reserves).toBe(writes);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../shared/logger.js';
import type { Store } from '../store/ports.js';
import { openSqliteStore } from '../store/sqlite/open.js';
import { type BudgetSubject, Budgets, type Reservation } from './budget.js';

const logger = createLogger('silent');
const PRICES = { 'cheap-model': { input: 1, output: 2 } };
const NOW = Date.UTC(2026, 10, 23, 12);
const PERIOD = '2026-11';
// Long enough that the timers never beat during a test: the tests beat with times of their own.
const TIMEOUT = 3_600_000;
const small = (): BudgetSubject[] => [{ scope: 'token:t', budget: { period: 'month', tokens: 1000 } }]; // 1/64 < a request: no pool
const large = (): BudgetSubject[] => [{ scope: 'token:t', budget: { period: 'month', tokens: 64_000 } }]; // chunks of 1000
const worst = { model: 'cheap-model', promptTokens: 100, completionTokens: 0 };

describe('Budgets of an instance that dies', () => {
  let dir: string;
  let store: Store; // the live instance's connection
  let peer: Store; // the other instance's: closing it is that instance dying
  const opened: Budgets[] = [];
  const budgets = (s: Store) => {
    const b = new Budgets(s.budgets, PRICES, logger, { instanceTimeoutMs: TIMEOUT });
    opened.push(b);
    return b;
  };
  const state = () => store.budgets.get('token:t', PERIOD);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'soakp-reclaim-'));
    store = await openSqliteStore({ file: join(dir, 'soakp.db') });
    peer = await openSqliteStore({ file: join(dir, 'soakp.db') });
  });

  afterEach(async () => {
    for (const b of opened.splice(0)) await b.close();
    await peer.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves reserved only what it reserved since its last batch; a live instance releases the rest after the timeout', async () => {
    const dead = budgets(peer);
    const live = budgets(store);
    const held: Reservation[] = [];
    for (let i = 0; i < 3; i++) held.push(await dead.reserve(small(), worst, NOW));
    held[0]?.settle(50, 0, null);
    await dead.heartbeat(0); // a batch: the settlement, its holds (200) and its heartbeat
    held.push(await dead.reserve(small(), worst, NOW)); // reserved after its last batch
    held[1]?.settle(50, 0, null); // settled, not yet written
    await peer.close(); // dies: nothing more reaches the store
    expect(await state()).toMatchObject({ spentTokens: 50, reservedTokens: 300 });

    await live.heartbeat(0); // sees the dead instance's heartbeat…
    await live.heartbeat(TIMEOUT - 1); // …unchanged, not yet for long enough
    expect((await state()).reservedTokens).toBe(300);
    await live.heartbeat(TIMEOUT);
    // Lost: the reservation made after the last batch (100), and the usage settled after it (50).
    expect(await state()).toMatchObject({ spentTokens: 50, reservedTokens: 100 });
    expect((await store.budgets.instances()).map((i) => i.instance)).toEqual([live.instance]);
  });

  it('leaves alone an instance that keeps beating', async () => {
    const other = budgets(peer);
    const live = budgets(store);
    await other.reserve(small(), worst, NOW);
    await other.heartbeat(0);
    await live.heartbeat(0);
    await other.heartbeat(0);
    await live.heartbeat(TIMEOUT);
    await live.heartbeat(TIMEOUT * 2 - 1);
    expect((await state()).reservedTokens).toBe(100);
    expect((await store.budgets.instances()).map((i) => i.instance).sort()).toEqual([other.instance, live.instance].sort());
  });

  it('never releases twice when presumed dead while alive: it skips what the reclaim released, gives back its pool and registers again', async () => {
    const slow = budgets(peer);
    const live = budgets(store);
    const held: Reservation[] = [];
    for (let i = 0; i < 5; i++) held.push(await slow.reserve(large(), worst, NOW)); // one chunk of 1000
    await slow.heartbeat(0);
    await live.heartbeat(0);
    await live.heartbeat(TIMEOUT); // slow has not beaten meanwhile: its 1000 is released
    expect((await state()).reservedTokens).toBe(0);
    expect(await store.budgets.reserve('token:t', PERIOD, { tokens: 300, micros: 0 }, {})).toBe(true); // someone else's request
    for (const r of held) r.settle(100, 0, null);
    await slow.heartbeat(0); // finds itself unregistered: the 500 settled and its pool of 500 were released already
    expect(await state()).toMatchObject({ spentTokens: 500, reservedTokens: 300 });
    expect((await store.budgets.instances()).map((i) => i.instance).sort()).toEqual([slow.instance, live.instance].sort());
    await slow.reserve(large(), worst, NOW); // a new chunk, recorded as held again
    await slow.heartbeat(0);
    expect((await state()).reservedTokens).toBe(1300);
    await live.heartbeat(TIMEOUT * 2);
    await live.heartbeat(TIMEOUT * 3);
    expect((await state()).reservedTokens).toBe(300);
  });

  it('unregisters on a clean close once nothing is held, and stays registered while something is', async () => {
    const a = budgets(store);
    const b = budgets(peer);
    const r = await a.reserve(small(), worst, NOW);
    await b.reserve(small(), worst, NOW);
    await a.heartbeat(0);
    await b.heartbeat(0);
    r.settle(100, 0, null);
    await a.close();
    await b.close(); // its request never settled: a live instance is to release it
    expect((await store.budgets.instances()).map((i) => i.instance)).toEqual([b.instance]);
    expect(await state()).toMatchObject({ spentTokens: 100, reservedTokens: 100 });
    const live = budgets(store);
    await live.heartbeat(0);
    await live.heartbeat(TIMEOUT);
    expect(await state()).toMatchObject({ spentTokens: 100, reservedTokens: 0 });
  });

  it('never records more than it holds, in any order of reservations, settlements, pool returns and batches', async () => {
    const b = budgets(store);
    const look = new BetterSqlite3(join(dir, 'soakp.db'), { readonly: true });
    const recorded = look.prepare('SELECT coalesce(sum(tokens), 0) AS tokens FROM budget_holds WHERE scope = ?').pluck();
    let seed = 7;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n); // repeatable
    const held: Reservation[] = [];
    try {
      for (let step = 0; step < 400; step++) {
        const op = random(10);
        if (op < 4) {
          const r = await Promise.resolve(b.reserve(random(2) ? large() : small(), { ...worst, promptTokens: 1 + random(150) }, NOW)).catch(() => undefined); // refused: spent
          if (r) held.push(r);
        }
        else if (op < 7 && held.length > 0) held.splice(random(held.length), 1)[0]?.settle(random(200), 0, null); // sometimes beyond its worst case
        else if (op < 9) await b.heartbeat(0);
        else await b.giveBackIdle(Date.now() + 60_000);
        const { reservedTokens } = await state();
        expect(recorded.get('token:t')).toBeLessThanOrEqual(reservedTokens); // the only instance: it holds all of it
      }
      await b.heartbeat(0);
      expect(recorded.get('token:t')).toBe((await state()).reservedTokens); // once a batch is written, exactly
      for (const r of held.splice(0)) r.settle(10, 0, null);
      await b.close();
      expect(await state()).toMatchObject({ reservedTokens: 0 });
      expect(recorded.get('token:t')).toBe(0);
    } finally {
      look.close();
    }
  });
});

import { describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/ports.js';
import type { ContractContext } from './fixtures.js';

const amount = (tokens: number, micros = 0) => ({ tokens, micros });
const hold = (scope: string, tokens: number, micros = 0) => ({ scope, period: 'total', amount: amount(tokens, micros) });
const NONE = amount(0);

/** An instance holding `tokens` on each scope, all of it reserved in the store. */
async function holding(store: Store, instance: string, at: number, holds: Array<ReturnType<typeof hold>>): Promise<void> {
  await store.budgets.join(instance, at);
  for (const h of holds) expect(await store.budgets.reserve(h.scope, h.period, h.amount, {})).toBe(true);
  expect(await store.budgets.settleHeld(instance, at, [], holds)).toBe(true);
}

const reserved = async (store: Store, scope: string) => (await store.budgets.get(scope, 'total')).reservedTokens;

/** Instances' holds on budgets and their reclaim: the MUST sentences of BudgetRepo's join, settleHeld, instances, reclaim. */
export function budgetHoldsContract(t: ContractContext): void {
  describe('budget holds of instances', () => {
    it('registers an instance once, with its heartbeat; joining again changes nothing', async () => {
      await t.store.budgets.join('i-a', 100);
      await t.store.budgets.join('i-b', 200);
      await t.store.budgets.join('i-a', 300);
      expect(await t.store.budgets.instances()).toEqual([{ instance: 'i-a', heartbeatAt: 100 }, { instance: 'i-b', heartbeatAt: 200 }]);
    });

    it('settles, beats and writes holds only while registered, and changes nothing otherwise', async () => {
      expect(await t.store.budgets.reserve('token:a', 'total', amount(50, 5), { tokens: 100 })).toBe(true);
      const settlement = { scope: 'token:a', period: 'total', reserved: amount(20, 2), actual: amount(15, 1) };
      expect(await t.store.budgets.settleHeld('i-a', 10, [settlement], [hold('token:a', 30, 3)])).toBe(false);
      expect(await t.store.budgets.get('token:a', 'total')).toEqual({ spentTokens: 0, spentMicros: 0, reservedTokens: 50, reservedMicros: 5 });
      expect(await t.store.budgets.instances()).toEqual([]);
      await t.store.budgets.join('i-a', 10);
      expect(await t.store.budgets.settleHeld('i-a', 20, [settlement], [hold('token:a', 30, 3), hold('user:u', 7)])).toBe(true);
      expect(await t.store.budgets.get('token:a', 'total')).toEqual({ spentTokens: 15, spentMicros: 1, reservedTokens: 30, reservedMicros: 3 });
      expect(await t.store.budgets.instances()).toEqual([{ instance: 'i-a', heartbeatAt: 20 }]);
      expect(await t.store.budgets.settleHeld('i-a', 30, [], [hold('user:u', 0)])).toBe(true); // zero removes it
      expect(await t.store.budgets.reclaim('i-a')).toEqual([hold('token:a', 30, 3)]);
    });

    it('writes a batch all or none: a bad hold keeps the heartbeat, the holds and the counters as they were', async () => {
      await holding(t.store, 'i-a', 10, [hold('token:a', 40)]);
      const bad = { scope: null, period: 'total', amount: amount(1) } as unknown as ReturnType<typeof hold>;
      const settlement = { scope: 'token:a', period: 'total', reserved: amount(40), actual: amount(40) };
      await expect(t.store.budgets.settleHeld('i-a', 20, [settlement], [hold('token:a', 0), bad])).rejects.toThrow();
      expect(await t.store.budgets.instances()).toEqual([{ instance: 'i-a', heartbeatAt: 10 }]);
      expect(await t.store.budgets.get('token:a', 'total')).toMatchObject({ spentTokens: 0, reservedTokens: 40 });
      expect(await t.store.budgets.reclaim('i-a')).toEqual([hold('token:a', 40)]);
    });

    it('reclaims exactly the holds, never below zero, once; the instance is then unregistered', async () => {
      await holding(t.store, 'i-dead', 10, [hold('token:a', 30, 300), hold('user:u', 12)]);
      await holding(t.store, 'i-live', 10, [hold('token:a', 5)]);
      expect(await t.store.budgets.reserve('token:a', 'total', amount(100), {})).toBe(true); // another's request in flight
      await t.store.budgets.settle('user:u', 'total', amount(10), NONE); // the counter lost part of it elsewhere: 2 left
      const holds = await t.store.budgets.reclaim('i-dead', 10);
      expect(holds).toEqual([hold('token:a', 30, 300), hold('user:u', 12)]);
      expect(await t.store.budgets.get('token:a', 'total')).toEqual({ spentTokens: 0, spentMicros: 0, reservedTokens: 105, reservedMicros: 0 });
      expect(await reserved(t.store, 'user:u')).toBe(0);
      expect(await t.store.budgets.reclaim('i-dead', 10)).toBeUndefined();
      expect(await t.store.budgets.reclaim('i-dead')).toBeUndefined();
      expect(await t.store.budgets.instances()).toEqual([{ instance: 'i-live', heartbeatAt: 10 }]);
      expect(await t.store.budgets.settleHeld('i-dead', 20, [], [])).toBe(false);
      expect(await reserved(t.store, 'token:a')).toBe(105);
    });

    it('leaves alone an instance whose heartbeat changed since it was seen', async () => {
      await holding(t.store, 'i-a', 10, [hold('token:a', 30)]);
      expect(await t.store.budgets.settleHeld('i-a', 11, [], [])).toBe(true);
      expect(await t.store.budgets.reclaim('i-a', 10)).toBeUndefined();
      expect(await reserved(t.store, 'token:a')).toBe(30);
      expect(await t.store.budgets.instances()).toEqual([{ instance: 'i-a', heartbeatAt: 11 }]);
    });

    it('releases once when many reclaim one instance at the same time, also from another connection', async () => {
      const stores = [t.store, ...(t.canOpenPeer ? [await t.openPeer(), await t.openPeer()] : [])];
      await holding(t.store, 'i-dead', 10, [hold('token:a', 30, 3), hold('token:b', 8)]);
      expect(await t.store.budgets.reserve('token:a', 'total', amount(100), {})).toBe(true);
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (stores[i % stores.length] as Store).budgets.reclaim('i-dead', 10)));
      expect(results.filter((r) => r !== undefined)).toEqual([[hold('token:a', 30, 3), hold('token:b', 8)]]);
      expect(await t.store.budgets.get('token:a', 'total')).toMatchObject({ reservedTokens: 100, reservedMicros: 0 });
      expect(await reserved(t.store, 'token:b')).toBe(0);
    });

    it('lets either the reclaim or the instance\'s own batch win a race, never both', async () => {
      const other = t.canOpenPeer ? await t.openPeer() : t.store;
      for (let round = 0; round < 10; round++) {
        const scope = `token:r${round}`;
        await holding(t.store, `i-${round}`, 10, [hold(scope, 50)]);
        const settlement = { scope, period: 'total', reserved: amount(20), actual: amount(20) };
        // Started in either order: a store that runs each call at once sees both outcomes.
        const settle = () => t.store.budgets.settleHeld(`i-${round}`, 11, [settlement], [hold(scope, 30)]);
        const reclaim = () => other.budgets.reclaim(`i-${round}`, 10);
        const [settled, holds] = round % 2 ? await Promise.all([settle(), reclaim()]) : await Promise.all([reclaim(), settle()]).then(([h, s]) => [s, h] as const);
        const state = await t.store.budgets.get(scope, 'total');
        if (settled) expect([holds, state.spentTokens, state.reservedTokens]).toEqual([undefined, 20, 30]);
        else expect([holds, state.spentTokens, state.reservedTokens]).toEqual([[hold(scope, 50)], 0, 0]);
      }
    });
  });
}

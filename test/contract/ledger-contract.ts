import { describe, expect, it } from 'vitest';
import type { AuditInput, UsageRecord } from '../../src/domain/usage.js';
import { type ContractContext, aUser } from './fixtures.js';
import type { AuditHead } from '../../src/store/ports.js';

const amount = (tokens: number, micros = 0) => ({ tokens, micros });

function usage(overrides: Partial<UsageRecord> = {}): UsageRecord {
  return {
    at: Date.UTC(2026, 10, 23, 12), userId: 'usr_a', tokenId: 'tok_a', upstream: 'default', model: 'gpt-4o-mini', endpoint: 'chat',
    status: 200, promptTokens: 5, completionTokens: 3, totalTokens: 8, costMicros: 7, durationMs: 12, bytesIn: 100, bytesOut: 600, source: 'reported',
    ...overrides,
  };
}

/** Budgets, the usage ledger and the audit chain: the MUST sentences of their ports. */
export function ledgerContract(t: ContractContext): void {
  describe('budgets', () => {
    it('reserves within the limit, refuses past it, and changes nothing when it refuses', async () => {
      expect(await t.store.budgets.reserve('token:a', '2026-11', amount(60), { tokens: 100 })).toBe(true);
      expect(await t.store.budgets.reserve('token:a', '2026-11', amount(60), { tokens: 100 })).toBe(false);
      expect(await t.store.budgets.get('token:a', '2026-11')).toEqual({ spentTokens: 0, spentMicros: 0, reservedTokens: 60, reservedMicros: 0 });
      expect(await t.store.budgets.reserve('token:a', '2026-11', amount(101), { tokens: 100 })).toBe(false);
      expect(await t.store.budgets.get('token:b', '2026-11')).toEqual({ spentTokens: 0, spentMicros: 0, reservedTokens: 0, reservedMicros: 0 });
    });

    it('holds each limit given on its own: dollars only, tokens only, both', async () => {
      expect(await t.store.budgets.reserve('user:m', 'day', amount(500, 600), { micros: 1000 })).toBe(true);
      expect(await t.store.budgets.reserve('user:m', 'day', amount(500, 600), { micros: 1000 })).toBe(false); // 1200 > 1000; tokens unlimited
      expect(await t.store.budgets.reserve('user:m', 'day', amount(9000, 400), { micros: 1000 })).toBe(true);
      expect(await t.store.budgets.reserve('user:m', 'day', amount(1, 0), { tokens: 9501, micros: 1000 })).toBe(true);
      expect(await t.store.budgets.reserve('user:m', 'day', amount(0, 1), { tokens: 9501, micros: 1000 })).toBe(false); // micros: 1001
      expect(await t.store.budgets.reserve('user:m', 'day', amount(1000, 0), { tokens: 9501, micros: 2000 })).toBe(false); // tokens: 10501
      expect(await t.store.budgets.get('user:m', 'day')).toEqual({ spentTokens: 0, spentMicros: 0, reservedTokens: 9501, reservedMicros: 1000 });
    });

    it('lets concurrent reservations pass a limit together exactly never (no lost updates)', async () => {
      const results = await Promise.all(Array.from({ length: 50 }, () => t.store.budgets.reserve('user:c', 'total', amount(10, 10), { tokens: 100, micros: 1000 })));
      expect(results.filter(Boolean)).toHaveLength(10);
      expect((await t.store.budgets.get('user:c', 'total')).reservedTokens).toBe(100);
    });

    it('settles: releases the reservation and adds the actual usage, which may pass the limit', async () => {
      await t.store.budgets.reserve('token:s', 'day', amount(50, 500), { tokens: 100 });
      await t.store.budgets.settle('token:s', 'day', amount(50, 500), amount(120, 900));
      expect(await t.store.budgets.get('token:s', 'day')).toEqual({ spentTokens: 120, spentMicros: 900, reservedTokens: 0, reservedMicros: 0 });
      expect(await t.store.budgets.reserve('token:s', 'day', amount(1), { tokens: 100 })).toBe(false);
      expect(await t.store.budgets.reserve('token:s', 'day', amount(1), {})).toBe(true); // no limit given: always
    });
  });

  describe('usage ledger', () => {
    it('writes a long batch whole, and a long batch with one bad row not at all', async () => {
      const before = await t.store.usage.count();
      await t.store.usage.insertMany(Array.from({ length: 4321 }, (_, i) => usage({ tokenId: `tok_long${i}` })));
      expect((await t.store.usage.count()) - before).toBe(4321);
      const bad = { ...usage(), userId: null } as unknown as UsageRecord;
      await expect(t.store.usage.insertMany([...Array.from({ length: 2500 }, () => usage()), bad])).rejects.toThrow();
      expect((await t.store.usage.count()) - before).toBe(4321);
    });

    it('groups by user (email where the user still exists), by day in UTC and by model ((none) for none)', async () => {
      const user = aUser({ email: 'grouped@example.com' });
      await t.store.users.create(user);
      const day = Date.UTC(2026, 10, 5);
      await t.store.usage.insertMany([
        usage({ userId: user.id, at: day - 1, model: null }),
        usage({ userId: user.id, at: day }),
        usage({ userId: 'usr_gone', at: day + 86_399_999, costMicros: 3 }),
      ]);
      expect((await t.store.usage.summarize({ since: 0, by: 'user' })).map((s) => [s.key, s.requests])).toEqual([['grouped@example.com', 2], ['usr_gone', 1]]);
      expect((await t.store.usage.summarize({ since: 0, by: 'day' })).map((s) => [s.key, s.requests])).toEqual([['2026-11-04', 1], ['2026-11-05', 2]]);
      const byModel = await t.store.usage.summarize({ since: day, by: 'model' });
      expect(byModel.map((s) => [s.key, s.requests, s.costMicros])).toEqual([['gpt-4o-mini', 2, 10]]);
      expect((await t.store.usage.summarize({ since: 0, by: 'model' })).map((s) => s.key)).toEqual(['(none)', 'gpt-4o-mini']);
    });

    it('inserts rows and summarises them by user, model and day since a time', async () => {
      await t.store.usage.insertMany([usage(), usage({ model: 'o3', costMicros: 100 }), usage({ at: Date.UTC(2026, 10, 1), userId: 'usr_b' })]);
      expect(await t.store.usage.count()).toBe(3);
      const byModel = await t.store.usage.summarize({ since: Date.UTC(2026, 10, 20), by: 'model' });
      expect(byModel).toEqual([
        { key: 'gpt-4o-mini', requests: 1, promptTokens: 5, completionTokens: 3, totalTokens: 8, costMicros: 7 },
        { key: 'o3', requests: 1, promptTokens: 5, completionTokens: 3, totalTokens: 8, costMicros: 100 },
      ]);
      expect((await t.store.usage.summarize({ since: 0, by: 'day', userId: 'usr_b' })).map((s) => s.key)).toEqual(['2026-11-01']);
      await t.store.usage.insertMany([]);
      expect(await t.store.usage.count()).toBe(3);
    });

    it('inserts a batch all or none: one bad row leaves the ledger as it was', async () => {
      await t.store.usage.insertMany([usage()]);
      const bad = { ...usage(), userId: null } as unknown as ReturnType<typeof usage>;
      await expect(t.store.usage.insertMany([usage(), bad, usage()])).rejects.toThrow();
      expect(await t.store.usage.count()).toBe(1);
    });

    it('inserts batches of any size whole, each row with its own values (and a bad row late in a large batch keeps none)', async () => {
      const rows = (n: number, from: number) => Array.from({ length: n }, (_, i) => usage({ model: `m${(from + i) % 7}`, costMicros: from + i, totalTokens: 1 }));
      const sizes = [1, 24, 25, 26, 60, 200];
      let from = 0;
      for (const n of sizes) {
        await t.store.usage.insertMany(rows(n, from));
        from += n;
      }
      expect(await t.store.usage.count()).toBe(from);
      const byModel = await t.store.usage.summarize({ since: 0, by: 'model' });
      const expected = Array.from({ length: 7 }, (_, m) => {
        const own = Array.from({ length: from }, (_, i) => i).filter((i) => i % 7 === m);
        return { key: `m${m}`, requests: own.length, promptTokens: 5 * own.length, completionTokens: 3 * own.length, totalTokens: own.length, costMicros: own.reduce((a, b) => a + b, 0) };
      });
      expect(byModel).toEqual(expected);
      const batch = rows(60, 0);
      batch[40] = { ...usage(), userId: null } as unknown as ReturnType<typeof usage>;
      await expect(t.store.usage.insertMany(batch)).rejects.toThrow();
      expect(await t.store.usage.count()).toBe(from);
    });
  });

  describe('audit log', () => {
    const macOf = (seq: number, hash: string) => `mac(${seq},${hash})`;
    const nextMac = (previous: AuditHead, seq: number, hash: string) => `mac(${seq},${hash}|after ${previous.seq},${previous.hash},${previous.mac})`;

    it('chains each entry to the one before it, in order, and lists the newest with a limit', async () => {
      const hashOf = (prev: string, e: AuditInput) => `${prev}>${e.action}`;
      const entry = (action: string): AuditInput => ({ at: 1, actor: 'cli:test', action, target: null, details: { n: 1 }, source: 'cli' });
      const first = await t.store.audit.append(entry('a'), hashOf, nextMac);
      const second = await t.store.audit.append(entry('b'), hashOf, nextMac);
      expect(first.prevHash).toBe('');
      expect(second.prevHash).toBe(first.hash);
      expect(second.hash).toBe('>a>b');
      const all = await t.store.audit.list();
      expect(all.map((e) => e.action)).toEqual(['a', 'b']);
      expect(all[0]?.details).toEqual({ n: 1 });
      expect((await t.store.audit.list({ limit: 1 })).map((e) => e.action)).toEqual(['b']);
    });

    it('moves the head with each append: count, last hash and its MAC', async () => {
      const hashOf = (prev: string, e: AuditInput) => `${prev}>${e.action}`;
      expect(await t.store.audit.head()).toEqual({ seq: 0, hash: '', mac: '' });
      expect(await t.store.audit.signHead(macOf)).toBe(true);
      expect(await t.store.audit.head()).toEqual({ seq: 0, hash: '', mac: 'mac(0,)' });
      expect(await t.store.audit.signHead(() => 'other')).toBe(false);
      await t.store.audit.append({ at: 1, actor: 'x', action: 'a', target: null, details: {}, source: null }, hashOf, nextMac);
      expect(await t.store.audit.head()).toEqual({ seq: 1, hash: '>a', mac: 'mac(1,>a|after 0,,mac(0,))' });
    });

    it('never forks the chain under concurrent appends', async () => {
      const hashOf = (prev: string, e: AuditInput) => `${prev.slice(-40)}|${e.action}`;
      await Promise.all(Array.from({ length: 20 }, (_, i) => t.store.audit.append({ at: i, actor: 'x', action: `e${i}`, target: null, details: {}, source: null }, hashOf, nextMac)));
      const all = await t.store.audit.list();
      for (let i = 1; i < all.length; i++) expect(all[i]?.prevHash).toBe(all[i - 1]?.hash);
      expect(all).toHaveLength(20);
    });
  });
}

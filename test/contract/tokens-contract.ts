import { describe, expect, it } from 'vitest';
import { ALL_BYTES, type ContractContext, aToken, aUser } from './fixtures.js';

export function tokensContract(t: ContractContext): void {
  describe('tokens', () => {
    it('inserts a token and reads it back exactly by hash and by id', async () => {
      const user = aUser();
      await t.store.users.create(user);
      const token = aToken({
        userId: user.id,
        kind: 'openwebui',
        expiresAt: 1_790_000_000_000,
        options: { trustEmailHeader: true, nested: { list: [1, 'two', null] } },
      });
      await t.store.tokens.insert(token);
      expect(await t.store.tokens.byHash(token.hash)).toEqual(token);
      expect(await t.store.tokens.byId(token.id)).toEqual(token);
    });

    it('looks up by the exact hash bytes: a hash differing in one byte is not found', async () => {
      const hash = Buffer.from(ALL_BYTES.subarray(0, 32));
      const token = aToken({ hash });
      await t.store.tokens.insert(token);
      const found = await t.store.tokens.byHash(Buffer.from(hash));
      expect(found?.hash.equals(hash)).toBe(true);
      expect(found?.id).toBe(token.id);
      for (const i of [0, 15, 31]) {
        const near = Buffer.from(hash);
        near[i] = (near[i] ?? 0) ^ 0x01;
        expect(await t.store.tokens.byHash(near)).toBeUndefined();
      }
      expect(await t.store.tokens.byHash(hash.subarray(0, 31))).toBeUndefined();
      expect(await t.store.tokens.byHash(Buffer.concat([hash, Buffer.from([0x00])]))).toBeUndefined();
      expect(await t.store.tokens.byId('tok_unknown')).toBeUndefined();
    });

    it('returns revoked and expired tokens by hash too (callers decide)', async () => {
      const revoked = aToken({ revokedAt: 1_700_000_000_000 });
      const expired = aToken({ expiresAt: 1 });
      await t.store.tokens.insert(revoked);
      await t.store.tokens.insert(expired);
      expect(await t.store.tokens.byHash(revoked.hash)).toEqual(revoked);
      expect(await t.store.tokens.byHash(expired.hash)).toEqual(expired);
    });

    it('lists by user and kinds, ordered by creation time', async () => {
      const ann = aUser();
      const ben = aUser();
      await t.store.users.create(ann);
      await t.store.users.create(ben);
      const annLate = aToken({ userId: ann.id, createdAt: 3000 });
      const annEarly = aToken({ userId: ann.id, createdAt: 1000 });
      const annWebui = aToken({ userId: ann.id, kind: 'openwebui', createdAt: 2000 });
      const benMid = aToken({ userId: ben.id, createdAt: 2500 });
      const admin = aToken({ kind: 'admin', userId: null, createdAt: 1500 });
      for (const tok of [annLate, annEarly, annWebui, benMid, admin]) await t.store.tokens.insert(tok);

      const ids = async (filter: Parameters<typeof t.store.tokens.list>[0]) =>
        (await t.store.tokens.list(filter)).map((x) => x.id);
      expect(await ids({})).toEqual([annEarly.id, admin.id, annWebui.id, benMid.id, annLate.id]);
      expect(await ids({ userId: ann.id })).toEqual([annEarly.id, annWebui.id, annLate.id]);
      expect(await ids({ kinds: ['personal'] })).toEqual([annEarly.id, benMid.id, annLate.id]);
      expect(await ids({ kinds: ['admin'] })).toEqual([admin.id]);
      expect(await ids({ kinds: ['admin', 'openwebui'] })).toEqual([admin.id, annWebui.id]);
      expect(await ids({ userId: ann.id, kinds: ['personal'] })).toEqual([annEarly.id, annLate.id]);
      expect(await ids({ userId: ben.id, kinds: ['openwebui'] })).toEqual([]);
      expect(await t.store.tokens.list({ userId: ann.id })).toEqual([annEarly, annWebui, annLate]);
    });

    it('revokes once: a second revoke returns false and keeps the first time', async () => {
      const token = aToken();
      await t.store.tokens.insert(token);
      expect(await t.store.tokens.revoke(token.id, 5000)).toBe(true);
      expect((await t.store.tokens.byId(token.id))?.revokedAt).toBe(5000);
      expect(await t.store.tokens.revoke(token.id, 9000)).toBe(false);
      expect(await t.store.tokens.revoke(token.id, 1000)).toBe(false);
      expect(await t.store.tokens.byId(token.id)).toEqual({ ...token, revokedAt: 5000 });
    });

    it('never moves lastUsedAt backwards', async () => {
      const token = aToken({ lastUsedAt: null });
      await t.store.tokens.insert(token);
      const lastUsed = async () => (await t.store.tokens.byId(token.id))?.lastUsedAt;
      await t.store.tokens.touch(token.id, 5000);
      expect(await lastUsed()).toBe(5000);
      await t.store.tokens.touch(token.id, 4000);
      expect(await lastUsed()).toBe(5000);
      await t.store.tokens.touch(token.id, 5000);
      expect(await lastUsed()).toBe(5000);
      await t.store.tokens.touch(token.id, 7000);
      expect(await lastUsed()).toBe(7000);
      await t.store.tokens.touch(token.id, 0);
      expect(await t.store.tokens.byId(token.id)).toEqual({ ...token, lastUsedAt: 7000 });
    });

    it('counts only unrevoked personal tokens, per user', async () => {
      const ann = aUser();
      const ben = aUser();
      const cal = aUser();
      for (const u of [ann, ben, cal]) await t.store.users.create(u);
      const tokens = [
        aToken({ userId: ann.id }),
        aToken({ userId: ann.id }),
        aToken({ userId: ann.id, revokedAt: 1000 }),
        aToken({ userId: ann.id, kind: 'openwebui' }),
        aToken({ userId: ben.id }),
        aToken({ userId: ben.id }),
        aToken({ userId: ben.id }),
        aToken({ userId: cal.id, revokedAt: 1000 }),
        aToken({ userId: cal.id, kind: 'openwebui' }),
        aToken({ userId: null, kind: 'admin' }),
      ];
      for (const tok of tokens) await t.store.tokens.insert(tok);
      const revokedLater = aToken({ userId: ben.id });
      await t.store.tokens.insert(revokedLater);
      await t.store.tokens.revoke(revokedLater.id, 2000);

      const counts = await t.store.tokens.countByUser();
      expect(counts.get(ann.id)).toBe(2);
      expect(counts.get(ben.id)).toBe(3);
      expect(counts.get(cal.id) ?? 0).toBe(0);
      expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(5);
    });

    it('lists active origin-bound tokens only: not revoked, not expired, not without origins', async () => {
      const at = 1_800_000_000_000;
      const bound = aToken({ kind: 'personal', options: { origins: ['https://app.example.com'] } });
      const minting = aToken({ kind: 'mint', options: { origins: ['https://*.example.com'] }, expiresAt: at + 1 });
      const expired = aToken({ kind: 'ephemeral', options: { origins: ['https://old.example.com'] }, expiresAt: at });
      const revoked = aToken({ options: { origins: ['https://gone.example.com'] }, revokedAt: at - 5 });
      const empty = aToken({ options: { origins: [] } });
      const mentions = aToken({ name: 'origins', options: { note: '"origins"' } });
      const plain = aToken();
      for (const tok of [bound, minting, expired, revoked, empty, mentions, plain]) await t.store.tokens.insert(tok);
      const found = (await t.store.tokens.originBound(at)).map((x) => x.id);
      expect(found).toEqual(expect.arrayContaining([bound.id, minting.id]));
      for (const out of [expired, revoked, empty, mentions, plain]) expect(found).not.toContain(out.id);
    });

    it('deletes exactly the tokens of a kind that expired before a time', async () => {
      const old = aToken({ kind: 'ephemeral', expiresAt: 1_000 });
      const fresh = aToken({ kind: 'ephemeral', expiresAt: 5_000 });
      const forever = aToken({ kind: 'ephemeral' });
      const personalOld = aToken({ kind: 'personal', expiresAt: 1_000 });
      for (const tok of [old, fresh, forever, personalOld]) await t.store.tokens.insert(tok);
      expect(await t.store.tokens.deleteExpired('ephemeral', 2_000)).toBeGreaterThanOrEqual(1);
      expect(await t.store.tokens.byId(old.id)).toBeUndefined();
      for (const kept of [fresh, forever, personalOld]) expect(await t.store.tokens.byId(kept.id)).toEqual(kept);
      expect(await t.store.tokens.deleteExpired('ephemeral', 2_000)).toBe(0);
    });
  });
}

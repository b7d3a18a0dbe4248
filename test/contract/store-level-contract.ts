import { describe, expect, it } from 'vitest';
import { SoakpError } from '../../src/shared/errors.js';
import type { Store } from '../../src/store/ports.js';
import { type ContractContext, aKey, aToken, aUser, nextChange, sealed } from './fixtures.js';

export function transactionContract(t: ContractContext): void {
  describe('transaction', () => {
    it('commits every write of a successful transaction and returns its value', async () => {
      const user = aUser();
      const key = aKey(user.id);
      const token = aToken({ userId: user.id });
      const result = await t.store.transaction(async (tx) => {
        await tx.users.create(user);
        await tx.keys.put(key);
        await tx.tokens.insert(token);
        await tx.secrets.insert('s', sealed());
        await tx.masterKeys.insert(1, 'check', 1000);
        return 'done';
      });
      expect(result).toBe('done');
      const readers: Store[] = [t.store];
      if (t.canOpenPeer) readers.push(await t.openPeer()); // committed means visible to others too
      for (const r of readers) {
        expect(await r.users.byId(user.id)).toEqual(user);
        expect(await r.keys.get(user.id, key.upstream)).toEqual(key);
        expect(await r.tokens.byId(token.id)).toEqual(token);
        expect(await r.secrets.get('s')).toEqual(sealed());
        expect(await r.masterKeys.list()).toEqual([{ version: 1, checkValue: 'check' }]);
      }
    });

    it('rolls back every write when fn throws, and rethrows the error', async () => {
      const existing = aUser({ status: 'active' });
      const existingToken = aToken({ userId: existing.id });
      const existingKey = aKey(existing.id);
      await t.store.users.create(existing);
      await t.store.tokens.insert(existingToken);
      await t.store.keys.put(existingKey);

      const user = aUser();
      const boom = new Error('boom');
      const outcome = t.store.transaction(async (tx) => {
        await tx.users.create(user);
        await tx.keys.put(aKey(user.id));
        await tx.tokens.insert(aToken({ userId: user.id }));
        await tx.secrets.insert('s', sealed());
        await tx.masterKeys.insert(1, 'check', 1000);
        await tx.users.setStatus(existing.id, 'disabled');
        await tx.tokens.revoke(existingToken.id, 5000);
        await tx.tokens.touch(existingToken.id, 6000);
        await tx.keys.rewrap(existingKey.id, sealed({ masterVersion: 9 }));
        expect(await tx.users.byId(user.id)).toEqual(user); // the transaction sees its own writes
        throw boom;
      });
      await expect(outcome).rejects.toBe(boom);

      expect(await t.store.users.list()).toEqual([existing]);
      expect(await t.store.keys.all()).toEqual([existingKey]);
      expect(await t.store.tokens.list({})).toEqual([existingToken]);
      expect(await t.store.secrets.all()).toEqual([]);
      expect(await t.store.masterKeys.list()).toEqual([]);
    });

    it('rolls back earlier writes when a later statement in fn fails', async () => {
      await t.store.users.create(aUser({ email: 'taken@example.test' }));
      const fresh = aUser({ email: 'fresh@example.test' });
      const outcome = t.store.transaction(async (tx) => {
        await tx.users.create(fresh);
        await tx.users.create(aUser({ email: 'taken@example.test' }));
      });
      await expect(outcome).rejects.toBeInstanceOf(SoakpError);
      await expect(outcome).rejects.toMatchObject({ code: 'user_exists' });
      expect(await t.store.users.byEmail('fresh@example.test')).toBeUndefined();
    });
  });
}

export function concurrencyContract(t: ContractContext): void {
  describe('concurrent use', () => {
    it('runs many writes, reads and transactions at once without losing any', async () => {
      const plain = Array.from({ length: 20 }, () => aUser());
      const inTx = Array.from({ length: 10 }, () => aUser());
      await Promise.all([
        ...plain.map((u) => t.store.users.create(u)),
        ...inTx.map((u) =>
          t.store.transaction(async (tx) => {
            await tx.users.create(u);
            await tx.keys.put(aKey(u.id));
          }),
        ),
        ...plain.map(() => t.store.users.list()),
      ]);
      expect(await t.store.users.list()).toHaveLength(30);
      expect(await t.store.keys.all()).toHaveLength(10);
    });

    it('keeps one key per user and upstream when puts race', async () => {
      const user = aUser();
      await t.store.users.create(user);
      const candidates = Array.from({ length: 10 }, (_, i) => aKey(user.id, { hint: `hint-${i}`, updatedAt: i }));
      await Promise.all(candidates.map((k) => t.store.keys.put(k)));
      const left = await t.store.keys.listForUser(user.id);
      expect(left).toHaveLength(1);
      expect(candidates).toContainEqual(left[0]);
    });

    it('lets exactly one of many racing revokes win', async () => {
      const token = aToken();
      await t.store.tokens.insert(token);
      const times = Array.from({ length: 10 }, (_, i) => 1000 + i);
      const won = await Promise.all(times.map((at) => t.store.tokens.revoke(token.id, at)));
      expect(won.filter(Boolean)).toHaveLength(1);
      expect((await t.store.tokens.byId(token.id))?.revokedAt).toBe(times[won.indexOf(true)]);
    });
  });
}

export function lifecycleContract(t: ContractContext): void {
  describe('ping and close', () => {
    it('ping resolves while the store is open', async () => {
      await expect(t.store.ping()).resolves.toBeUndefined();
    });

    it('close is safe to call twice, and ping rejects once closed', async () => {
      await t.store.close();
      await expect(t.store.close()).resolves.toBeUndefined();
      await expect(t.store.ping()).rejects.toBeDefined();
    });
  });

  describe('onChange', () => {
    const seen = (store: Store, email: string) => async () => (await store.users.byEmail(email)) !== undefined;

    it('calls the listener after a change committed through the same store', async () => {
      const user = aUser();
      const noticed = nextChange(t.store, seen(t.store, user.email));
      await t.store.users.create(user);
      await noticed;
    });

    it('calls the listener after a committed transaction', async () => {
      const user = aUser();
      const noticed = nextChange(t.store, seen(t.store, user.email));
      await t.store.transaction(async (tx) => {
        await tx.users.create(user);
        await tx.keys.put(aKey(user.id));
      });
      await noticed;
    });

    it('calls the listener after a change made by a second, independently opened store', async (ctx) => {
      if (!t.canOpenPeer) ctx.skip('store factory gives no openPeer: cross-process change notice not checked');
      const peer = await t.openPeer();
      const user = aUser();
      const noticed = nextChange(t.store, seen(t.store, user.email));
      await peer.users.create(user);
      await noticed;

      const token = aToken();
      const noticedByPeer = nextChange(peer, async () => (await peer.tokens.byId(token.id)) !== undefined);
      await t.store.tokens.insert(token);
      await noticedByPeer;
    });

    it('stops calling a listener once unsubscribed', async () => {
      let calls = 0;
      const unsubscribe = t.store.onChange(() => {
        calls += 1;
      });
      expect(typeof unsubscribe).toBe('function');
      unsubscribe();
      for (const user of [aUser(), aUser()]) {
        const noticed = nextChange(t.store, seen(t.store, user.email));
        await t.store.users.create(user);
        await noticed;
      }
      expect(calls).toBe(0);
    });
  });
}

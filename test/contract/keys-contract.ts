import { describe, expect, it } from 'vitest';
import { ALL_BYTES, type ContractContext, aKey, aUser, sealed } from './fixtures.js';

export function keysContract(t: ContractContext): void {
  describe('upstream keys', () => {
    it('stores a key and reads it back exactly', async () => {
      const user = aUser();
      await t.store.users.create(user);
      const key = aKey(user.id);
      await t.store.keys.put(key);
      expect(await t.store.keys.get(user.id, 'openai')).toEqual(key);
      expect(await t.store.keys.listForUser(user.id)).toEqual([key]);
      expect(await t.store.keys.all()).toEqual([key]);
    });

    it('replaces the key of the same user and upstream: one key per user and upstream', async () => {
      const user = aUser();
      const other = aUser();
      await t.store.users.create(user);
      await t.store.users.create(other);
      const first = aKey(user.id, { upstream: 'openai', hint: 'sk-…1111', updatedAt: 1000 });
      const otherUpstream = aKey(user.id, { upstream: 'azure' });
      const otherUser = aKey(other.id, { upstream: 'openai' });
      await t.store.keys.put(first);
      await t.store.keys.put(otherUpstream);
      await t.store.keys.put(otherUser);

      const second = aKey(user.id, {
        upstream: 'openai',
        hint: 'sk-…2222',
        updatedAt: 2000,
        sealed: sealed({ masterVersion: 3, wrappedKey: Buffer.from([9, 0, 9]), ciphertext: Buffer.from([0, 8, 0]) }),
      });
      await t.store.keys.put(second);

      expect(await t.store.keys.get(user.id, 'openai')).toEqual(second);
      const mine = await t.store.keys.listForUser(user.id);
      expect(mine).toHaveLength(2);
      expect(mine).toContainEqual(second);
      expect(mine).toContainEqual(otherUpstream);
      expect(await t.store.keys.get(other.id, 'openai')).toEqual(otherUser);
      expect(await t.store.keys.all()).toHaveLength(3);
    });

    it('names each master-key version that wraps a key, and a secret, once', async () => {
      expect(await t.store.keys.versionsInUse()).toEqual([]);
      const user = aUser();
      await t.store.users.create(user);
      const under = (v: number) => ({ masterVersion: v, wrappedKey: Buffer.from([v]), ciphertext: Buffer.from([v, v]) });
      for (const [i, v] of [[1, 1], [2, 1], [3, 3]] as const) await t.store.keys.put(aKey(user.id, { upstream: `u${i}`, sealed: under(v) }));
      expect((await t.store.keys.versionsInUse()).sort()).toEqual([1, 3]);
      await t.store.secrets.insert('s-a', under(2));
      await t.store.secrets.insert('s-b', under(2));
      expect(await t.store.secrets.versionsInUse()).toEqual([2]);
    });

    it('round-trips Buffers byte for byte: every byte value, empty, 0x00 and 0xff at the edges', async () => {
      const user = aUser();
      await t.store.users.create(user);
      const edges = [
        ALL_BYTES,
        Buffer.alloc(0),
        Buffer.from([0x00]),
        Buffer.from([0xff]),
        Buffer.from([0x00, 0x00, 0x00, 0x00]),
        Buffer.from([0xff, 0xff, 0x00, 0xff, 0xff]),
        Buffer.from('sk-\u0000-not-text-\u00ff', 'latin1'),
      ];
      for (const [i, bytes] of edges.entries()) {
        const reversed = Buffer.from(bytes).reverse();
        const key = aKey(user.id, { upstream: `up-${i}`, sealed: sealed({ wrappedKey: bytes, ciphertext: reversed }) });
        await t.store.keys.put(key);
        const back = await t.store.keys.get(user.id, `up-${i}`);
        expect(back).toBeDefined();
        expect(Buffer.isBuffer(back?.sealed.wrappedKey)).toBe(true);
        expect(Buffer.isBuffer(back?.sealed.ciphertext)).toBe(true);
        expect(back?.sealed.wrappedKey.equals(bytes)).toBe(true);
        expect(back?.sealed.ciphertext.equals(reversed)).toBe(true);
        expect(back).toEqual(key);
      }
    });

    it('rewrap changes only the master version and wrapped key, never the ciphertext or anything else', async () => {
      const user = aUser();
      await t.store.users.create(user);
      const key = aKey(user.id, { updatedAt: 1234 });
      const neighbour = aKey(user.id, { upstream: 'azure' });
      await t.store.keys.put(key);
      await t.store.keys.put(neighbour);

      const rewrapped = {
        masterVersion: 7,
        wrappedKey: Buffer.from([0xff, 0x00, 0xee, 0x00]),
        // A different ciphertext in the argument must be ignored: rewrap never touches it.
        ciphertext: Buffer.from([0x01, 0x02, 0x03]),
      };
      await t.store.keys.rewrap(key.id, rewrapped);

      expect(await t.store.keys.get(user.id, 'openai')).toEqual({
        ...key,
        sealed: { masterVersion: 7, wrappedKey: rewrapped.wrappedKey, ciphertext: key.sealed.ciphertext },
      });
      expect(await t.store.keys.get(user.id, 'azure')).toEqual(neighbour);
    });
  });
}

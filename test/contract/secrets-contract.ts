import { describe, expect, it } from 'vitest';
import { ALL_BYTES, type ContractContext, sealed } from './fixtures.js';

export function secretsContract(t: ContractContext): void {
  describe('secrets', () => {
    it('inserts a secret and reads it back byte for byte', async () => {
      const s = sealed({ masterVersion: 2, wrappedKey: ALL_BYTES, ciphertext: Buffer.from([0, 0, 0xff, 0]) });
      expect(await t.store.secrets.insert('token-hash-key', s)).toBe(true);
      expect(await t.store.secrets.get('token-hash-key')).toEqual(s);
      expect(await t.store.secrets.all()).toEqual([{ id: 'token-hash-key', sealed: s }]);
      expect(await t.store.secrets.get('unknown')).toBeUndefined();
    });

    it('never overwrites: the first writer wins and a second insert returns false', async () => {
      const first = sealed({ masterVersion: 1, wrappedKey: Buffer.from([1, 1]), ciphertext: Buffer.from([1]) });
      const second = sealed({ masterVersion: 2, wrappedKey: Buffer.from([2, 2]), ciphertext: Buffer.from([2]) });
      expect(await t.store.secrets.insert('s', first)).toBe(true);
      expect(await t.store.secrets.insert('s', second)).toBe(false);
      expect(await t.store.secrets.get('s')).toEqual(first);
    });

    it('keeps the first writer across processes (a second connection)', async (ctx) => {
      if (!t.canOpenPeer) ctx.skip('store factory gives no openPeer: cross-process first-writer-wins not checked');
      const peer = await t.openPeer();
      const first = sealed({ masterVersion: 1, wrappedKey: Buffer.from([1]), ciphertext: Buffer.from([1]) });
      const second = sealed({ masterVersion: 2, wrappedKey: Buffer.from([2]), ciphertext: Buffer.from([2]) });
      expect(await t.store.secrets.insert('shared', first)).toBe(true);
      expect(await peer.secrets.insert('shared', second)).toBe(false);
      expect(await peer.secrets.get('shared')).toEqual(first);
      expect(await t.store.secrets.get('shared')).toEqual(first);
    });
  });

  describe('master keys', () => {
    it('lists inserted versions with their check values', async () => {
      expect(await t.store.masterKeys.insert(2, 'check-two', 2000)).toBe(true);
      expect(await t.store.masterKeys.insert(1, 'check-one', 1000)).toBe(true);
      const listed = await t.store.masterKeys.list();
      expect([...listed].sort((a, b) => a.version - b.version)).toEqual([
        { version: 1, checkValue: 'check-one' },
        { version: 2, checkValue: 'check-two' },
      ]);
    });

    it("keeps an existing version's check value and returns false rather than overwrite it", async () => {
      expect(await t.store.masterKeys.insert(1, 'original', 1000)).toBe(true);
      expect(await t.store.masterKeys.insert(1, 'impostor', 2000)).toBe(false);
      expect(await t.store.masterKeys.list()).toEqual([{ version: 1, checkValue: 'original' }]);
    });
  });
}

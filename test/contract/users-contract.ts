import { describe, expect, it } from 'vitest';
import { SoakpError } from '../../src/shared/errors.js';
import { type ContractContext, aKey, aToken, aUser } from './fixtures.js';

export function usersContract(t: ContractContext): void {
  describe('users', () => {
    it('creates a user and finds it by email and by id, exactly as written', async () => {
      const user = aUser({ email: 'ada@example.test', status: 'disabled', createdAt: 1_760_000_000_001 });
      await t.store.users.create(user);
      expect(await t.store.users.byEmail('ada@example.test')).toEqual(user);
      expect(await t.store.users.byId(user.id)).toEqual(user);
    });

    it('returns undefined, not an error, for an unknown email or id', async () => {
      await t.store.users.create(aUser({ email: 'known@example.test' }));
      expect(await t.store.users.byEmail('unknown@example.test')).toBeUndefined();
      expect(await t.store.users.byId('usr_unknown')).toBeUndefined();
    });

    it("fails with SoakpError 'user_exists' when the email is taken, and keeps the first user", async () => {
      const first = aUser({ email: 'taken@example.test' });
      await t.store.users.create(first);
      const second = aUser({ email: 'taken@example.test' });
      const err = await t.store.users.create(second).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SoakpError);
      expect(err).toMatchObject({ code: 'user_exists' });
      expect(await t.store.users.byEmail('taken@example.test')).toEqual(first);
      expect(await t.store.users.byId(second.id)).toBeUndefined();
    });

    it('lists users ordered by email, whatever the insertion order', async () => {
      for (const email of ['carol@example.test', 'alice@example.test', 'dave@example.test', 'bob@example.test']) {
        await t.store.users.create(aUser({ email }));
      }
      const emails = (await t.store.users.list()).map((u) => u.email);
      expect(emails).toEqual(['alice@example.test', 'bob@example.test', 'carol@example.test', 'dave@example.test']);
    });

    it('sets the status of an existing user and returns false for an unknown one', async () => {
      const user = aUser({ status: 'active' });
      await t.store.users.create(user);
      expect(await t.store.users.setStatus(user.id, 'disabled')).toBe(true);
      expect(await t.store.users.byId(user.id)).toEqual({ ...user, status: 'disabled' });
      expect(await t.store.users.setStatus('usr_unknown', 'disabled')).toBe(false);
    });

    it("deletes a user with all of its upstream keys and tokens, and no one else's", async () => {
      const gone = aUser();
      const kept = aUser();
      await t.store.users.create(gone);
      await t.store.users.create(kept);
      const goneKeys = [aKey(gone.id, { upstream: 'openai' }), aKey(gone.id, { upstream: 'azure' })];
      const keptKey = aKey(kept.id);
      for (const k of [...goneKeys, keptKey]) await t.store.keys.put(k);
      const goneTokens = [aToken({ userId: gone.id }), aToken({ userId: gone.id, kind: 'openwebui' })];
      const keptToken = aToken({ userId: kept.id });
      for (const tok of [...goneTokens, keptToken]) await t.store.tokens.insert(tok);

      expect(await t.store.users.delete(gone.id)).toBe(true);

      expect(await t.store.users.byId(gone.id)).toBeUndefined();
      expect(await t.store.keys.listForUser(gone.id)).toEqual([]);
      expect(await t.store.keys.get(gone.id, 'openai')).toBeUndefined();
      expect(await t.store.keys.all()).toEqual([keptKey]);
      for (const tok of goneTokens) {
        expect(await t.store.tokens.byId(tok.id)).toBeUndefined();
        expect(await t.store.tokens.byHash(tok.hash)).toBeUndefined();
      }
      expect(await t.store.tokens.list({})).toEqual([keptToken]);
      expect(await t.store.users.list()).toEqual([kept]);
    });

    it('returns false when deleting an unknown user', async () => {
      expect(await t.store.users.delete('usr_unknown')).toBe(false);
    });

    it('round-trips SQL-injection payloads as plain data, and the tables survive', async () => {
      const payloads = ["' OR 1=1 --", '"; DROP TABLE users; --', "x'); DELETE FROM tokens; --", 'Robert\'); DROP TABLE upstream_keys;--'];
      const bystander = aUser({ email: 'bystander@example.test' });
      await t.store.users.create(bystander);
      const bystanderKey = aKey(bystander.id);
      await t.store.keys.put(bystanderKey);
      const bystanderToken = aToken({ userId: bystander.id });
      await t.store.tokens.insert(bystanderToken);

      const created = [];
      for (const p of payloads) {
        const user = aUser({ email: p });
        await t.store.users.create(user);
        const key = aKey(user.id, { upstream: p, hint: p });
        await t.store.keys.put(key);
        const token = aToken({ userId: user.id, name: p, displayPrefix: p, options: { note: p } });
        await t.store.tokens.insert(token);
        created.push({ user, key, token });
      }

      for (const { user, key, token } of created) {
        expect(await t.store.users.byEmail(user.email)).toEqual(user);
        expect(await t.store.users.byId(user.id)).toEqual(user);
        expect(await t.store.keys.get(user.id, key.upstream)).toEqual(key);
        expect(await t.store.tokens.byId(token.id)).toEqual(token);
      }
      // A payload used as a lookup value matches nothing but itself.
      expect(await t.store.users.byEmail("nobody' OR 1=1 --")).toBeUndefined();
      expect(await t.store.keys.get(bystander.id, "' OR 1=1 --")).toBeUndefined();

      expect(await t.store.users.list()).toHaveLength(payloads.length + 1);
      expect(await t.store.users.byId(bystander.id)).toEqual(bystander);
      expect(await t.store.keys.get(bystander.id, 'openai')).toEqual(bystanderKey);
      expect(await t.store.tokens.byId(bystanderToken.id)).toEqual(bystanderToken);
      expect(await t.store.keys.all()).toHaveLength(payloads.length + 1);
      expect(await t.store.tokens.list({})).toHaveLength(payloads.length + 1);
    });
  });
}

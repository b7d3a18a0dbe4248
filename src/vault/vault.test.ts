import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSecret } from '../crypto/envelope.js';
import { MasterKeyring } from '../crypto/keyring.js';
import { mintToken } from '../crypto/tokens.js';
import type { SealedSecret, UpstreamKey } from '../domain/types.js';
import { SoakpError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { Secret, maskKey } from '../shared/secret.js';
import type { Store } from '../store/ports.js';
import { openSqliteStore } from '../store/sqlite/open.js';
import { rotateMasterKey } from './rotate.js';
import { Vault, internalSecretContext, upstreamKeyContext } from './vault.js';

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const ring = (...entries: Array<[number, Buffer]>) => new MasterKeyring(new Map(entries));
const canary = () => `sk-canary-${randomBytes(16).toString('hex')}`;

async function expectRejects(p: Promise<unknown>, code: string): Promise<SoakpError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SoakpError);
  expect((caught as SoakpError).code).toBe(code);
  return caught as SoakpError;
}

/** Every table's rows (and the schema), read through a separate connection: the database as it is. */
function dumpDatabase(file: string): Record<string, unknown[]> {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  try {
    const out: Record<string, unknown[]> = {
      sqlite_master: db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name').all(),
    };
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[];
    for (const t of tables) out[t] = db.prepare(`SELECT * FROM "${t}" ORDER BY rowid`).all();
    return out;
  } finally {
    db.close();
  }
}

describe('Vault', () => {
  let dir: string;
  let file: string;
  const stores: Store[] = [];

  async function openStore(): Promise<Store> {
    const store = await openSqliteStore({ file });
    stores.push(store);
    return store;
  }

  async function addUser(store: Store, email = `${randomBytes(4).toString('hex')}@example.com`): Promise<string> {
    const id = newId('usr');
    await store.users.create({ id, email, status: 'active', createdAt: Date.now() });
    return id;
  }

  async function putKey(store: Store, vault: Vault, userId: string, key: string, upstream = 'openai'): Promise<UpstreamKey> {
    const id = newId('key');
    const record: UpstreamKey = {
      id,
      userId,
      upstream,
      hint: maskKey(key),
      sealed: vault.sealUpstreamKey({ id, userId, upstream }, key),
      updatedAt: Date.now(),
    };
    await store.keys.put(record);
    return record;
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'soakp-vault-'));
    file = join(dir, 'soakp.db');
  });

  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('open', () => {
    it('records the check value and creates the sealed token-hash key on an empty store', async () => {
      const store = await openStore();
      expect(await store.masterKeys.list()).toEqual([]);
      expect(await store.secrets.all()).toEqual([]);
      const keyring = ring([1, k1]);
      const vault = await Vault.open(store, () => keyring);
      expect(vault.keyring).toBe(keyring);
      expect(await store.masterKeys.list()).toEqual([{ version: 1, checkValue: keyring.checkValue(1) }]);
      const secrets = await store.secrets.all();
      expect(secrets.map((s) => s.id)).toEqual(['token-hash-key']);
      expect(secrets[0]?.sealed.masterVersion).toBe(1);
    });

    it('records a check value for every version of the keyring', async () => {
      const store = await openStore();
      const keyring = ring([1, k1], [2, k2]);
      await Vault.open(store, () => keyring);
      expect(await store.masterKeys.list()).toEqual([
        { version: 1, checkValue: keyring.checkValue(1) },
        { version: 2, checkValue: keyring.checkValue(2) },
      ]);
      // New data is under the newest version.
      expect((await store.secrets.all())[0]?.sealed.masterVersion).toBe(2);
    });

    it('reopens with the same keyring without changing anything', async () => {
      const store = await openStore();
      const v1 = await Vault.open(store, () => ring([1, k1]));
      const user = await addUser(store);
      await putKey(store, v1, user, canary());
      await store.close();
      const before = dumpDatabase(file);

      const reopened = await openStore();
      const v2 = await Vault.open(reopened, () => ring([1, Buffer.from(k1)]));
      expect(v2.keyring.versions).toEqual([1]);
      const token = mintToken();
      expect(v2.hashToken(token).equals(v1.hashToken(token))).toBe(true);
      await reopened.close();
      expect(dumpDatabase(file)).toEqual(before);
    });

    it('refuses another master key with master_key_mismatch and changes nothing in the database', async () => {
      const store = await openStore();
      const vault = await Vault.open(store, () => ring([1, k1]));
      const user = await addUser(store);
      await putKey(store, vault, user, canary());
      const before = dumpDatabase(file);
      expect(before.upstream_keys).toHaveLength(1);
      expect(before.master_keys).toHaveLength(1);

      const wrong = randomBytes(32);
      const err = await expectRejects(Vault.open(store, () => ring([1, wrong])), 'master_key_mismatch');
      expect(err.message).toContain('version 1');
      expect(err.message).not.toContain(wrong.toString('base64'));
      expect(err.message).not.toContain(wrong.toString('hex'));
      expect(dumpDatabase(file)).toEqual(before);

      // A wrong v1 next to a new v2 is refused too, and v2's check value is not recorded.
      await expectRejects(Vault.open(store, () => ring([1, wrong], [2, k2])), 'master_key_mismatch');
      expect(dumpDatabase(file)).toEqual(before);

      // The right key still works afterwards.
      await Vault.open(store, () => ring([1, k1]));
    });

    it('refuses a keyring lacking a version still in use with master_key_missing, changing nothing', async () => {
      const store = await openStore();
      await Vault.open(store, () => ring([1, k1]));
      const before = dumpDatabase(file);
      const err = await expectRejects(Vault.open(store, () => ring([2, k2])), 'master_key_missing');
      expect(err.message).toMatch(/version\(s\) 1\b/);
      expect(dumpDatabase(file)).toEqual(before);
      expect(await store.masterKeys.list()).toEqual([{ version: 1, checkValue: ring([1, k1]).checkValue(1) }]);
    });

    it('refuses an upstream key under a version the keyring lacks', async () => {
      const store = await openStore();
      const vault = await Vault.open(store, () => ring([1, k1], [2, k2]));
      const user = await addUser(store);
      await putKey(store, vault, user, canary()); // under version 2
      // The token-hash key is under 2 as well; version 1 alone opens nothing.
      const err = await expectRejects(Vault.open(store, () => ring([1, k1])), 'master_key_missing');
      expect(err.message).toMatch(/version\(s\) 2\b/);
    });
  });

  describe('upstream keys', () => {
    it('seal / open round-trips through the store, and the result is a Secret', async () => {
      const store = await openStore();
      const vault = await Vault.open(store, () => ring([1, k1]));
      const user = await addUser(store);
      const key = canary();
      const record = await putKey(store, vault, user, key);
      expect(record.sealed.ciphertext.includes(Buffer.from(key))).toBe(false);

      const stored = await store.keys.get(user, 'openai');
      expect(stored).toBeDefined();
      const opened = vault.openUpstreamKey(stored as UpstreamKey);
      expect(opened).toBeInstanceOf(Secret);
      expect(opened.reveal()).toBe(key);
      expect(String(opened)).toBe('[secret]');
      expect(JSON.stringify({ opened })).not.toContain(key);
    });

    it('round-trips unicode and long keys', async () => {
      const store = await openStore();
      const vault = await Vault.open(store, () => ring([1, k1]));
      const user = await addUser(store);
      for (const [upstream, key] of [['a', 'sk-ünïcödé-🔑-key'], ['b', `sk-${'x'.repeat(4096)}`]] as const) {
        await putKey(store, vault, user, key, upstream);
        expect(vault.openUpstreamKey((await store.keys.get(user, upstream)) as UpstreamKey).reveal()).toBe(key);
      }
    });

    it("binds a key to its record: another user's record, id or upstream fails with decrypt_failed", async () => {
      const store = await openStore();
      const vault = await Vault.open(store, () => ring([1, k1]));
      const alice = await addUser(store, 'alice@example.com');
      const bob = await addUser(store, 'bob@example.com');
      const a = await putKey(store, vault, alice, canary());
      const b = await putKey(store, vault, bob, canary());
      const variants: UpstreamKey[] = [
        { ...b, sealed: a.sealed },
        { ...a, userId: bob },
        { ...a, id: newId('key') },
        { ...a, upstream: 'other' },
        { ...a, sealed: { ...a.sealed, wrappedKey: b.sealed.wrappedKey } },
        { ...a, sealed: { ...a.sealed, ciphertext: b.sealed.ciphertext } },
      ];
      for (const v of variants) {
        let caught: unknown;
        try {
          vault.openUpstreamKey(v);
        } catch (err) {
          caught = err;
        }
        expect(caught).toBeInstanceOf(SoakpError);
        expect((caught as SoakpError).code).toBe('decrypt_failed');
        expect((caught as SoakpError).message).toBe('A stored secret failed authentication and was not decrypted.');
      }
    });

    it("fails with a generic error when two users' blobs are swapped in the database", async () => {
      let store = await openStore();
      let vault = await Vault.open(store, () => ring([1, k1]));
      const alice = await addUser(store, 'alice@example.com');
      const bob = await addUser(store, 'bob@example.com');
      const keyA = canary();
      const keyB = canary();
      await putKey(store, vault, alice, keyA);
      await putKey(store, vault, bob, keyB);
      await store.close();

      const raw = new BetterSqlite3(file);
      const rows = raw.prepare('SELECT user_id, wrapped_key, ciphertext FROM upstream_keys').all() as Array<{
        user_id: string;
        wrapped_key: Buffer;
        ciphertext: Buffer;
      }>;
      expect(rows).toHaveLength(2);
      const update = raw.prepare('UPDATE upstream_keys SET wrapped_key = ?, ciphertext = ? WHERE user_id = ?');
      update.run(rows[1]?.wrapped_key, rows[1]?.ciphertext, rows[0]?.user_id);
      update.run(rows[0]?.wrapped_key, rows[0]?.ciphertext, rows[1]?.user_id);
      raw.close();

      store = await openStore();
      vault = await Vault.open(store, () => ring([1, k1]));
      for (const user of [alice, bob]) {
        const record = (await store.keys.get(user, 'openai')) as UpstreamKey;
        let caught: unknown;
        try {
          vault.openUpstreamKey(record);
        } catch (err) {
          caught = err;
        }
        expect((caught as SoakpError).code).toBe('decrypt_failed');
        expect(String((caught as Error).message)).not.toContain(keyA);
        expect(String((caught as Error).message)).not.toContain(keyB);
      }
    });

    it('reloads the keyring when a record uses a version written by another process', async () => {
      const store = await openStore();
      let current = ring([1, k1]);
      let reloads = 0;
      const old = await Vault.open(store, () => {
        reloads += 1;
        return current;
      });
      expect(reloads).toBe(1);
      // Another process adds version 2 and writes a key under it.
      current = ring([1, k1], [2, k2]);
      const other = await Vault.open(store, () => ring([1, k1], [2, k2]));
      const user = await addUser(store);
      const key = canary();
      const record = await putKey(store, other, user, key);
      expect(record.sealed.masterVersion).toBe(2);
      expect(old.keyring.has(2)).toBe(false);

      expect(old.openUpstreamKey(record).reveal()).toBe(key);
      expect(reloads).toBe(2);
      expect(old.keyring.has(2)).toBe(true);
      // Later opens of the same version do not reload again.
      old.openUpstreamKey(record);
      expect(reloads).toBe(2);
    });
  });

  describe('token hashing', () => {
    it('is HMAC-SHA-256 under a random key kept in the store, not the master key', async () => {
      const store = await openStore();
      const keyring = ring([1, k1]);
      const vault = await Vault.open(store, () => keyring);
      const token = mintToken();
      const h = vault.hashToken(token);
      expect(h.length).toBe(32);
      expect(h.equals(vault.hashToken(token))).toBe(true);
      expect(h.equals(vault.hashToken(mintToken()))).toBe(false);
      expect(h.equals(createHmac('sha256', k1).update(token).digest())).toBe(false);

      // Reproduce it from the sealed secret in the store.
      const sealed = await store.secrets.get('token-hash-key');
      const hashKey = openSecret(keyring, sealed as SealedSecret, internalSecretContext('token-hash-key'));
      expect(h.equals(createHmac('sha256', hashKey).update(token).digest())).toBe(true);
    });

    it('differs between two databases under the same master key', async () => {
      const storeA = await openStore();
      const a = await Vault.open(storeA, () => ring([1, k1]));
      const storeB = await openSqliteStore({ file: join(dir, 'other.db') });
      stores.push(storeB);
      const b = await Vault.open(storeB, () => ring([1, k1]));
      const token = mintToken();
      expect(a.hashToken(token).equals(b.hashToken(token))).toBe(false);
    });

    it('survives reopening: the same token gives the same hash', async () => {
      const store = await openStore();
      const token = mintToken();
      const first = (await Vault.open(store, () => ring([1, k1]))).hashToken(token);
      await store.close();
      const again = await openStore();
      const second = (await Vault.open(again, () => ring([1, k1]))).hashToken(token);
      expect(second.equals(first)).toBe(true);
      expect((await again.secrets.all()).length).toBe(1);
    });

    it('survives master-key rotation, even once the old version is gone', async () => {
      const store = await openStore();
      const token = mintToken();
      const before = (await Vault.open(store, () => ring([1, k1]))).hashToken(token);
      const result = await rotateMasterKey(store, ring([1, k1], [2, k2]));
      expect(result.version).toBe(2);
      expect((await store.secrets.get('token-hash-key'))?.masterVersion).toBe(2);
      const after = await Vault.open(store, () => ring([2, k2]));
      expect(after.hashToken(token).equals(before)).toBe(true);
    });
  });
});

describe('contexts', () => {
  it('name every part of the record they bind', () => {
    expect(upstreamKeyContext({ id: 'key_1', userId: 'usr_1', upstream: 'openai' })).toBe('upstream-key|key_1|usr_1|openai');
    expect(internalSecretContext('token-hash-key')).toBe('internal|token-hash-key');
    expect(upstreamKeyContext({ id: 'key_1', userId: 'usr_1', upstream: 'a' })).not.toBe(
      upstreamKeyContext({ id: 'key_1', userId: 'usr_2', upstream: 'a' }),
    );
  });
});

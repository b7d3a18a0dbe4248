import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MasterKeyring } from '../crypto/keyring.js';
import { SoakpError } from '../shared/errors.js';
import type { Store } from '../store/ports.js';
import { openSqliteStore } from '../store/sqlite/open.js';
import { loadFileKey, rewrapFileKey } from './file-key.js';

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const ring = (...entries: Array<[number, Buffer]>) => new MasterKeyring(new Map(entries));
const mode = (file: string) => statSync(file).mode & 0o777;

function expectCode(fn: () => unknown, code: string): SoakpError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SoakpError);
  expect((caught as SoakpError).code).toBe(code);
  return caught as SoakpError;
}

interface Sidecar {
  v: number;
  k: string;
  c: string;
}

describe('database file key', () => {
  let dir: string;
  let dbFile: string;
  let keyFile: string;
  const stores: Store[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'soakp-filekey-'));
    dbFile = join(dir, 'soakp.db');
    keyFile = `${dbFile}.key`;
  });

  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const sidecar = (): Sidecar => JSON.parse(readFileSync(keyFile, 'utf8')) as Sidecar;

  describe('loadFileKey', () => {
    it('creates a 0600 sidecar holding the key sealed under the current master version', () => {
      expect(existsSync(keyFile)).toBe(false);
      const key = loadFileKey(ring([1, k1], [3, k2]), keyFile, dbFile);
      expect(key.length).toBe(32);
      expect(mode(keyFile)).toBe(0o600);
      const s = sidecar();
      expect(Object.keys(s).sort()).toEqual(['c', 'k', 'v']);
      expect(s.v).toBe(3);
      const text = readFileSync(keyFile, 'utf8');
      for (const enc of ['hex', 'base64', 'base64url'] as const) expect(text).not.toContain(key.toString(enc));
      expect(Buffer.from(s.c, 'base64').includes(key)).toBe(false);
      // No temporary file is left, and the database itself is not created here.
      expect(readdirSync(dir)).toEqual(['soakp.db.key']);
    });

    it('returns the same key on every reload, and different keys for different databases', () => {
      const first = loadFileKey(ring([1, k1]), keyFile, dbFile);
      const written = readFileSync(keyFile, 'utf8');
      const second = loadFileKey(ring([1, Buffer.from(k1)]), keyFile, dbFile);
      expect(second.equals(first)).toBe(true);
      expect(readFileSync(keyFile, 'utf8')).toBe(written); // reload does not rewrite
      const other = loadFileKey(ring([1, k1]), join(dir, 'other.db.key'), join(dir, 'other.db'));
      expect(other.equals(first)).toBe(false);
    });

    it('is the key that opens the encrypted database', async () => {
      const key = loadFileKey(ring([1, k1]), keyFile, dbFile);
      const store = await openSqliteStore({ file: dbFile, fileKey: key });
      stores.push(store);
      await store.users.create({ id: 'usr_1', email: 'a@example.com', status: 'active', createdAt: 1 });
      await store.close();
      expect(readFileSync(dbFile).subarray(0, 16).toString('latin1')).not.toBe('SQLite format 3\u0000');

      // Reopen with the key loaded again: the data is there.
      const again = await openSqliteStore({ file: dbFile, fileKey: loadFileKey(ring([1, k1]), keyFile, dbFile) });
      stores.push(again);
      expect((await again.users.byId('usr_1'))?.email).toBe('a@example.com');
      await again.close();
      // Without the key, or with another, it does not open.
      await expect(openSqliteStore({ file: dbFile })).rejects.toMatchObject({ code: 'store_corrupt' });
      await expect(openSqliteStore({ file: dbFile, fileKey: randomBytes(32) })).rejects.toMatchObject({ code: 'store_corrupt' });
    });

    it('refuses to enable encryption for an existing plaintext database, creating no sidecar', async () => {
      const plain = await openSqliteStore({ file: dbFile });
      stores.push(plain);
      await plain.users.create({ id: 'usr_1', email: 'a@example.com', status: 'active', createdAt: 1 });
      await plain.close();
      const dbBefore = readFileSync(dbFile);
      expect(dbBefore.length).toBeGreaterThan(0);

      const err = expectCode(() => loadFileKey(ring([1, k1]), keyFile, dbFile), 'invalid_config');
      expect(err.message).toContain(dbFile);
      expect(err.message).toMatch(/only be chosen for a new database/);
      expect(existsSync(keyFile)).toBe(false);
      expect(readFileSync(dbFile).equals(dbBefore)).toBe(true);
    });

    it('accepts an existing empty database file (as the store creates before first use)', () => {
      writeFileSync(dbFile, '');
      const key = loadFileKey(ring([1, k1]), keyFile, dbFile);
      expect(key.length).toBe(32);
      expect(existsSync(keyFile)).toBe(true);
    });

    it('gives master_key_mismatch under another master key, leaving the sidecar as it was', () => {
      loadFileKey(ring([1, k1]), keyFile, dbFile);
      const before = readFileSync(keyFile, 'utf8');
      const wrong = randomBytes(32);
      const err = expectCode(() => loadFileKey(ring([1, wrong]), keyFile, dbFile), 'master_key_mismatch');
      expect(err.message).toContain(keyFile);
      expect(err.message).not.toContain(wrong.toString('base64'));
      expect(readFileSync(keyFile, 'utf8')).toBe(before);
    });

    it('gives master_key_missing when the keyring lacks the version the sidecar uses', () => {
      loadFileKey(ring([1, k1]), keyFile, dbFile);
      expectCode(() => loadFileKey(ring([2, k2]), keyFile, dbFile), 'master_key_missing');
    });

    it('reports a corrupt sidecar as store_corrupt', () => {
      for (const text of ['', 'not json', '{"v":1,"k":"AAAA","c":"AAAA"}']) {
        writeFileSync(keyFile, text);
        const err = (() => {
          try {
            loadFileKey(ring([1, k1]), keyFile, dbFile);
          } catch (e) {
            return e as SoakpError;
          }
          return undefined;
        })();
        expect(err).toBeInstanceOf(SoakpError);
        if (text.startsWith('{')) {
          // Parses, but the blobs fail authentication: refused, whichever way it is reported.
          expect(['store_corrupt', 'master_key_mismatch']).toContain(err?.code);
        } else {
          expect(err?.code).toBe('store_corrupt');
          expect(err?.message).toContain(keyFile);
        }
      }
    });
  });

  describe('rewrapFileKey', () => {
    it('moves the sidecar to the newest version; the key stays the same and opens with only that version', () => {
      const key = loadFileKey(ring([1, k1]), keyFile, dbFile);
      const before = sidecar();
      const both = ring([1, k1], [2, k2]);

      expect(rewrapFileKey(both, keyFile)).toBe(true);
      const after = sidecar();
      expect(after.v).toBe(2);
      expect(after.k).not.toBe(before.k);
      expect(after.c).toBe(before.c); // the data key's ciphertext is untouched
      expect(mode(keyFile)).toBe(0o600);
      expect(readdirSync(dir)).toEqual(['soakp.db.key']);

      expect(loadFileKey(ring([2, k2]), keyFile, dbFile).equals(key)).toBe(true);
      expect(loadFileKey(both, keyFile, dbFile).equals(key)).toBe(true);
      expectCode(() => loadFileKey(ring([1, k1]), keyFile, dbFile), 'master_key_missing');
    });

    it('does nothing when already on the newest version or when there is no sidecar', () => {
      loadFileKey(ring([1, k1]), keyFile, dbFile);
      const before = readFileSync(keyFile, 'utf8');
      expect(rewrapFileKey(ring([1, k1]), keyFile)).toBe(false);
      expect(readFileSync(keyFile, 'utf8')).toBe(before);
      expect(rewrapFileKey(ring([1, k1], [2, k2]), join(dir, 'absent.key'))).toBe(false);
      expect(existsSync(join(dir, 'absent.key'))).toBe(false);
    });

    it('refuses to rewrap under a wrong key for the version of the sidecar, leaving it intact', () => {
      loadFileKey(ring([1, k1]), keyFile, dbFile);
      const before = readFileSync(keyFile, 'utf8');
      expectCode(() => rewrapFileKey(ring([1, randomBytes(32)], [2, k2]), keyFile), 'decrypt_failed');
      expect(readFileSync(keyFile, 'utf8')).toBe(before);
    });

    it('keeps the encrypted database readable after the master key moves on', async () => {
      const key = loadFileKey(ring([1, k1]), keyFile, dbFile);
      const store = await openSqliteStore({ file: dbFile, fileKey: key });
      stores.push(store);
      await store.users.create({ id: 'usr_1', email: 'a@example.com', status: 'active', createdAt: 1 });
      await store.close();

      rewrapFileKey(ring([1, k1], [2, k2]), keyFile);
      const again = await openSqliteStore({ file: dbFile, fileKey: loadFileKey(ring([2, k2]), keyFile, dbFile) });
      stores.push(again);
      expect((await again.users.byId('usr_1'))?.email).toBe('a@example.com');
    });
  });
});

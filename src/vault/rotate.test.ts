import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MasterKeyring } from '../crypto/keyring.js';
import { mintToken } from '../crypto/tokens.js';
import { SoakpError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { maskKey } from '../shared/secret.js';
import type { Store } from '../store/ports.js';
import { openSqliteStore } from '../store/sqlite/open.js';
import { type MasterKeySource, masterKeySource, parseKeyring } from './master-key-source.js';
import { recordsBehind, rotateMasterKey, rotateVault } from './rotate.js';
import { Vault } from './vault.js';

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const ring = (...entries: Array<[number, Buffer]>) => new MasterKeyring(new Map(entries));
const b64 = (k: Buffer) => k.toString('base64');

interface Row {
  id: string;
  master_version: number;
  wrapped_key: Buffer;
  ciphertext: Buffer;
}

/** The sealed columns of every record, read straight from the file. */
function sealedRows(file: string): { upstream_keys: Row[]; secrets: Row[] } {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  try {
    return {
      upstream_keys: db.prepare('SELECT * FROM upstream_keys ORDER BY id').all() as Row[],
      secrets: db.prepare('SELECT * FROM secrets ORDER BY id').all() as Row[],
    };
  } finally {
    db.close();
  }
}

function versionsOf(rows: { upstream_keys: Row[]; secrets: Row[] }): number[] {
  return [...rows.upstream_keys, ...rows.secrets].map((r) => r.master_version);
}

describe('master-key rotation', () => {
  let dir: string;
  let file: string;
  const stores: Store[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'soakp-rotate-'));
    file = join(dir, 'soakp.db');
  });

  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A store with the token-hash key and three upstream keys for two users, all under `keyring`. */
  async function populated(keyring: MasterKeyring) {
    const store = await openSqliteStore({ file });
    stores.push(store);
    const vault = await Vault.open(store, () => keyring);
    const plain = new Map<string, string>();
    for (const [email, upstreams] of [['alice@example.com', ['openai', 'azure']], ['bob@example.com', ['openai']]] as const) {
      const userId = newId('usr');
      await store.users.create({ id: userId, email, status: 'active', createdAt: Date.now() });
      for (const upstream of upstreams) {
        const id = newId('key');
        const key = `sk-canary-${randomBytes(12).toString('hex')}`;
        await store.keys.put({ id, userId, upstream, hint: maskKey(key), sealed: vault.sealUpstreamKey({ id, userId, upstream }, key), updatedAt: Date.now() });
        plain.set(id, key);
      }
    }
    const token = mintToken();
    return { store, vault, plain, token, tokenHash: vault.hashToken(token) };
  }

  /** Opens a fresh Vault with `keyring` and checks every key and the token hash. */
  async function expectAllDecrypt(store: Store, keyring: MasterKeyring, plain: Map<string, string>, token: string, tokenHash: Buffer) {
    const vault = await Vault.open(store, () => keyring);
    const keys = await store.keys.all();
    expect(keys).toHaveLength(plain.size);
    for (const k of keys) expect(vault.openUpstreamKey(k).reveal()).toBe(plain.get(k.id));
    expect(vault.hashToken(token).equals(tokenHash)).toBe(true);
  }

  describe('rotateMasterKey', () => {
    it('moves every record to the new version; everything decrypts with only the new key', async () => {
      const { store, plain, token, tokenHash } = await populated(ring([1, k1]));
      const before = sealedRows(file);
      expect(before.upstream_keys).toHaveLength(3);
      expect(before.secrets).toHaveLength(1);
      expect(versionsOf(before)).toEqual([1, 1, 1, 1]);

      const result = await rotateMasterKey(store, ring([1, k1], [2, k2]));
      expect(result).toEqual({ version: 2, rewrapped: 4 });

      const after = sealedRows(file);
      expect(versionsOf(after)).toEqual([2, 2, 2, 2]);
      expect(await recordsBehind(store, 2)).toBe(0);
      expect(await recordsBehind(store, 1)).toBe(4);
      for (const table of ['upstream_keys', 'secrets'] as const) {
        after[table].forEach((row, i) => {
          const old = before[table][i] as Row;
          expect(row.id).toBe(old.id);
          expect(row.ciphertext.equals(old.ciphertext)).toBe(true); // only the wrapping changes
          expect(row.wrapped_key.equals(old.wrapped_key)).toBe(false);
        });
      }
      const checkValues = await store.masterKeys.list();
      expect(checkValues.map((c) => c.version)).toEqual([1, 2]);
      expect(checkValues[1]?.checkValue).toBe(ring([2, k2]).checkValue(2));

      await expectAllDecrypt(store, ring([2, k2]), plain, token, tokenHash);
      // The old key alone no longer opens the data.
      const err = await Vault.open(store, () => ring([1, k1])).catch((e: unknown) => e);
      expect((err as SoakpError).code).toBe('master_key_missing');
    });

    it('does nothing when every record is already on the newest version', async () => {
      const { store } = await populated(ring([1, k1]));
      await rotateMasterKey(store, ring([1, k1], [2, k2]));
      const rows = sealedRows(file);
      expect(await rotateMasterKey(store, ring([1, k1], [2, k2]))).toEqual({ version: 2, rewrapped: 0 });
      expect(await rotateMasterKey(store, ring([2, k2]))).toEqual({ version: 2, rewrapped: 0 });
      expect(sealedRows(file)).toEqual(rows);
    });

    it('re-wraps only the records that are behind', async () => {
      const { store, plain, token, tokenHash } = await populated(ring([1, k1]));
      // One more key written by a server that already has version 2.
      const newer = await Vault.open(store, () => ring([1, k1], [2, k2]));
      const userId = (await store.users.list())[0]?.id as string;
      const id = newId('key');
      const key = 'sk-written-under-v2-0000';
      await store.keys.put({ id, userId, upstream: 'newer', hint: maskKey(key), sealed: newer.sealUpstreamKey({ id, userId, upstream: 'newer' }, key), updatedAt: 1 });
      plain.set(id, key);
      const v2Row = sealedRows(file).upstream_keys.find((r) => r.id === id) as Row;
      expect(v2Row.master_version).toBe(2);

      expect(await rotateMasterKey(store, ring([1, k1], [2, k2]))).toEqual({ version: 2, rewrapped: 4 });
      expect(sealedRows(file).upstream_keys.find((r) => r.id === id)).toEqual(v2Row);
      await expectAllDecrypt(store, ring([2, k2]), plain, token, tokenHash);
    });

    it('refuses a keyring with a wrong key for a known version and changes nothing', async () => {
      const { store } = await populated(ring([1, k1]));
      const before = sealedRows(file);
      const err = await rotateMasterKey(store, ring([1, randomBytes(32)], [2, k2])).catch((e: unknown) => e);
      expect((err as SoakpError).code).toBe('master_key_mismatch');
      expect(sealedRows(file)).toEqual(before);
    });

    for (const at of [1, 3, 4]) {
      it(`an interruption after record ${at} leaves every record exactly as before; running again completes`, async () => {
        const { store, plain, token, tokenHash } = await populated(ring([1, k1]));
        const before = sealedRows(file);
        const both = ring([1, k1], [2, k2]);
        const seen: number[] = [];
        const crash = new Error('simulated crash');
        const err = await rotateMasterKey(store, both, (n) => {
          seen.push(n);
          if (n === at) throw crash;
        }).catch((e: unknown) => e);
        expect(err).toBe(crash);
        expect(seen).toEqual(Array.from({ length: at }, (_, i) => i + 1));

        // Byte for byte as before: versions, wrapped keys, ciphertexts.
        expect(sealedRows(file)).toEqual(before);
        expect(await recordsBehind(store, 2)).toBe(4);
        await expectAllDecrypt(store, ring([1, k1]), plain, token, tokenHash);
        await expectAllDecrypt(store, both, plain, token, tokenHash);

        const result = await rotateMasterKey(store, both);
        expect(result).toEqual({ version: 2, rewrapped: 4 });
        expect(versionsOf(sealedRows(file))).toEqual([2, 2, 2, 2]);
        await expectAllDecrypt(store, ring([2, k2]), plain, token, tokenHash);
      });
    }

    it('survives a restart between the interruption and the second run', async () => {
      const { store, plain, token, tokenHash } = await populated(ring([1, k1]));
      const before = sealedRows(file);
      await rotateMasterKey(store, ring([1, k1], [2, k2]), (n) => {
        if (n === 2) throw new Error('crash');
      }).catch(() => undefined);
      await store.close();
      expect(sealedRows(file)).toEqual(before);

      const reopened = await openSqliteStore({ file });
      stores.push(reopened);
      expect(await rotateMasterKey(reopened, ring([1, k1], [2, k2]))).toEqual({ version: 2, rewrapped: 4 });
      await expectAllDecrypt(reopened, ring([2, k2]), plain, token, tokenHash);
    });
  });

  describe('rotateVault', () => {
    function fileSource(text: string): { source: MasterKeySource; keyFile: string } {
      const keyFile = join(dir, 'master.key');
      writeFileSync(keyFile, text, { mode: 0o600 });
      return { source: masterKeySource({ env: { SOAKP_MASTER_KEY_FILE: keyFile }, dataDir: dir }), keyFile };
    }

    it('adds a version to a file keyring when none is pending, then re-wraps everything under it', async () => {
      const { source, keyFile } = fileSource(`1:${b64(k1)}\n`);
      const { store, plain, token, tokenHash } = await populated(source.load());

      const result = await rotateVault(store, source);
      expect(result.version).toBe(2);
      expect(result.rewrapped).toBe(4);
      expect(result.keyring.versions).toEqual([1, 2]);
      const fileRing = parseKeyring(readFileSync(keyFile, 'utf8'), keyFile);
      expect(fileRing.versions).toEqual([1, 2]);
      expect(fileRing.key(1).equals(k1)).toBe(true);
      expect(versionsOf(sealedRows(file))).toEqual([2, 2, 2, 2]);
      // Version 2 alone, as written to the file, opens everything.
      await expectAllDecrypt(store, ring([2, fileRing.key(2)]), plain, token, tokenHash);

      // Nothing pending again: the next rotation adds version 3.
      const next = await rotateVault(store, source);
      expect(next.version).toBe(3);
      expect(next.rewrapped).toBe(4);
      expect(parseKeyring(readFileSync(keyFile, 'utf8'), keyFile).versions).toEqual([1, 2, 3]);
      expect(versionsOf(sealedRows(file))).toEqual([3, 3, 3, 3]);
    });

    it('finishes with the newest version the operator added, without adding another', async () => {
      const { source, keyFile } = fileSource(`1:${b64(k1)}\n`);
      const { store, plain, token, tokenHash } = await populated(source.load());
      const withV2 = `1:${b64(k1)}\n2:${b64(k2)}\n`;
      writeFileSync(keyFile, withV2);

      const result = await rotateVault(store, source);
      expect(result.version).toBe(2);
      expect(result.rewrapped).toBe(4);
      expect(readFileSync(keyFile, 'utf8')).toBe(withV2);
      await expectAllDecrypt(store, ring([2, k2]), plain, token, tokenHash);
    });

    it('after a crash mid-rotation, running again finishes with the version already added', async () => {
      const { source, keyFile } = fileSource(`1:${b64(k1)}\n`);
      const { store, plain, token, tokenHash } = await populated(source.load());
      const before = sealedRows(file);

      const err = await rotateVault(store, source, (n) => {
        if (n === 1) throw new Error('simulated crash');
      }).catch((e: unknown) => e);
      expect((err as Error).message).toBe('simulated crash');
      const afterCrash = readFileSync(keyFile, 'utf8');
      expect(parseKeyring(afterCrash, keyFile).versions).toEqual([1, 2]);
      expect(sealedRows(file)).toEqual(before);
      await expectAllDecrypt(store, source.load(), plain, token, tokenHash);

      const result = await rotateVault(store, source);
      expect(result.version).toBe(2);
      expect(result.rewrapped).toBe(4);
      expect(readFileSync(keyFile, 'utf8')).toBe(afterCrash); // no third version
      const v2 = parseKeyring(afterCrash, keyFile).key(2);
      await expectAllDecrypt(store, ring([2, v2]), plain, token, tokenHash);
    });

    it('with SOAKP_MASTER_KEY: finishes a pending version, but cannot add one itself', async () => {
      const env = masterKeySource({ env: { SOAKP_MASTER_KEY: `1:${b64(k1)},2:${b64(k2)}` }, dataDir: dir });
      const { store, plain, token, tokenHash } = await populated(ring([1, k1]));
      const result = await rotateVault(store, env);
      expect(result.version).toBe(2);
      expect(result.rewrapped).toBe(4);
      await expectAllDecrypt(store, ring([2, k2]), plain, token, tokenHash);

      const before = sealedRows(file);
      const err = await rotateVault(store, env).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SoakpError);
      expect((err as SoakpError).code).toBe('invalid_config');
      expect((err as SoakpError).message).toContain('SOAKP_MASTER_KEY');
      expect((err as SoakpError).message).not.toContain(b64(k2));
      expect(sealedRows(file)).toEqual(before);
    });
  });
});

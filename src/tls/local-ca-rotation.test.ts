import { X509Certificate, createPublicKey, randomBytes, sign, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../shared/index.js';
import type { Store } from '../store/index.js';
import { openSqliteStore } from '../store/sqlite/open.js';
import { Vault, masterKeySource, parseKeyring, rotateVault } from '../vault/index.js';
import { issueLeaf, loadOrCreateLocalCa } from './local-ca.js';

describe('the local CA across a master-key rotation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'soakp-ca-rotate-'));
  const file = join(dir, 'soakp.db');
  const stores: Store[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const open = async (): Promise<Store> => {
    const store = await openSqliteStore({ file });
    stores.push(store);
    return store;
  };

  it('opens with the new key alone: the same certificate and key, and new leaves chain to it', async () => {
    // The default key source, <dataDir>/master.key, as `soakp serve` and `soakp vault rotate` use it.
    const source = masterKeySource({ env: {}, dataDir: dir });
    const store = await open();
    const vault = await Vault.open(store, () => source.load());
    const deps = { store, dataDir: dir, logger: createLogger('silent') };
    const before = await loadOrCreateLocalCa({ ...deps, vault });
    const sealedBefore = await store.secrets.get('tls-local-ca');
    expect(sealedBefore?.masterVersion).toBe(1);

    // What `soakp vault rotate` does (src/cli/vault.ts); the database is not encrypted, so no file key.
    const rotated = await rotateVault(store, source);
    expect(rotated.version).toBe(2);
    expect(rotated.rewrapped).toBe(2); // the token-hash key and the CA
    await store.close();
    stores.splice(0);

    // A restart with only version 2: the old key is no longer needed.
    const onlyNew = parseKeyring(`2:${rotated.keyring.key(2).toString('base64')}`, 'the test');
    const reopened = await open();
    const sealedAfter = await reopened.secrets.get('tls-local-ca');
    expect(sealedAfter?.masterVersion).toBe(2);
    expect(sealedAfter?.ciphertext.equals(sealedBefore!.ciphertext)).toBe(true); // re-wrapped, not re-created
    const after = await loadOrCreateLocalCa({ ...deps, store: reopened, vault: await Vault.open(reopened, () => onlyNew) });

    expect(after.cert).toBe(before.cert);
    expect(after.name).toBe(before.name);
    expect(readFileSync(join(dir, 'local-ca.pem'), 'utf8')).toBe(before.cert);
    const caCert = new X509Certificate(after.cert);
    // The key opened after rotation is the certificate's: it signs what the certificate's public key verifies.
    const data = randomBytes(64);
    expect(verify('sha256', data, caCert.publicKey, sign('sha256', data, after.privateKey))).toBe(true);
    expect(caCert.checkPrivateKey(after.privateKey)).toBe(true);
    expect(createPublicKey(after.privateKey).export({ type: 'spki', format: 'der' })).toEqual(before.publicKey.export({ type: 'spki', format: 'der' }));

    const leaf = new X509Certificate(issueLeaf(after, ['after-rotation.test']).cert);
    expect(leaf.checkIssued(caCert)).toBe(true);
    expect(leaf.verify(caCert.publicKey)).toBe(true);
    expect(leaf.verify(new X509Certificate(before.cert).publicKey)).toBe(true);
  });
});

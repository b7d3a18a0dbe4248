import { rewrapSecret } from '../crypto/index.js';
import type { MasterKeyring } from '../crypto/index.js';
import type { Store } from '../store/index.js';
import { type MasterKeySource, addKeyVersion } from './master-key-source.js';
import { internalSecretContext, upstreamKeyContext } from './vault.js';
import { verifyKeyring } from './verify.js';

export interface RotationResult {
  version: number;
  rewrapped: number;
}

/**
 * Re-wraps every data key under the keyring's newest version, in one transaction: a crash
 * part-way leaves every record as it was (and still readable), and running again finishes.
 * `onRecord` runs after each re-wrap inside the transaction (tests use it to interrupt).
 */
export async function rotateMasterKey(store: Store, keyring: MasterKeyring, onRecord?: (n: number) => void): Promise<RotationResult> {
  await verifyKeyring(store, keyring);
  const version = keyring.current;
  return store.transaction(async (tx) => {
    let rewrapped = 0;
    for (const key of await tx.keys.all()) {
      if (key.sealed.masterVersion === version) continue;
      await tx.keys.rewrap(key.id, rewrapSecret(keyring, key.sealed, upstreamKeyContext(key)));
      rewrapped += 1;
      onRecord?.(rewrapped);
    }
    for (const { id, sealed } of await tx.secrets.all()) {
      if (sealed.masterVersion === version) continue;
      await tx.secrets.rewrap(id, rewrapSecret(keyring, sealed, internalSecretContext(id)));
      rewrapped += 1;
      onRecord?.(rewrapped);
    }
    return { version, rewrapped };
  });
}

/**
 * `soakp vault rotate`: when every record is already under the newest version, add a
 * version to the keyring first (a file keyring only; for SOAKP_MASTER_KEY the operator adds
 * it). When some records are behind — a rotation that crashed, or a version the operator
 * just added — finish with the newest version instead of adding yet another.
 */
export async function rotateVault(store: Store, source: MasterKeySource, onRecord?: (n: number) => void): Promise<RotationResult & { keyring: MasterKeyring }> {
  let keyring = source.load();
  if ((await recordsBehind(store, keyring.current)) === 0) {
    addKeyVersion(source);
    keyring = source.load();
  }
  return { ...(await rotateMasterKey(store, keyring, onRecord)), keyring };
}

export async function recordsBehind(store: Store, version: number): Promise<number> {
  const keys = (await store.keys.all()).filter((k) => k.sealed.masterVersion !== version).length;
  const secrets = (await store.secrets.all()).filter((s) => s.sealed.masterVersion !== version).length;
  return keys + secrets;
}

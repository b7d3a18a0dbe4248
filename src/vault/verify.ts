import type { MasterKeyring } from '../crypto/index.js';
import { SoakpError } from '../shared/index.js';
import type { Store } from '../store/index.js';

/**
 * Refuses a keyring that is not the one the data was written with — never re-keys silently.
 * Every version the database knows and the keyring has must match its stored check value;
 * every version still wrapping data must be present. New keyring versions are recorded.
 */
export async function verifyKeyring(store: Store, keyring: MasterKeyring): Promise<void> {
  const known = await checkKeyring(store, keyring);
  const knownVersions = new Set(known.map((k) => k.version));
  for (const version of keyring.versions) {
    if (!knownVersions.has(version)) await store.masterKeys.insert(version, keyring.checkValue(version), Date.now());
  }
}

/**
 * The same proof, writing nothing (`store copy` reads its source only): returns the check
 * values the store holds.
 */
export async function checkKeyring(store: Store, keyring: MasterKeyring): Promise<Array<{ version: number; checkValue: string }>> {
  const known = await store.masterKeys.list();
  for (const { version, checkValue } of known) {
    if (keyring.has(version) && !keyring.matches(version, checkValue)) {
      throw new SoakpError(
        'master_key_mismatch',
        `The master key (version ${version}) is not the one this data was written with. ` +
          'Start soakp with the original SOAKP_MASTER_KEY / master-key file; nothing was changed.',
      );
    }
  }
  // Versions only, from the database: a store of 100,000 keys would otherwise be loaded whole at every start.
  const inUse = new Set<number>([...(await store.keys.versionsInUse()), ...(await store.secrets.versionsInUse())]);
  const missing = [...inUse].filter((v) => !keyring.has(v)).sort((a, b) => a - b);
  if (missing.length > 0) {
    throw new SoakpError(
      'master_key_missing',
      `Stored data is wrapped under master-key version(s) ${missing.join(', ')}, which the configured keyring lacks.`,
    );
  }
  return known;
}

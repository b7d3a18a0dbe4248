import { randomBytes } from 'node:crypto';
import { openSecret, sealSecret } from '../crypto/envelope.js';
import type { MasterKeyring } from '../crypto/keyring.js';
import { hashToken } from '../crypto/tokens.js';
import type { SealedSecret, UpstreamKey } from '../domain/types.js';
import { SoakpError } from '../shared/errors.js';
import { Secret } from '../shared/secret.js';
import type { Store } from '../store/ports.js';
import { verifyKeyring } from './verify.js';

const TOKEN_HASH_KEY = 'token-hash-key';

/**
 * Seals and opens upstream keys, and hashes tokens. Built only through `Vault.open`, which
 * first proves the configured master key is the one the data was written with.
 */
export class Vault {
  #keyring: MasterKeyring;
  readonly #reload: () => MasterKeyring;
  readonly #tokenHashKey: Secret<Buffer>;

  private constructor(keyring: MasterKeyring, reload: () => MasterKeyring, tokenHashKey: Buffer) {
    this.#keyring = keyring;
    this.#reload = reload;
    this.#tokenHashKey = new Secret(tokenHashKey);
  }

  /** `reload` re-reads the keyring, for when another process (`vault rotate`) added a version. */
  static async open(store: Store, reload: () => MasterKeyring): Promise<Vault> {
    const keyring = reload();
    await verifyKeyring(store, keyring);
    const tokenHashKey = await loadOrCreateTokenHashKey(store, keyring);
    return new Vault(keyring, reload, tokenHashKey);
  }

  get keyring(): MasterKeyring {
    return this.#keyring;
  }

  sealUpstreamKey(ref: KeyRef, key: string): SealedSecret {
    return sealSecret(this.#keyring, Buffer.from(key, 'utf8'), upstreamKeyContext(ref));
  }

  /** The plaintext key, typed so it cannot be logged by accident. */
  openUpstreamKey(record: UpstreamKey): Secret<string> {
    const plain = this.#withFreshKeyring(record.sealed.masterVersion, (k) => openSecret(k, record.sealed, upstreamKeyContext(record)));
    return new Secret(plain.toString('utf8'));
  }

  /** Seals a secret of the proxy's own (e.g. an Open WebUI JWT secret) under the record id `id`. */
  sealInternal(id: string, plaintext: Buffer): SealedSecret {
    return sealSecret(this.#keyring, plaintext, internalSecretContext(id));
  }

  openInternal(id: string, sealed: SealedSecret): Secret<Buffer> {
    return new Secret(this.#withFreshKeyring(sealed.masterVersion, (k) => openSecret(k, sealed, internalSecretContext(id))));
  }

  hashToken(token: string): Buffer {
    return hashToken(this.#tokenHashKey.reveal(), token);
  }

  #withFreshKeyring<T>(version: number, fn: (k: MasterKeyring) => T): T {
    if (!this.#keyring.has(version)) this.#keyring = this.#reload(); // a rotation elsewhere added it
    return fn(this.#keyring);
  }
}

export interface KeyRef {
  id: string;
  userId: string;
  upstream: string;
}

/** Associated data for a user's key: the blob opens only on the record it was written for. */
export function upstreamKeyContext(ref: KeyRef): string {
  return `upstream-key|${ref.id}|${ref.userId}|${ref.upstream}`;
}

export function internalSecretContext(id: string): string {
  return `internal|${id}`;
}

// The HMAC key for tokens is random and sealed like any secret, so rotating the master key
// re-wraps it instead of invalidating every token.
async function loadOrCreateTokenHashKey(store: Store, keyring: MasterKeyring): Promise<Buffer> {
  const context = internalSecretContext(TOKEN_HASH_KEY);
  const existing = await store.secrets.get(TOKEN_HASH_KEY);
  if (existing) return openSecret(keyring, existing, context);
  await store.secrets.insert(TOKEN_HASH_KEY, sealSecret(keyring, randomBytes(32), context));
  const winner = await store.secrets.get(TOKEN_HASH_KEY); // another process may have won the race
  if (!winner) throw new SoakpError('store_unavailable', 'The token-hash key could not be stored.');
  return openSecret(keyring, winner, context);
}

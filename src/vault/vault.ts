import { randomBytes } from 'node:crypto';
import { hashToken, openSecret, sealSecret } from '../crypto/index.js';
import type { MasterKeyring } from '../crypto/index.js';
import type { SealedSecret, UpstreamKey } from '../domain/index.js';
import { Secret, SoakpError } from '../shared/index.js';
import type { AuditHead, HeadMac, NextHeadMac, Store } from '../store/index.js';
import { AUDIT_HEAD, headMacHolds, headMacWith } from './audit-head.js';
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
  /** The audit head's MAC keys by master-key version, derived on first use. */
  readonly #auditKeys = new Map<number, Secret<Buffer>>();

  private constructor(keyring: MasterKeyring, reload: () => MasterKeyring, tokenHashKey: Buffer) {
    this.#keyring = keyring;
    this.#reload = reload;
    this.#tokenHashKey = new Secret(tokenHashKey);
  }

  /** `reload` re-reads the keyring, for when another process (`vault rotate`) added a version. */
  static async open(store: Store, reload: () => MasterKeyring): Promise<Vault> {
    const keyring = reload();
    await verifyKeyring(store, keyring);
    const tokenHashKey = await loadOrCreateKey(store, keyring, TOKEN_HASH_KEY);
    return new Vault(keyring, reload, tokenHashKey.key);
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

  /**
   * The audit head's MAC, `v<master-key version>:<hex>`, under a key derived from the master
   * key itself: nothing in the database can be deleted or swapped to let someone without the
   * master key move the head of the chain.
   */
  readonly auditHeadMac: HeadMac = (seq, hash) => this.#headMac(this.#keyring.current, seq, hash);

  /** The MAC after an append: only a genuine head is extended with a signed one. */
  readonly nextAuditHeadMac: NextHeadMac = (previous, seq, hash) => (this.auditHeadAuthentic(previous) ? this.auditHeadMac(seq, hash) : '');

  auditHeadAuthentic(head: AuditHead): boolean {
    const version = /^v(\d{1,6}):/.exec(head.mac)?.[1];
    if (version !== undefined && !this.#keyring.has(Number(version))) this.#keyring = this.#reload(); // a rotation elsewhere added it
    return headMacHolds(head, (v) => (this.#keyring.has(v) ? this.#auditKey(v) : undefined));
  }

  #headMac(version: number, seq: number, hash: string): string {
    return headMacWith(this.#auditKey(version), version, seq, hash);
  }

  #auditKey(version: number): Buffer {
    let key = this.#auditKeys.get(version);
    if (!key) this.#auditKeys.set(version, (key = new Secret(this.#keyring.derive(version, AUDIT_HEAD))));
    return key.reveal();
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
async function loadOrCreateKey(store: Store, keyring: MasterKeyring, id: string): Promise<{ key: Buffer; created: boolean }> {
  const context = internalSecretContext(id);
  const existing = await store.secrets.get(id);
  if (existing) return { key: openSecret(keyring, existing, context), created: false };
  const created = await store.secrets.insert(id, sealSecret(keyring, randomBytes(32), context));
  const winner = await store.secrets.get(id); // another process may have won the race
  if (!winner) throw new SoakpError('store_unavailable', `The ${id} could not be stored.`);
  return { key: openSecret(keyring, winner, context), created };
}

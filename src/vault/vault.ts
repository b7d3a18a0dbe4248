import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { openSecret, sealSecret } from '../crypto/envelope.js';
import type { MasterKeyring } from '../crypto/keyring.js';
import { hashToken } from '../crypto/tokens.js';
import type { SealedSecret, UpstreamKey } from '../domain/types.js';
import { SoakpError } from '../shared/errors.js';
import { Secret } from '../shared/secret.js';
import type { AuditHead, HeadMac, Store } from '../store/ports.js';
import { verifyKeyring } from './verify.js';

const TOKEN_HASH_KEY = 'token-hash-key';
const AUDIT_HEAD_KEY = 'audit-head-key';

/**
 * Seals and opens upstream keys, and hashes tokens. Built only through `Vault.open`, which
 * first proves the configured master key is the one the data was written with.
 */
export class Vault {
  #keyring: MasterKeyring;
  readonly #reload: () => MasterKeyring;
  readonly #tokenHashKey: Secret<Buffer>;
  readonly #auditKey: Secret<Buffer>;
  /** True when this open created the audit key: the head found then (written by an earlier version) is adopted. */
  readonly auditKeyCreated: boolean;

  private constructor(keyring: MasterKeyring, reload: () => MasterKeyring, tokenHashKey: Buffer, auditKey: { key: Buffer; created: boolean }) {
    this.#keyring = keyring;
    this.#reload = reload;
    this.#tokenHashKey = new Secret(tokenHashKey);
    this.#auditKey = new Secret(auditKey.key);
    this.auditKeyCreated = auditKey.created;
  }

  /** `reload` re-reads the keyring, for when another process (`vault rotate`) added a version. */
  static async open(store: Store, reload: () => MasterKeyring): Promise<Vault> {
    const keyring = reload();
    await verifyKeyring(store, keyring);
    const tokenHashKey = await loadOrCreateKey(store, keyring, TOKEN_HASH_KEY);
    const auditKey = await loadOrCreateKey(store, keyring, AUDIT_HEAD_KEY);
    return new Vault(keyring, reload, tokenHashKey.key, auditKey);
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

  /** The audit head's MAC: only a holder of the master key can move the head of the chain. */
  readonly auditHeadMac: HeadMac = (seq, hash) => createHmac('sha256', this.#auditKey.reveal()).update(`audit-head|${seq}|${hash}`).digest('hex');

  auditHeadAuthentic(head: AuditHead): boolean {
    const expected = Buffer.from(this.auditHeadMac(head.seq, head.hash), 'hex');
    const found = Buffer.from(head.mac, 'hex');
    return found.length === expected.length && timingSafeEqual(found, expected);
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

// The HMAC keys for tokens and for the audit head are random and sealed like any secret, so
// rotating the master key re-wraps them instead of invalidating every token or the audit head.
async function loadOrCreateKey(store: Store, keyring: MasterKeyring, id: string): Promise<{ key: Buffer; created: boolean }> {
  const context = internalSecretContext(id);
  const existing = await store.secrets.get(id);
  if (existing) return { key: openSecret(keyring, existing, context), created: false };
  const created = await store.secrets.insert(id, sealSecret(keyring, randomBytes(32), context));
  const winner = await store.secrets.get(id); // another process may have won the race
  if (!winner) throw new SoakpError('store_unavailable', `The ${id} could not be stored.`);
  return { key: openSecret(keyring, winner, context), created };
}

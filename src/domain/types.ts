import type { Policy } from './policy.js';

/** The domain's records, as the store keeps them. Secrets appear only as sealed blobs. */

export type UserStatus = 'active' | 'disabled';

export interface User {
  readonly id: string;
  readonly email: string;
  readonly status: UserStatus;
  readonly createdAt: number;
  /** Limits and budgets on all of the user's traffic, and default scopes for their tokens. */
  readonly policy?: Policy;
}

/** An envelope-encrypted secret: ciphertext under a data key, the data key under a master-key version. */
export interface SealedSecret {
  readonly masterVersion: number;
  /** nonce ‖ ciphertext ‖ tag of the data key, under the master key. */
  readonly wrappedKey: Buffer;
  /** nonce ‖ ciphertext ‖ tag of the secret, under the data key. */
  readonly ciphertext: Buffer;
}

/** A user's key for one named upstream. `hint` is the masked form, e.g. `sk-…a1b2`. */
export interface UpstreamKey {
  readonly id: string;
  readonly userId: string;
  readonly upstream: string;
  readonly hint: string;
  readonly sealed: SealedSecret;
  readonly updatedAt: number;
}

/**
 * `personal`: a user's bearer token for /v1. `admin`: authorises the save-key route and
 * the admin API; it belongs to no user. `openwebui`: the Open WebUI connection key.
 */
export type TokenKind = 'personal' | 'admin' | 'openwebui';

export interface TokenRecord {
  readonly id: string;
  readonly kind: TokenKind;
  readonly userId: string | null;
  readonly name: string;
  /** e.g. `sk-soakp-Xy3…`: enough to recognise a token in a list, far too little to use it. */
  readonly displayPrefix: string;
  /** HMAC-SHA-256 of the whole token under the token-hash key. */
  readonly hash: Buffer;
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly lastUsedAt: number | null;
  readonly revokedAt: number | null;
  /** Kind-specific settings (e.g. Open WebUI trust options) as JSON; never a secret. */
  readonly options: Readonly<Record<string, unknown>>;
}

export function tokenState(t: TokenRecord, now: number): 'active' | 'revoked' | 'expired' {
  if (t.revokedAt !== null) return 'revoked';
  if (t.expiresAt !== null && t.expiresAt <= now) return 'expired';
  return 'active';
}

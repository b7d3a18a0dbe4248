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
 * `mint`: held by an app's server, it only mints `ephemeral` tokens (short-lived, for a web
 * page) through `POST /api/tokens/ephemeral`; it cannot call /v1 itself.
 */
export type TokenKind = 'personal' | 'admin' | 'openwebui' | 'mint' | 'ephemeral';

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

/**
 * What a token's options say about web pages: the origins it may be used from (absent: any,
 * and no Origin needed), whether a request without an Origin is let in, and for an ephemeral
 * token, the minting token it came from.
 */
export interface BrowserOptions {
  readonly origins?: readonly string[];
  readonly allowNoOrigin?: boolean;
  readonly parent?: string;
}

export function browserOptions(t: TokenRecord): BrowserOptions {
  return t.options as BrowserOptions;
}

/**
 * The token whose limits, budget and ledger rows a request counts against: an ephemeral
 * token's minting token (the many short-lived tokens of one app share its limits), else itself.
 */
export function accountOf(t: TokenRecord): string {
  const parent = (t.options as BrowserOptions).parent;
  return t.kind === 'ephemeral' && typeof parent === 'string' ? parent : t.id;
}

export function tokenState(t: TokenRecord, now: number): 'active' | 'revoked' | 'expired' {
  if (t.revokedAt !== null) return 'revoked';
  if (t.expiresAt !== null && t.expiresAt <= now) return 'expired';
  return 'active';
}

import { displayPrefix, mintToken } from '../crypto/index.js';
import type { TokenKind, TokenRecord } from '../domain/index.js';
import { newId, Secret } from '../shared/index.js';
import type { Repos } from '../store/index.js';
import type { Vault } from '../vault/index.js';

/** A token just minted: the only moment its plaintext exists outside the caller's hands. */
export interface IssuedToken {
  readonly token: Secret<string>;
  readonly record: TokenRecord;
}

export interface TokenSpec {
  kind: TokenKind;
  userId: string | null;
  name: string;
  expiresAt?: number | null;
  options?: Record<string, unknown>;
}

/** Mints a token and stores only its keyed hash. */
export async function issueToken(repos: Repos, vault: Vault, spec: TokenSpec): Promise<IssuedToken> {
  const token = mintToken();
  const record: TokenRecord = {
    id: newId('tok'),
    kind: spec.kind,
    userId: spec.userId,
    name: spec.name,
    displayPrefix: displayPrefix(token),
    hash: vault.hashToken(token),
    createdAt: Date.now(),
    expiresAt: spec.expiresAt ?? null,
    lastUsedAt: null,
    revokedAt: null,
    options: spec.options ?? {},
  };
  await repos.tokens.insert(record);
  return { token: new Secret(token), record };
}

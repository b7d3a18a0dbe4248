import type { Selectable } from 'kysely';
import type { Policy, TokenKind, TokenRecord, UpstreamKey, User, UserStatus } from '../domain/index.js';
import type { TokensTable, UpstreamKeysTable, UsersTable } from './schema.js';

/** Row ↔ record mapping, shared by every SQL store. */
export function toUser(r: Selectable<UsersTable>): User {
  const user: User = { id: r.id, email: r.email, status: r.status as UserStatus, createdAt: Number(r.created_at) };
  return r.policy === '{}' ? user : { ...user, policy: JSON.parse(r.policy) as Policy };
}

export function toKey(r: Selectable<UpstreamKeysTable>): UpstreamKey {
  return {
    id: r.id,
    userId: r.user_id,
    upstream: r.upstream,
    hint: r.hint,
    updatedAt: Number(r.updated_at),
    sealed: { masterVersion: r.master_version, wrappedKey: Buffer.from(r.wrapped_key), ciphertext: Buffer.from(r.ciphertext) },
  };
}

export function fromKey(k: UpstreamKey): Selectable<UpstreamKeysTable> {
  return {
    id: k.id,
    user_id: k.userId,
    upstream: k.upstream,
    hint: k.hint,
    master_version: k.sealed.masterVersion,
    wrapped_key: k.sealed.wrappedKey,
    ciphertext: k.sealed.ciphertext,
    updated_at: k.updatedAt,
  };
}

export function toToken(r: Selectable<TokensTable>): TokenRecord {
  return {
    id: r.id,
    kind: r.kind as TokenKind,
    userId: r.user_id,
    name: r.name,
    displayPrefix: r.display_prefix,
    hash: Buffer.from(r.hash),
    createdAt: Number(r.created_at),
    expiresAt: nullableNumber(r.expires_at),
    lastUsedAt: nullableNumber(r.last_used_at),
    revokedAt: nullableNumber(r.revoked_at),
    options: JSON.parse(r.options) as Record<string, unknown>,
  };
}

export function fromToken(t: TokenRecord): Selectable<TokensTable> {
  return {
    id: t.id,
    kind: t.kind,
    user_id: t.userId,
    name: t.name,
    display_prefix: t.displayPrefix,
    hash: t.hash,
    created_at: t.createdAt,
    expires_at: t.expiresAt,
    last_used_at: t.lastUsedAt,
    revoked_at: t.revokedAt,
    options: JSON.stringify(t.options),
  };
}

// PostgreSQL returns bigint columns as strings; SQLite as numbers.
function nullableNumber(v: number | string | null): number | null {
  return v === null ? null : Number(v);
}

/** A unique-constraint violation, in SQLite's or PostgreSQL's dialect. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}

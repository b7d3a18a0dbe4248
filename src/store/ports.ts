import type { Amount, CertificateRecord, IssuedCertificate, AuditEntry, AuditInput, BudgetState, Policy, SealedSecret, TokenKind, TokenRecord, UpstreamKey, UsageGrouping, UsageRecord, UsageSummary, User, UserStatus } from '../domain/index.js';

/**
 * What every store implementation MUST do. The contract suite in test/contract/ checks
 * exactly these sentences against SQLite (and, later, PostgreSQL), unchanged.
 *
 * General: every method MUST be safe for concurrent use; times are epoch milliseconds;
 * values MUST round-trip exactly (Buffers byte for byte); queries MUST be parameterised.
 */
export interface UserRepo {
  /** MUST fail with `user_exists` when the (normalised) email is taken. */
  create(user: User): Promise<void>;
  /** MUST return undefined, not throw, for an unknown email or id. */
  byEmail(email: string): Promise<User | undefined>;
  byId(id: string): Promise<User | undefined>;
  /** MUST order by email. */
  list(): Promise<User[]>;
  /** MUST return false when no such user exists. */
  setStatus(id: string, status: UserStatus): Promise<boolean>;
  /** MUST delete the user's upstream keys and tokens with it (cascade). */
  delete(id: string): Promise<boolean>;
  /** MUST replace the user's policy whole; returns false when no such user exists. */
  setPolicy(id: string, policy: Policy): Promise<boolean>;
}

export interface UpstreamKeyRepo {
  /** MUST replace the user's key for that upstream if one exists (one key per user and upstream). */
  put(key: UpstreamKey): Promise<void>;
  get(userId: string, upstream: string): Promise<UpstreamKey | undefined>;
  listForUser(userId: string): Promise<UpstreamKey[]>;
  /** Every key, for master-key rotation. */
  all(): Promise<UpstreamKey[]>;
  /** MUST return each master-key version that wraps at least one key, once (read at every start: no rows are loaded). */
  versionsInUse(): Promise<number[]>;
  /** MUST change only the wrapping (version and wrapped key), never the ciphertext. */
  rewrap(id: string, sealed: SealedSecret): Promise<void>;
}

export interface TokenRepo {
  insert(token: TokenRecord): Promise<void>;
  /** MUST look up by the exact hash bytes; MUST return revoked and expired tokens too (callers decide). */
  byHash(hash: Buffer): Promise<TokenRecord | undefined>;
  byId(id: string): Promise<TokenRecord | undefined>;
  /** MUST order by creation time; `userId` undefined lists every token of the kind(s). */
  list(filter: { userId?: string; kinds?: TokenKind[] }): Promise<TokenRecord[]>;
  /**
   * MUST set revokedAt once; revoking again MUST keep the first time and return false. MUST
   * also revoke the ephemeral tokens whose `options.parent` is `id` (a minting token's).
   */
  revoke(id: string, at: number): Promise<boolean>;
  /** MUST NOT move lastUsedAt backwards. */
  touch(id: string, at: number): Promise<void>;
  countByUser(): Promise<Map<string, number>>;
  /**
   * Tokens bound to web origins (`options.origins`) that are active at `at` — not revoked,
   * not expired, of no disabled user — of every kind. MUST NOT return others.
   */
  originBound(at: number): Promise<TokenRecord[]>;
  /** MUST delete exactly the tokens of `kind` that expired before `before`; returns how many. */
  deleteExpired(kind: TokenKind, before: number): Promise<number>;
}

/** Internal secrets of the proxy itself (e.g. the token-hash key), sealed like user keys. */
export interface SecretRepo {
  get(id: string): Promise<SealedSecret | undefined>;
  /** MUST NOT overwrite: returns false when the id exists (first writer wins across processes). */
  insert(id: string, sealed: SealedSecret): Promise<boolean>;
  /** MUST insert, or replace the secret under that id whole (a renewed certificate's key). */
  put(id: string, sealed: SealedSecret): Promise<void>;
  all(): Promise<Array<{ id: string; sealed: SealedSecret }>>;
  /** MUST return each master-key version that wraps at least one secret, once. */
  versionsInUse(): Promise<number[]>;
  rewrap(id: string, sealed: SealedSecret): Promise<void>;
}

/** Certificates soakp obtains itself (ACME); their private keys are secrets (`certificateKeyId`). */
export interface CertificateRepo {
  get(name: string): Promise<CertificateRecord | undefined>;
  /** MUST order by name. */
  list(): Promise<CertificateRecord[]>;
  /** MUST create or replace the record's certificate, and clear its last error, failure count and renewal request. */
  saveIssued(name: string, domains: readonly string[], issued: IssuedCertificate, at: number): Promise<void>;
  /**
   * MUST create the record when missing, keep its certificate, set its last error, count it
   * (atomically: one more than the failures since the last saveIssued), and clear its renewal request.
   */
  saveFailure(name: string, domains: readonly string[], failure: { message: string; at: number; retryAt: number }): Promise<void>;
  /** MUST mark the named record (every record when undefined) for renewal now; returns the names marked. */
  requestRenewal(name: string | undefined, at: number): Promise<string[]>;
  /** A pending ACME HTTP-01 answer, for whichever instance the CA reaches; MUST replace one of the same token. */
  putChallenge(token: string, keyAuthorization: string, expiresAt: number): Promise<void>;
  /** MUST return undefined for an unknown, deleted or expired (at `now`) token. */
  challenge(token: string, now: number): Promise<string | undefined>;
  deleteChallenge(token: string): Promise<void>;
}

/** Named leases: at most one holder at a time, until it lets go or its lease runs out. */
export interface LeaseRepo {
  /**
   * MUST atomically give `name` to `holder` until `until` when it is free, expired (at `now`) or
   * already `holder`'s; else change nothing and return false — across processes too.
   */
  acquire(name: string, holder: string, now: number, until: number): Promise<boolean>;
  /** MUST free the lease only if `holder` holds it. */
  release(name: string, holder: string): Promise<void>;
}

/** Check values of master-key versions: how a wrong master key is caught at start. */
export interface MasterKeyRepo {
  list(): Promise<Array<{ version: number; checkValue: string }>>;
  /** MUST keep an existing version's check value (returns false) rather than overwrite it. */
  insert(version: number, checkValue: string, at: number): Promise<boolean>;
}

/** The usage ledger. */
export interface UsageRepo {
  /** MUST insert all rows or none. */
  insertMany(rows: readonly UsageRecord[]): Promise<void>;
  /** Totals since `since` (inclusive), optionally for one user, grouped by UTC day, user email or model; ordered by key. */
  summarize(filter: { since: number; userId?: string | undefined; by: UsageGrouping }): Promise<UsageSummary[]>;
  count(): Promise<number>;
}

/** Budget counters. All amounts are non-negative integers (tokens, micro-dollars). */
export interface BudgetRepo {
  /**
   * MUST atomically add `amount` to the reserved counters of (scope, period) if and only if,
   * for each limit given, spent + reserved + amount stays within it; else change nothing and
   * return false. Concurrent reservations MUST NOT together pass a limit (no lost updates).
   */
  reserve(scope: string, period: string, amount: Amount, limit: { tokens?: number | undefined; micros?: number | undefined }): Promise<boolean>;
  /** MUST atomically release `reserved` and add `actual` to spent (spent may pass the limit: usage happened). */
  settle(scope: string, period: string, reserved: Amount, actual: Amount): Promise<void>;
  /** Zeroes when nothing was counted yet. */
  get(scope: string, period: string): Promise<BudgetState>;
  // An instance (a process) that reserves records what it holds, so that a live instance can
  // release the holds of one that died without settling; `at` is the instance's heartbeat.
  /** MUST register `instance` with heartbeat `at` and no holds when it is not registered; MUST change nothing when it is. */
  join(instance: string, at: number): Promise<void>;
  /**
   * MUST, atomically (all or nothing) and only while `instance` is registered: set its heartbeat
   * to `at`, settle each of `settlements` as `settle` does, and set its hold on the budget of each
   * of `holds` to that amount (zero removes it). MUST change nothing and return false when
   * `instance` is not registered (it never joined, or was reclaimed).
   */
  settleHeld(instance: string, at: number, settlements: readonly BudgetSettlement[], holds: readonly BudgetHold[]): Promise<boolean>;
  /** The registered instances with their last heartbeat, by name. */
  instances(): Promise<Array<{ instance: string; heartbeatAt: number }>>;
  /**
   * MUST atomically, when `instance` is registered and (if `heartbeatAt` is given) its heartbeat
   * is still `heartbeatAt`: release each of its holds from its budget's reserved counters (never
   * below zero), delete its holds and its registration, and return the holds. Else MUST change
   * nothing and return undefined; of reclaims racing for one instance, one alone releases.
   */
  reclaim(instance: string, heartbeatAt?: number): Promise<BudgetHold[] | undefined>;
}

/** An amount on one budget, as an instance holds it. */
export interface BudgetHold {
  readonly scope: string;
  readonly period: string;
  readonly amount: Amount;
}

/** One budget's settlement in a batch: `reserved` released, `actual` added to spent. */
export interface BudgetSettlement {
  readonly scope: string;
  readonly period: string;
  readonly reserved: Amount;
  readonly actual: Amount;
}

/** The authenticator of the audit log's head: a keyed MAC over its sequence number and hash. */
export type HeadMac = (seq: number, hash: string) => string;

/**
 * The MAC of the head an append makes, given the head it extends: signed only when that head
 * is genuine, so a head rewritten behind soakp's back stays unauthenticated ('') for good.
 */
export type NextHeadMac = (previous: AuditHead, seq: number, hash: string) => string;

/** Where the audit chain ends: how many entries were ever appended, the last hash, and its MAC ('' before one was written). */
export interface AuditHead {
  seq: number;
  hash: string;
  mac: string;
}

/** The append-only, hash-chained audit log. */
export interface AuditRepo {
  /**
   * MUST append after the current last entry with `prevHash` = that entry's hash ('' for the
   * first) and `hash` = hashOf(prevHash, entry), serialised against concurrent appends from
   * any process so the chain never forks. In the same transaction the head MUST become
   * (seq + 1, hash, macOf(previous head, seq + 1, hash)).
   */
  append(entry: AuditInput, hashOf: (prevHash: string, entry: AuditInput) => string, macOf: NextHeadMac): Promise<AuditEntry>;
  /** In id order; `limit` keeps the newest. */
  list(filter?: { limit?: number; since?: number }): Promise<AuditEntry[]>;
  head(): Promise<AuditHead>;
  /** MUST set the head's MAC to macOf(seq, hash) only if it has none yet; returns whether it did. */
  signHead(macOf: HeadMac): Promise<boolean>;
}

export interface Repos {
  readonly users: UserRepo;
  readonly keys: UpstreamKeyRepo;
  readonly tokens: TokenRepo;
  readonly secrets: SecretRepo;
  readonly masterKeys: MasterKeyRepo;
  readonly usage: UsageRepo;
  readonly budgets: BudgetRepo;
  readonly audit: AuditRepo;
  readonly certificates: CertificateRepo;
  readonly leases: LeaseRepo;
}

export interface Store extends Repos {
  /** MUST run fn atomically: all of its writes commit together or none do (also on a crash). */
  transaction<T>(fn: (tx: Repos) => Promise<T>): Promise<T>;
  /** MUST reject when the database does not answer. */
  ping(): Promise<void>;
  /**
   * MUST call the listener within a second of any committed change to users, upstream keys,
   * tokens (other than last-used times), secrets, master keys, certificates or renewal
   * requests, whether made by this process
   * or another one sharing the database. It MAY also call it for other changes. Returns an
   * unsubscribe function.
   */
  onChange(listener: () => void): () => void;
  /** MUST be safe to call twice and after a failed open. */
  close(): Promise<void>;
  /** The migrations this open applied (none when the schema was already current). */
  readonly migrated?: readonly string[];
}

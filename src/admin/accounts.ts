import type { Upstream } from '../config/index.js';
import type { Auditor } from '../audit/index.js';
import { emailKey, isEmptyPolicy, normaliseEmail, type Policy, validateUpstreamKey } from '../domain/index.js';
import type { TokenRecord, UpstreamKey, User, UserStatus } from '../domain/index.js';
import { maskKey, newId, SoakpError } from '../shared/index.js';
import type { Repos, Store } from '../store/index.js';
import type { Vault } from '../vault/index.js';
import { type IssuedToken, issueToken } from './tokens.js';

export interface AccountDeps {
  store: Store;
  vault: Vault;
  upstreams: ReadonlyMap<string, Upstream>;
  defaultUpstream: string;
  /** Where changes are recorded; without one nothing is (tests, embedders that opt out). */
  auditor?: Auditor | undefined;
  /** Who makes the changes, e.g. `cli:alice` or `admin-token:tok_…`; and from where (an IP, 'cli'). */
  actor?: string | undefined;
  source?: string | null | undefined;
}

export interface TokenOptions {
  name?: string | undefined;
  expiresInMs?: number | undefined;
  upstream?: string | undefined;
  /** Scopes, limits and budget of this token. */
  policy?: Policy | undefined;
  /** Web origins the token may be used from (canonical: see parseOrigin); none: any, and none needed. */
  origins?: readonly string[] | undefined;
  /** With origins: a request without an Origin header passes too. */
  allowNoOrigin?: boolean | undefined;
  /** A minting token (kind `mint`) instead of a personal one. */
  mint?: boolean | undefined;
}

export interface UserSummary extends User {
  keys: Array<{ upstream: string; hint: string }>;
  tokens: number;
}

/** Users, their upstream keys and their tokens: the control plane's operations. */
export class Accounts {
  constructor(readonly deps: AccountDeps) {}

  /** The same operations, recorded under another actor (e.g. one admin token per request). */
  as(actor: string, source: string | null): Accounts {
    return new Accounts({ ...this.deps, actor, source });
  }

  /**
   * Records a change once it has committed, so the log never claims a change that rolled back.
   * A failure to record is the command's failure: an unaudited change must not pass silently.
   */
  async audit(action: string, target: string | null, details: Record<string, unknown> = {}): Promise<void> {
    const { auditor, actor, source } = this.deps;
    await auditor?.record({ actor: actor ?? 'unknown', action, target, details, source: source ?? null });
  }

  /** Creates a user, stores their key and (unless told not to) issues a token: all or nothing. */
  async addUser(input: { email: string; key?: string | undefined; upstream?: string | undefined; token?: boolean; tokenName?: string | undefined }): Promise<{ user: User; issued?: IssuedToken }> {
    const email = normaliseEmail(input.email);
    const key = input.key === undefined ? undefined : validateUpstreamKey(input.key);
    const upstream = this.upstreamName(input.upstream);
    const done = await this.deps.store.transaction(async (tx) => {
      const user = await this.createIn(tx, email, key, upstream);
      if (input.token === false) return { user };
      const issued = await issueToken(tx, this.deps.vault, { kind: 'personal', userId: user.id, name: input.tokenName ?? 'default', options: { upstream } });
      return { user, issued };
    });
    await this.audit('user.add', email, { userId: done.user.id, ...(key === undefined ? {} : { upstream, keyHint: maskKey(key) }) });
    if (done.issued) await this.auditIssued(email, done.issued);
    return done;
  }

  async listUsers(): Promise<UserSummary[]> {
    const { store } = this.deps;
    const counts = await store.tokens.countByUser();
    const users = await store.users.list();
    return Promise.all(
      users.map(async (u) => ({
        ...u,
        keys: (await store.keys.listForUser(u.id)).map((k) => ({ upstream: k.upstream, hint: k.hint })),
        tokens: counts.get(u.id) ?? 0,
      })),
    );
  }

  async deleteUser(email: string): Promise<void> {
    const user = await this.user(email);
    await this.deps.store.transaction((tx) => tx.users.delete(user.id));
    await this.audit('user.delete', user.email, { userId: user.id });
  }

  async setStatus(email: string, status: UserStatus): Promise<User> {
    const user = await this.user(email);
    await this.deps.store.users.setStatus(user.id, status);
    await this.audit(status === 'disabled' ? 'user.disable' : 'user.enable', user.email, { userId: user.id });
    return { ...user, status };
  }

  /** Replaces a user's key; their tokens keep working and use the new key at once. */
  async setKey(email: string, key: string, upstream?: string): Promise<{ upstream: string; hint: string }> {
    const valid = validateUpstreamKey(key);
    const name = this.upstreamName(upstream);
    const user = await this.user(email);
    const stored = await this.putKey(this.deps.store, user.id, name, valid);
    await this.audit('key.set', user.email, { userId: user.id, upstream: name, keyHint: stored.hint });
    return { upstream: name, hint: stored.hint };
  }

  async issueToken(email: string, options: TokenOptions = {}): Promise<IssuedToken> {
    const user = await this.user(email);
    const upstream = options.upstream ? this.upstreamName(options.upstream) : await this.soleUpstream(user.id);
    const expiresAt = options.expiresInMs ? Date.now() + options.expiresInMs : null;
    const tokenOptions: Record<string, unknown> = options.policy && !isEmptyPolicy(options.policy) ? { upstream, policy: options.policy } : { upstream };
    if (options.origins && options.origins.length > 0) tokenOptions.origins = [...options.origins];
    if (options.allowNoOrigin) tokenOptions.allowNoOrigin = true;
    const kind = options.mint ? 'mint' : 'personal';
    const issued = await issueToken(this.deps.store, this.deps.vault, { kind, userId: user.id, name: options.name ?? 'default', expiresAt, options: tokenOptions });
    await this.auditIssued(user.email, issued);
    return issued;
  }

  async listTokens(email?: string, all = false): Promise<Array<TokenRecord & { email: string | null }>> {
    const { store } = this.deps;
    const userId = email === undefined ? undefined : (await this.user(email)).id;
    const tokens = await store.tokens.list({ userId, kinds: all ? ['personal', 'mint', 'ephemeral', 'admin', 'openwebui'] : ['personal', 'mint'] });
    const emails = new Map((await store.users.list()).map((u) => [u.id, u.email]));
    return tokens.map((t) => ({ ...t, email: t.userId ? (emails.get(t.userId) ?? null) : null }));
  }

  async revokeToken(id: string): Promise<void> {
    const token = await this.deps.store.tokens.byId(id);
    if (!token) throw new SoakpError('token_not_found', `No token with id ${id.slice(0, 64)}.`);
    const first = await this.deps.store.tokens.revoke(id, Date.now());
    await this.audit('token.revoke', token.id, { kind: token.kind, userId: token.userId, name: token.name, alreadyRevoked: !first });
  }

  async issueAdminToken(name = 'admin'): Promise<IssuedToken> {
    const issued = await issueToken(this.deps.store, this.deps.vault, { kind: 'admin', userId: null, name });
    await this.audit('admin-token.issue', issued.record.id, { name });
    return issued;
  }

  async user(email: string): Promise<User> {
    // Looked up as stored, without the checks for new addresses: an older account stays manageable.
    const key = emailKey(email);
    const user = await this.deps.store.users.byEmail(key);
    if (!user) throw new SoakpError('user_not_found', `No user with email ${key}.`);
    return user;
  }

  upstreamName(name: string | undefined): string {
    const chosen = name ?? this.deps.defaultUpstream;
    if (!this.deps.upstreams.has(chosen)) {
      throw new SoakpError('upstream_not_found', `Unknown upstream "${chosen.slice(0, 40)}"; known: ${[...this.deps.upstreams.keys()].join(', ')}.`);
    }
    return chosen;
  }

  /** Creates a user (and their key) inside the caller's transaction. Inputs are already valid. */
  async createIn(tx: Repos, email: string, key: string | undefined, upstream: string): Promise<User> {
    const user: User = { id: newId('usr'), email, status: 'active', createdAt: Date.now() };
    await tx.users.create(user);
    if (key !== undefined) await this.putKey(tx, user.id, upstream, key);
    return user;
  }

  async putKey(repos: Repos, userId: string, upstream: string, key: string): Promise<UpstreamKey> {
    const id = newId('key');
    const record: UpstreamKey = { id, userId, upstream, hint: maskKey(key), sealed: this.deps.vault.sealUpstreamKey({ id, userId, upstream }, key), updatedAt: Date.now() };
    await repos.keys.put(record);
    return record;
  }

  // Ids, names and the display prefix (a few characters, made to be shown): never the token.
  auditIssued(email: string, { record: r }: IssuedToken, action = 'token.issue'): Promise<void> {
    const { origins, allowNoOrigin, parent } = r.options;
    const browser = { ...(origins ? { origins } : {}), ...(allowNoOrigin ? { allowNoOrigin } : {}), ...(parent ? { parent } : {}) };
    return this.audit(action, r.id, { user: email, userId: r.userId, kind: r.kind, name: r.name, prefix: r.displayPrefix, expiresAt: r.expiresAt, upstream: r.options.upstream ?? null, policy: r.options.policy ?? null, ...browser });
  }

  // A new token follows the user's only key; with several, the default upstream.
  private async soleUpstream(userId: string): Promise<string> {
    const keys = await this.deps.store.keys.listForUser(userId);
    return keys.length === 1 ? (keys[0] as UpstreamKey).upstream : this.deps.defaultUpstream;
  }
}

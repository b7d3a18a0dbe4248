import type { IncomingHttpHeaders } from 'node:http';
import type { Upstream } from '../config/index.js';
import { isWellFormedToken, sameHash } from '../crypto/index.js';
import { browserOptions, identityEmail, type OpenWebUIOptions, openWebUISecretId, type TokenRecord, tokenState, type User } from '../domain/index.js';
import { credentialOf, isSoakpError, SoakpError } from '../shared/index.js';
import type { Secret } from '../shared/index.js';
import type { Store } from '../store/index.js';
import type { Vault } from '../vault/index.js';
import { BoundedCache } from './cache.js';
import { type JwtLifetime, openWebUIIdentity } from './openwebui.js';

/** Who is calling, through which upstream, with which key. */
export interface Principal {
  readonly user: User;
  /** The credential used: a personal token, or the Open WebUI connection key. */
  readonly token: TokenRecord;
  readonly upstream: Upstream;
  readonly key: Secret<string>;
}

export interface AuthDeps {
  store: Store;
  vault: Vault;
  upstreams: ReadonlyMap<string, Upstream>;
  defaultUpstream: string;
  /** The `openwebui` settings: how long an Open WebUI JWT may live. */
  openwebui: JwtLifetime;
}

/** What the request asks for: Open WebUI's identity-less model listing is allowed, nothing else. */
export interface Target {
  method: string;
  /** The path after /v1, without the query. */
  path: string;
}

/**
 * The single authentication decision point, for every route and every credential carrier:
 * personal tokens, and the Open WebUI connection key with the identity it forwards.
 * Lookups are cached (bounded) and the caches emptied on every committed store change,
 * so revocation, disabling and key replacement still land within the poll interval.
 */
export class Authenticator {
  readonly #deps: AuthDeps;
  readonly #tokens = new BoundedCache<TokenRecord>();
  readonly #principals = new BoundedCache<Principal>();
  readonly #jwtSecrets = new BoundedCache<Secret<Buffer> | null>();
  /** Minting tokens by id (null: gone), for their ephemeral tokens' requests. */
  readonly #parents = new BoundedCache<TokenRecord | null>();
  readonly #unsubscribe: () => void;

  constructor(deps: AuthDeps) {
    this.#deps = deps;
    this.#unsubscribe = deps.store.onChange(() => {
      this.#tokens.clear();
      this.#principals.clear();
      this.#jwtSecrets.clear();
      this.#parents.clear();
    });
  }

  /**
   * The principal, or the refusal thrown (a promise that rejects with it when the answer
   * needs the store). A token and principal seen before are answered synchronously, from
   * the caches: a known caller costs two map lookups, no promise. `rawHeaders` (the request's
   * own, as Node received them) let a repeated credential header be seen: see credentialOf.
   */
  authenticate(headers: IncomingHttpHeaders, target: Target = { method: 'POST', path: '' }, rawHeaders?: readonly string[]): Principal | Promise<Principal> {
    const credential = credentialOf(headers, rawHeaders);
    const known = this.#tokens.get(credential);
    const token = known ? checked(known) : this.#lookup(credential);
    return token instanceof Promise ? token.then((t) => this.#principalFor(t, headers, target)) : this.#principalFor(token, headers, target);
  }

  #principalFor(token: TokenRecord, headers: IncomingHttpHeaders, target: Target): Principal | Promise<Principal> {
    if (token.kind === 'personal' && token.userId !== null) return this.#principal(token, { id: token.userId });
    if (token.kind === 'ephemeral' && token.userId !== null) return this.#ephemeral(token, token.userId);
    if (token.kind === 'mint') throw new SoakpError('mint_only', 'This is a minting token: it creates short-lived tokens for web pages (POST /api/tokens/ephemeral) and cannot call /v1 itself.');
    if (token.kind !== 'openwebui') throw invalid();
    return this.#openWebUI(token, headers, target);
  }

  async #openWebUI(token: TokenRecord, headers: IncomingHttpHeaders, target: Target): Promise<Principal> {
    const options = token.options as unknown as OpenWebUIOptions;
    const identity = await openWebUIIdentity(headers, options, (await this.#jwtSecret(token))?.reveal(), this.#deps.openwebui);
    if (identity.kind === 'email') return this.#principal(token, { email: emailOf(identity.email) });
    // The models user was looked up when the connection was made: stored as it is.
    if (options.modelsUser && target.method === 'GET' && /^\/models(\/[^/]+)?$/.test(target.path)) {
      return this.#principal(token, { email: options.modelsUser });
    }
    throw new SoakpError('invalid_api_key', 'Open WebUI sent no user identity: set ENABLE_FORWARD_USER_INFO_HEADERS=true in Open WebUI.');
  }

  /** An ephemeral token lives only while the minting token it came from does: revoking that one ends them all. */
  #ephemeral(token: TokenRecord, userId: string): Principal | Promise<Principal> {
    const id = browserOptions(token).parent ?? '';
    const known = this.#parents.get(id);
    if (known !== undefined) {
      parentChecked(known);
      return this.#principal(token, { id: userId });
    }
    return this.#deps.store.tokens.byId(id).then((parent) => {
      this.#parents.set(id, parent ?? null);
      parentChecked(parent ?? null);
      return this.#principal(token, { id: userId });
    });
  }

  close(): void {
    this.#unsubscribe();
  }

  // Keyed by the credential itself: a known token costs one map lookup, no HMAC. The map lives
  // only in this process's memory, next to the opened upstream keys it leads to.
  async #lookup(credential: string): Promise<TokenRecord> {
    // The checksum filters typos and junk (10 KB strings, SQL) before any hashing or lookup.
    if (!isWellFormedToken(credential)) throw invalid();
    const hash = this.#deps.vault.hashToken(credential);
    const token = await this.#deps.store.tokens.byHash(hash);
    // The index found it; compare again in constant time, as the hash is secret-derived.
    if (!token || !sameHash(token.hash, hash)) throw invalid();
    this.#tokens.set(credential, token);
    return checked(token);
  }

  async #jwtSecret(token: TokenRecord): Promise<Secret<Buffer> | null> {
    const cached = this.#jwtSecrets.get(token.id);
    if (cached !== undefined) return cached;
    const id = openWebUISecretId(token.id);
    const sealed = await this.#deps.store.secrets.get(id);
    const secret = sealed ? this.#deps.vault.openInternal(id, sealed) : null;
    this.#jwtSecrets.set(token.id, secret);
    return secret;
  }

  /** `who.email` is matched exactly: it is an address as stored, or one emailOf has checked. */
  #principal(token: TokenRecord, who: { id: string } | { email: string }): Principal | Promise<Principal> {
    const cacheKey = 'id' in who ? `${token.id}|${who.id}` : `${token.id}|${who.email}`;
    return this.#principals.get(cacheKey) ?? this.#loadPrincipal(token, who, cacheKey);
  }

  async #loadPrincipal(token: TokenRecord, who: { id: string } | { email: string }, cacheKey: string): Promise<Principal> {
    const { store, vault, upstreams, defaultUpstream } = this.#deps;
    const user = 'id' in who ? await store.users.byId(who.id) : await store.users.byEmail(who.email);
    if (!user) {
      if ('id' in who) throw invalid();
      throw new SoakpError('invalid_api_key', `Open WebUI user ${who.email} has no soakp account; add them with \`soakp user add\`.`);
    }
    if (user.status !== 'active') throw new SoakpError('user_disabled', 'This user is disabled.');
    const name = typeof token.options.upstream === 'string' ? token.options.upstream : defaultUpstream;
    const upstream = upstreams.get(name);
    if (!upstream) throw new SoakpError('no_upstream_key', `This credential is for upstream "${name}", which is no longer configured.`);
    const record = await store.keys.get(user.id, name);
    if (!record) throw new SoakpError('no_upstream_key', `No upstream key is stored for ${user.email} on "${name}".`);
    const principal: Principal = { user, token, upstream, key: vault.openUpstreamKey(record) };
    this.#principals.set(cacheKey, principal);
    return principal;
  }
}

/** A revoked or expired token is refused however it was found (its state is read at each request). */
function checked(token: TokenRecord): TokenRecord {
  const state = tokenState(token, Date.now());
  if (state === 'revoked') throw new SoakpError('token_revoked', 'This soakp token has been revoked.');
  if (state === 'expired') throw new SoakpError('token_expired', 'This soakp token has expired.');
  return token;
}

function parentChecked(parent: TokenRecord | null): void {
  if (parent === null || parent.kind !== 'mint' || tokenState(parent, Date.now()) !== 'active') {
    throw new SoakpError('token_revoked', 'This short-lived token has ended with the minting token it came from (revoked or expired).');
  }
}

/**
 * A forwarded identity, lower-cased in A–Z only and matched exactly: one that NFKC would
 * change (fullwidth letters, the Kelvin sign) is refused, never mapped onto another account.
 */
function emailOf(text: string): string {
  try {
    return identityEmail(text);
  } catch (err) {
    if (isSoakpError(err)) throw new SoakpError('invalid_api_key', `The forwarded Open WebUI identity is refused: ${err.message}`);
    throw err;
  }
}

function invalid(): SoakpError {
  return new SoakpError('invalid_api_key', 'Incorrect API key provided. Use a valid soakp token (sk-soakp-…).');
}

import type { IncomingHttpHeaders } from 'node:http';
import type { Upstream } from '../config/upstreams.js';
import { isWellFormedToken } from '../crypto/tokens.js';
import { type TokenRecord, type User, tokenState } from '../domain/types.js';
import { SoakpError } from '../shared/errors.js';
import type { Secret } from '../shared/secret.js';
import type { Store } from '../store/ports.js';
import type { Vault } from '../vault/vault.js';
import { credentialOf } from './credentials.js';

/** Who is calling, through which upstream, with which key. */
export interface Principal {
  readonly user: User;
  readonly token: TokenRecord;
  readonly upstream: Upstream;
  readonly key: Secret<string>;
}

export interface AuthDeps {
  store: Store;
  vault: Vault;
  upstreams: ReadonlyMap<string, Upstream>;
  defaultUpstream: string;
}

const CACHE_LIMIT = 10_000;

/**
 * The single authentication decision point of the data plane. Known tokens are served
 * from a bounded cache (token hash → principal with its opened key) that is emptied on
 * every committed change to the store, so revocation still lands within the poll interval.
 */
export class Authenticator {
  readonly #deps: AuthDeps;
  readonly #cache = new Map<string, Principal>();
  readonly #unsubscribe: () => void;

  constructor(deps: AuthDeps) {
    this.#deps = deps;
    this.#unsubscribe = deps.store.onChange(() => this.#cache.clear());
  }

  async authenticate(headers: IncomingHttpHeaders): Promise<Principal> {
    const token = credentialOf(headers);
    // The checksum filters typos and junk (10 KB strings, SQL) before any hashing or lookup.
    if (!isWellFormedToken(token)) throw invalid();
    const hash = this.#deps.vault.hashToken(token);
    const cacheKey = hash.toString('base64');
    const principal = this.#cache.get(cacheKey) ?? (await this.#load(hash, cacheKey));
    const state = tokenState(principal.token, Date.now());
    if (state === 'expired') throw new SoakpError('token_expired', 'This soakp token has expired.');
    return principal;
  }

  close(): void {
    this.#unsubscribe();
    this.#cache.clear();
  }

  async #load(hash: Buffer, cacheKey: string): Promise<Principal> {
    const { store, vault, upstreams, defaultUpstream } = this.#deps;
    const token = await store.tokens.byHash(hash);
    if (!token || token.kind !== 'personal' || token.userId === null) throw invalid();
    if (token.revokedAt !== null) throw new SoakpError('token_revoked', 'This soakp token has been revoked.');
    const user = await store.users.byId(token.userId);
    if (!user) throw invalid();
    if (user.status !== 'active') throw new SoakpError('user_disabled', 'This user is disabled.');
    const name = typeof token.options.upstream === 'string' ? token.options.upstream : defaultUpstream;
    const upstream = upstreams.get(name);
    if (!upstream) throw new SoakpError('no_upstream_key', `This token is for upstream "${name}", which is no longer configured.`);
    const record = await store.keys.get(user.id, name);
    if (!record) throw new SoakpError('no_upstream_key', `No upstream key is stored for this user on "${name}".`);
    const principal: Principal = { user, token, upstream, key: vault.openUpstreamKey(record) };
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(cacheKey, principal);
    return principal;
  }
}

function invalid(): SoakpError {
  return new SoakpError('invalid_api_key', 'Incorrect API key provided. Use a valid soakp token (sk-soakp-…).');
}

import { type Policy, type TokenRecord, browserOptions, modelMatcher, tokenState } from '../domain/index.js';
import { type OriginPattern, SoakpError, parseDuration, parseOrigin, originCovers, parseOrigins } from '../shared/index.js';
import type { Accounts } from './accounts.js';
import { type IssuedToken, issueToken } from './tokens.js';

/** The `ephemeralTokens` settings: lifetimes in ms. */
export interface EphemeralSettings {
  readonly defaultTtl: number;
  readonly maxTtl: number;
}

/** What an app's server may ask for; each part only narrows what the minting token has. */
export interface EphemeralRequest {
  /** `10m`, or seconds. */
  ttl?: string | number | undefined;
  origins?: string[] | undefined;
  models?: string[] | undefined;
}

/**
 * Mints a short-lived token for a web page from a minting token: the same user and upstream,
 * the minting token's origins, scopes, limits and budget, or narrower origins and models — never
 * wider. Its limits and budget are the minting token's own (shared by every token it minted), and
 * it ends when the minting token is revoked or expires. Stored as an ordinary token row.
 */
export async function mintEphemeral(accounts: Accounts, parent: TokenRecord, input: EphemeralRequest, settings: EphemeralSettings): Promise<IssuedToken> {
  const { store, vault } = accounts.deps;
  if (parent.kind !== 'mint' || parent.userId === null) throw new SoakpError('not_minting_token', 'Only a minting token (soakp token issue … --mint) can mint short-lived tokens.');
  const user = await store.users.byId(parent.userId);
  if (!user) throw new SoakpError('invalid_api_key', 'Incorrect API key provided. Use a valid soakp token (sk-soakp-…).');
  if (user.status !== 'active') throw new SoakpError('user_disabled', 'This user is disabled.');
  const now = Date.now();
  const ttl = ttlOf(input.ttl, settings);
  // Never outliving the minting token.
  const expiresAt = Math.min(now + ttl, parent.expiresAt ?? Infinity);
  const own = browserOptions(parent);
  const origins = input.origins === undefined ? own.origins : narrowOrigins(own.origins, input.origins);
  const policy = narrowModels((parent.options.policy as Policy | undefined) ?? {}, user.policy ?? {}, input.models);
  const options: Record<string, unknown> = { upstream: parent.options.upstream, parent: parent.id };
  if (Object.keys(policy).length > 0) options.policy = policy;
  if (origins && origins.length > 0) options.origins = [...origins];
  if (own.allowNoOrigin) options.allowNoOrigin = true;
  // Checked again just before the write: a minting token revoked meanwhile mints nothing (and its tokens die with it anyway).
  const current = await store.tokens.byId(parent.id);
  if (!current || tokenState(current, now) !== 'active') throw new SoakpError('token_revoked', 'This minting token has been revoked.');
  const issued = await issueToken(store, vault, { kind: 'ephemeral', userId: user.id, name: parent.name, expiresAt, options });
  await accounts.auditIssued(user.email, issued, 'token.mint');
  return issued;
}

function ttlOf(ttl: string | number | undefined, settings: EphemeralSettings): number {
  if (ttl === undefined) return Math.min(settings.defaultTtl, settings.maxTtl);
  const ms = typeof ttl === 'number' ? (Number.isSafeInteger(ttl) && ttl > 0 ? ttl * 1000 : NaN) : parseDuration(ttl);
  if (!(ms >= 1000 && ms <= settings.maxTtl)) {
    throw new SoakpError('invalid_request', `ttl must be from 1 second to ${Math.floor(settings.maxTtl / 60_000)} minutes (a duration such as "10m", or whole seconds).`);
  }
  return ms;
}

function narrowOrigins(own: readonly string[] | undefined, asked: readonly string[]): string[] {
  const wide = own ? parseOrigins(own) : undefined;
  const out: string[] = [];
  for (const text of asked) {
    const p = parseOrigin(text);
    if (typeof p === 'string') throw new SoakpError('invalid_request', `origins: ${p}`);
    if (wide && !originCovers(wide, p as OriginPattern)) throw new SoakpError('invalid_request', `origins: ${p.text} is not among the minting token's origins; a short-lived token can only be narrower.`);
    if (!out.includes(p.text)) out.push(p.text);
  }
  if (out.length === 0) throw new SoakpError('invalid_request', 'origins: give at least one origin, or leave the field out to take the minting token\'s.');
  return out;
}

/** The minting token's policy with the model scope narrowed: each asked pattern must lie inside the scope it has (its own, or its user's). */
function narrowModels(policy: Policy, userPolicy: Policy, asked: readonly string[] | undefined): Policy {
  if (asked === undefined) return policy;
  const scope = policy.scopes?.models ?? userPolicy.scopes?.models;
  // A glob read as text: if the wider scope matches it literally, it matches every name the glob does.
  const within = scope ? modelMatcher(scope) : () => true;
  for (const m of asked) {
    if (!/^[A-Za-z0-9._:/*-]{1,100}$/.test(m)) throw new SoakpError('invalid_request', 'models: names are letters, digits, . _ : / - and *');
    if (!within(m)) throw new SoakpError('invalid_request', `models: ${m} is outside the minting token's models; a short-lived token can only be narrower.`);
  }
  if (asked.length === 0) throw new SoakpError('invalid_request', 'models: give at least one model, or leave the field out to take the minting token\'s.');
  return { ...policy, scopes: { ...policy.scopes, models: [...asked] } };
}

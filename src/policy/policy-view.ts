import { type EndpointFamily, type Policy, type Scopes, accountOf, browserOptions, effectiveScopes, modelMatcher } from '../domain/index.js';
import { originMatcher, parseOrigins } from '../shared/index.js';
import type { TokenRecord, User } from '../domain/index.js';
import type { BudgetSubject } from './budget.js';
import type { RateLimitSubject } from './ports.js';

/** Families whose answers are metered in tokens; the others are admitted without a reservation. */
export const METERED: ReadonlySet<EndpointFamily> = new Set<EndpointFamily>(['chat', 'completions', 'responses', 'embeddings', 'moderations']);

/** What a token's and its user's policies say together, worked out once for the pair. */
export interface PolicyView {
  readonly scopes: Scopes;
  /** The model scope, compiled; undefined when any model may be used. */
  readonly models: ((model: string) => boolean) | undefined;
  readonly rate: readonly RateLimitSubject[];
  readonly budgets: readonly BudgetSubject[];
  /** A budget or a tokens-per-minute limit applies: a metered request's worst case is priced. */
  readonly counted: boolean;
  /** Requests-per-minute limits per client address: the subject's key, to which the address is added. */
  readonly perAddress: ReadonlyArray<{ readonly key: string; readonly rpm: number }>;
  /** The web origins the token may be used from, compiled; undefined when it is bound to none. */
  readonly origins: ((origin: string) => boolean) | undefined;
  /** An origin-bound token issued with --allow-no-origin: a request without an Origin passes. */
  readonly allowNoOrigin: boolean;
}

export function policyOf(token: TokenRecord): Policy {
  return (token.options.policy as Policy | undefined) ?? {};
}

// Keyed by the records themselves: the authenticator caches them until the store changes, and
// then hands out new ones, so a changed policy is never read from here. (An Open WebUI
// connection key is one token record for many users, hence a map per token.)
const views = new WeakMap<TokenRecord, WeakMap<User, PolicyView>>();

/** The view for a token used by a user, built on its first request. */
export function policyView(token: TokenRecord, user: User): PolicyView {
  let byUser = views.get(token);
  if (!byUser) views.set(token, (byUser = new WeakMap()));
  let view = byUser.get(user);
  if (!view) byUser.set(user, (view = build(token, user)));
  return view;
}

function build(tokenRecord: TokenRecord, user: User): PolicyView {
  const token = policyOf(tokenRecord);
  const own = user.policy ?? {};
  const scopes = effectiveScopes(token, own);
  // An ephemeral token counts against its minting token: the page's many tokens share one limit.
  const tokenKey = `token:${accountOf(tokenRecord)}`;
  const rate: RateLimitSubject[] = [];
  if (token.limits) rate.push({ key: tokenKey, limits: token.limits });
  if (own.limits) rate.push({ key: `user:${user.id}`, limits: own.limits });
  const perAddress = rate.filter((r) => (r.limits.rpmPerIp ?? 0) > 0).map((r) => ({ key: r.key, rpm: r.limits.rpmPerIp as number }));
  const budgets: BudgetSubject[] = [];
  if (token.budget) budgets.push({ scope: tokenKey, budget: token.budget });
  if (own.budget) budgets.push({ scope: `user:${user.id}`, budget: own.budget });
  const browser = browserOptions(tokenRecord);
  return {
    perAddress,
    origins: browser.origins && browser.origins.length > 0 ? originMatcher(parseOrigins(browser.origins)) : undefined,
    allowNoOrigin: browser.allowNoOrigin === true,
    scopes,
    models: scopes.models ? modelMatcher(scopes.models) : undefined,
    rate,
    budgets,
    counted: Boolean(token.budget || own.budget || token.limits?.tpm || own.limits?.tpm),
  };
}

import { type EndpointFamily, type Policy, type Scopes, effectiveScopes, modelMatcher } from '../domain/index.js';
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
  const rate: RateLimitSubject[] = [];
  if (token.limits) rate.push({ key: `token:${tokenRecord.id}`, limits: token.limits });
  if (own.limits) rate.push({ key: `user:${user.id}`, limits: own.limits });
  const budgets: BudgetSubject[] = [];
  if (token.budget) budgets.push({ scope: `token:${tokenRecord.id}`, budget: token.budget });
  if (own.budget) budgets.push({ scope: `user:${user.id}`, budget: own.budget });
  return {
    scopes,
    models: scopes.models ? modelMatcher(scopes.models) : undefined,
    rate,
    budgets,
    counted: Boolean(token.budget || own.budget || token.limits?.tpm || own.limits?.tpm),
  };
}

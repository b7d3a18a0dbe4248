/**
 * Scopes, limits and budgets: types and the pure rules over them. A token's policy applies
 * to its own traffic; a user's policy applies to all of that user's traffic and also gives
 * the scopes a token has when it sets none of its own.
 */
export const ENDPOINT_FAMILIES = [
  'chat', 'completions', 'embeddings', 'images', 'audio', 'files', 'uploads', 'batches', 'fine_tuning',
  'moderations', 'models', 'responses', 'assistants', 'vector_stores', 'realtime', 'other',
] as const;
export type EndpointFamily = (typeof ENDPOINT_FAMILIES)[number];

export const BUDGET_PERIODS = ['day', 'month', 'total'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

export interface Scopes {
  /** Named upstreams the credential may use. */
  upstreams?: string[];
  /** Model names; `*` matches any run of characters (e.g. `gpt-4o*`). */
  models?: string[];
  endpoints?: EndpointFamily[];
}

export interface Limits {
  /** Requests per minute. */
  rpm?: number;
  /** Tokens (prompt + completion) per minute. */
  tpm?: number;
  /** Requests in flight at once. */
  concurrency?: number;
  /** Requests per minute from one client address (a token in a web page is shared by many people). */
  rpmPerIp?: number;
}

export interface Budget {
  tokens?: number;
  usd?: number;
  period: BudgetPeriod;
}

export interface Policy {
  scopes?: Scopes;
  limits?: Limits;
  budget?: Budget;
}

const FAMILY_BY_PREFIX: Array<[RegExp, EndpointFamily]> = [
  [/^\/chat\//, 'chat'],
  [/^\/completions(\/|$)/, 'completions'],
  [/^\/embeddings(\/|$)/, 'embeddings'],
  [/^\/images\//, 'images'],
  [/^\/audio\//, 'audio'],
  [/^\/files(\/|$)/, 'files'],
  [/^\/uploads(\/|$)/, 'uploads'],
  [/^\/batches(\/|$)/, 'batches'],
  [/^\/fine_tuning\//, 'fine_tuning'],
  [/^\/moderations(\/|$)/, 'moderations'],
  [/^\/models(\/|$)/, 'models'],
  [/^\/responses(\/|$)/, 'responses'],
  [/^\/(assistants|threads)(\/|$)/, 'assistants'],
  [/^\/vector_stores(\/|$)/, 'vector_stores'],
  [/^\/realtime(\/|$)/, 'realtime'],
];

/** The endpoint family of a path after `/v1` (no query). */
export function endpointFamily(path: string): EndpointFamily {
  for (const [re, family] of FAMILY_BY_PREFIX) if (re.test(path)) return family;
  return 'other';
}

/** Exact names and simple globs (`*` only); anything else in a pattern is literal. */
export function modelAllowed(patterns: readonly string[], model: string): boolean {
  return modelMatcher(patterns)(model);
}

const matchers = new WeakMap<readonly string[], (model: string) => boolean>();

/**
 * `modelAllowed` for one list, compiled once: a token's scope is asked on each of its
 * requests, and the list (part of the cached token record) stays the same object until the
 * token changes.
 */
export function modelMatcher(patterns: readonly string[]): (model: string) => boolean {
  let match = matchers.get(patterns);
  if (!match) {
    const exact = new Set(patterns.filter((p) => !p.includes('*')));
    const globs = patterns.filter((p) => p.includes('*'));
    const re = globs.length > 0 ? new RegExp(globs.map((g) => `(?:${globToRegExp(g).source})`).join('|')) : undefined;
    match = (model) => exact.has(model) || (re !== undefined && re.test(model));
    matchers.set(patterns, match);
  }
  return match;
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/** The scopes that bind a token: its own where it has them, else its user's defaults. */
export function effectiveScopes(token: Policy, user: Policy): Scopes {
  return {
    upstreams: token.scopes?.upstreams ?? user.scopes?.upstreams,
    models: token.scopes?.models ?? user.scopes?.models,
    endpoints: token.scopes?.endpoints ?? user.scopes?.endpoints,
  };
}

/** The key of the budget period that `at` falls in (UTC): `2026-11-23`, `2026-11`, `total`. */
export function periodKey(period: BudgetPeriod, at: number): string {
  if (period === 'total') return 'total';
  // Asked on every metered request: the day's key is kept until the UTC day ends.
  if (at < lastDay.from || at >= lastDay.to) {
    const day = Math.floor(at / DAY_MS) * DAY_MS;
    lastDay = { from: day, to: day + DAY_MS, iso: new Date(day).toISOString() };
  }
  return period === 'day' ? lastDay.iso.slice(0, 10) : lastDay.iso.slice(0, 7);
}

const DAY_MS = 86_400_000;
let lastDay = { from: 0, to: 0, iso: '' };

export function isEmptyPolicy(p: Policy): boolean {
  return !p.scopes?.upstreams && !p.scopes?.models && !p.scopes?.endpoints && !p.limits?.rpm && !p.limits?.tpm && !p.limits?.concurrency && !p.limits?.rpmPerIp && !p.budget;
}

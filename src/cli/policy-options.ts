import type { Command } from 'commander';
import { BUDGET_PERIODS, type BudgetPeriod, ENDPOINT_FAMILIES, type EndpointFamily, type Policy } from '../domain/index.js';
import { UsageError } from './context.js';

export interface PolicyFlags {
  models?: string;
  endpoints?: string;
  upstreams?: string;
  rpm?: string;
  tpm?: string;
  concurrency?: string;
  rpmPerIp?: string;
  tokenBudget?: string;
  usdBudget?: string;
  budgetPeriod?: string;
}

/** The scope, limit and budget options shared by `token issue` and `user limits`. */
export function addPolicyOptions(cmd: Command): Command {
  return cmd
    .option('--models <list>', 'allowed models, comma-separated; * matches any run of characters (gpt-4o*)')
    .option('--endpoints <list>', `allowed endpoint families: ${ENDPOINT_FAMILIES.join(', ')}`)
    .option('--upstreams <list>', 'allowed named upstreams')
    .option('--rpm <n>', 'requests per minute')
    .option('--tpm <n>', 'tokens per minute')
    .option('--concurrency <n>', 'requests in flight at once')
    .option('--rpm-per-ip <n>', 'requests per minute from one client address (for tokens many people share, as in a web page)')
    .option('--token-budget <n>', 'tokens per budget period')
    .option('--usd-budget <x>', 'US dollars per budget period')
    .option('--budget-period <p>', 'day, month (default) or total');
}

/** Parses the options into a policy, reporting every problem at once. Only given options appear. */
export function policyFromFlags(f: PolicyFlags): Policy {
  const problems: string[] = [];
  const list = (v: string | undefined) => (v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean));
  const int = (name: string, v: string | undefined, max: number) => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) problems.push(`--${name} must be a whole number from 1 to ${max.toLocaleString('en')}, not "${v}"`);
    return Number(v);
  };
  const models = list(f.models);
  if (models?.some((m) => !/^[A-Za-z0-9._:/*-]{1,100}$/.test(m))) problems.push('--models: names are letters, digits, . _ : / - and *');
  const endpoints = list(f.endpoints) as EndpointFamily[] | undefined;
  const unknown = endpoints?.filter((e) => !(ENDPOINT_FAMILIES as readonly string[]).includes(e)) ?? [];
  if (unknown.length > 0) problems.push(`--endpoints: unknown ${unknown.join(', ')} (known: ${ENDPOINT_FAMILIES.join(', ')})`);
  const upstreams = list(f.upstreams);
  const limits = { rpm: int('rpm', f.rpm, 1_000_000), tpm: int('tpm', f.tpm, 10_000_000_000), concurrency: int('concurrency', f.concurrency, 10_000), rpmPerIp: int('rpm-per-ip', f.rpmPerIp, 1_000_000) };
  const tokens = int('token-budget', f.tokenBudget, 1e13);
  let usd: number | undefined;
  if (f.usdBudget !== undefined) {
    usd = Number(f.usdBudget);
    if (!/^\d+(\.\d{1,6})?$/.test(f.usdBudget) || usd <= 0 || usd > 10_000_000) problems.push(`--usd-budget must be an amount from 0.000001 to 10,000,000, not "${f.usdBudget}"`);
  }
  if (f.budgetPeriod !== undefined && !(BUDGET_PERIODS as readonly string[]).includes(f.budgetPeriod)) problems.push(`--budget-period must be day, month or total, not "${f.budgetPeriod}"`);
  if (f.budgetPeriod !== undefined && tokens === undefined && usd === undefined) problems.push('--budget-period needs --token-budget or --usd-budget');
  if (problems.length > 0) throw new UsageError(`Invalid policy:\n  - ${problems.join('\n  - ')}`);
  const policy: Policy = {};
  if (models || endpoints || upstreams) policy.scopes = strip({ models, endpoints, upstreams });
  if (limits.rpm || limits.tpm || limits.concurrency || limits.rpmPerIp) policy.limits = strip(limits);
  if (tokens !== undefined || usd !== undefined) policy.budget = strip({ tokens, usd, period: (f.budgetPeriod ?? 'month') as BudgetPeriod });
  return policy;
}

/** A new policy from `base` with `change`'s parts laid over it (per part: scopes, limits, budget). */
export function mergePolicy(base: Policy, change: Policy): Policy {
  return strip({
    scopes: change.scopes || base.scopes ? { ...base.scopes, ...change.scopes } : undefined,
    limits: change.limits || base.limits ? { ...base.limits, ...change.limits } : undefined,
    budget: change.budget ?? base.budget,
  });
}

/** One line for tables: `models=gpt-4o* rpm=10 budget=5usd/month`. */
export function describePolicy(p: Policy | undefined): string {
  if (!p) return '';
  const parts: string[] = [];
  if (p.scopes?.models) parts.push(`models=${p.scopes.models.join(',')}`);
  if (p.scopes?.endpoints) parts.push(`endpoints=${p.scopes.endpoints.join(',')}`);
  if (p.scopes?.upstreams) parts.push(`upstreams=${p.scopes.upstreams.join(',')}`);
  for (const k of ['rpm', 'tpm', 'concurrency'] as const) if (p.limits?.[k]) parts.push(`${k}=${p.limits[k]}`);
  if (p.limits?.rpmPerIp) parts.push(`rpm-per-ip=${p.limits.rpmPerIp}`);
  if (p.budget?.tokens) parts.push(`tokens=${p.budget.tokens}/${p.budget.period}`);
  if (p.budget?.usd) parts.push(`usd=${p.budget.usd}/${p.budget.period}`);
  return parts.join(' ');
}

function strip<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

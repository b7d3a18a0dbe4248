import { type EndpointFamily, type Policy, effectiveScopes, modelAllowed } from '../domain/policy.js';
import type { TokenRecord, User } from '../domain/types.js';
import type { UsageRecord } from '../domain/usage.js';
import { SoakpError, isSoakpError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Budgets, BudgetSubject } from './budget.js';
import { countText, loadTokenizer, tokenizerReady } from './tokenizer.js';
import type { RequestFields } from './inspect.js';
import type { Auditor, Ledger, RateLimiter, RateLimitSubject, UsageObservation } from './ports.js';

/** Who is asking for what: the parts of a request that policies judge. */
export interface PolicyContext {
  readonly user: User;
  readonly token: TokenRecord;
  readonly upstream: string;
  readonly family: EndpointFamily;
  readonly source: string | null;
}

/** An admitted request: the headers to add, and `finish` to call exactly once at its end. */
export interface Ticket {
  readonly headers: Readonly<Record<string, string>>;
  readonly completionCeiling: number | undefined;
  /** Prompt tokens counted locally (or estimated) from the request, for when the upstream reports none. */
  readonly promptTokens: number;
  finish(observed: UsageObservation, facts: { status: number; model: string | null; durationMs: number; bytesIn: number; bytesOut: number }): void;
}

// Families whose answers are metered in tokens; the others are admitted without a reservation.
const METERED = new Set<EndpointFamily>(['chat', 'completions', 'responses', 'embeddings', 'moderations']);

/**
 * Scopes, rate limits, budgets and the ledger, in the order the data plane applies them.
 * Everything it refuses is refused before a byte reaches the upstream, and every refusal is
 * counted as a security event.
 */
export class PolicyEngine {
  constructor(
    private readonly deps: {
      limiter: RateLimiter;
      budgets: Budgets;
      ledger: Ledger;
      auditor: Auditor;
      completionCeiling: number;
      logger: Logger;
      /** The operator allows adding `stream_options.include_usage` to streamed requests. */
      requestStreamUsage?: boolean;
    },
  ) {}

  /** A failed authentication, counted (aggregated) in the audit log by where it came from. */
  authFailed(source: string | null): void {
    this.deps.auditor.securityEvent('auth_failed', `ip:${source ?? 'unknown'}`, source);
  }

  /** Scopes that need no body: the upstream and the endpoint family. */
  checkRoute(ctx: PolicyContext): void {
    const scopes = effectiveScopes(policyOf(ctx.token), ctx.user.policy ?? {});
    if (scopes.upstreams && !scopes.upstreams.includes(ctx.upstream)) this.#deny(ctx, 'upstream_not_allowed', `This token may not use the upstream "${ctx.upstream}".`);
    if (scopes.endpoints && !scopes.endpoints.includes(ctx.family)) this.#deny(ctx, 'endpoint_not_allowed', `This token may not call ${ctx.family} endpoints.`);
  }

  /** Whether the body must be read first: for a model scope, or to price the worst case. */
  needsFields(ctx: PolicyContext): boolean {
    const token = policyOf(ctx.token);
    const user = ctx.user.policy ?? {};
    if (effectiveScopes(token, user).models) return true;
    if (this.deps.requestStreamUsage && (ctx.family === 'chat' || ctx.family === 'completions')) return true;
    return METERED.has(ctx.family) && Boolean(token.budget || user.budget || token.limits?.tpm || user.limits?.tpm);
  }

  /** Whether to ask the upstream for a streamed request's usage (changes the request body). */
  wantsStreamUsage(ctx: PolicyContext, fields: RequestFields): boolean {
    return Boolean(this.deps.requestStreamUsage && fields.streamWithoutUsage && (ctx.family === 'chat' || ctx.family === 'completions'));
  }

  async admit(ctx: PolicyContext, fields: RequestFields, bodyBytes: number): Promise<Ticket> {
    const models = effectiveScopes(policyOf(ctx.token), ctx.user.policy ?? {}).models;
    const model = fields.model ?? null;
    if (models && (METERED.has(ctx.family) || ctx.family === 'realtime') && model === null) this.#deny(ctx, 'model_not_allowed', 'This token is limited to certain models, and the request names none that soakp could read.');
    if (models && model !== null && !modelAllowed(models, model)) this.#deny(ctx, 'model_not_allowed', `This token may not use the model "${model.slice(0, 100)}".`);
    const metered = METERED.has(ctx.family);
    const prompt = metered ? (fields.promptText ? await promptTokens(fields.promptText) : Math.ceil(bodyBytes / 3)) : 0;
    const completion = metered ? (fields.maxTokens ?? this.deps.completionCeiling) * (fields.n ?? 1) : 0;
    const admission = await this.#guard(ctx, 'rate_limited', () => this.deps.limiter.admit(rateSubjects(ctx), prompt + completion));
    let reservation;
    try {
      reservation = await this.#guard(ctx, 'budget_exceeded', () => this.deps.budgets.reserve(metered ? budgetSubjects(ctx) : [], { model, promptTokens: prompt, completionTokens: completion }));
    } catch (err) {
      await admission.release(0);
      throw err;
    }
    let finished = false;
    return {
      headers: admission.headers,
      completionCeiling: reservation.completionCeiling,
      promptTokens: prompt,
      finish: (observed, facts) => {
        if (finished) return;
        finished = true;
        const promptTokens = observed.source === 'reported' ? observed.promptTokens : metered ? Math.max(observed.promptTokens, prompt) : 0;
        const completionTokens = observed.completionTokens;
        // Off the request path: the answer has gone; accounting must not hold it up or crash it.
        void (async () => {
          await admission.release(promptTokens + completionTokens);
          const cost = await reservation.settle(promptTokens, completionTokens, observed.model ?? facts.model);
          this.deps.ledger.record(usageRow(ctx, facts, observed, promptTokens, completionTokens, cost));
        })().catch((err: unknown) => this.deps.logger.error({ err, tokenId: ctx.token.id }, 'accounting failed for a request'));
      },
    };
  }

  async #guard<T>(ctx: PolicyContext, event: 'rate_limited' | 'budget_exceeded', fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isSoakpError(err) && err.status === 429) this.deps.auditor.securityEvent(event, `token:${ctx.token.id}`, ctx.source);
      throw err;
    }
  }

  #deny(ctx: PolicyContext, code: 'model_not_allowed' | 'endpoint_not_allowed' | 'upstream_not_allowed', message: string): never {
    this.deps.auditor.securityEvent('scope_denied', `token:${ctx.token.id}`, ctx.source, { code });
    throw new SoakpError(code, message);
  }
}

export function policyOf(token: TokenRecord): Policy {
  return (token.options.policy as Policy | undefined) ?? {};
}

function rateSubjects(ctx: PolicyContext): RateLimitSubject[] {
  const out: RateLimitSubject[] = [];
  const token = policyOf(ctx.token).limits;
  const user = ctx.user.policy?.limits;
  if (token) out.push({ key: `token:${ctx.token.id}`, limits: token });
  if (user) out.push({ key: `user:${ctx.user.id}`, limits: user });
  return out;
}

function budgetSubjects(ctx: PolicyContext): BudgetSubject[] {
  const out: BudgetSubject[] = [];
  const token = policyOf(ctx.token).budget;
  const user = ctx.user.policy?.budget;
  if (token) out.push({ scope: `token:${ctx.token.id}`, budget: token });
  if (user) out.push({ scope: `user:${ctx.user.id}`, budget: user });
  return out;
}

function usageRow(ctx: PolicyContext, facts: Parameters<Ticket['finish']>[1], observed: UsageObservation, promptTokens: number, completionTokens: number, cost: number): UsageRecord {
  return {
    at: Date.now(), userId: ctx.user.id, tokenId: ctx.token.id, upstream: ctx.upstream, model: observed.model ?? facts.model, endpoint: ctx.family,
    status: facts.status, promptTokens, completionTokens, totalTokens: promptTokens + completionTokens, costMicros: cost,
    durationMs: facts.durationMs, bytesIn: facts.bytesIn, bytesOut: facts.bytesOut, source: observed.source,
  };
}

/** Exact prompt tokens; synchronous once the tokenizer is loaded (an await costs every request). */
function promptTokens(text: string): number | Promise<number> {
  return tokenizerReady() ? countText(text) : loadTokenizer().then((count) => count(text));
}

import type { EndpointFamily } from '../domain/policy.js';
import type { TokenRecord, User } from '../domain/types.js';
import { SoakpError, isSoakpError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Budgets, Reservation } from './budget.js';
import type { RequestFields } from './inspect.js';
import { METERED, type PolicyView, policyView } from './policy-view.js';
import { exactPrompt, promptBound, promptFigure } from './prompt.js';
import { RateLimitRefusal } from './rate-limit-headers.js';
import { usageRow } from './usage-row.js';
import type { Admission, Auditor, Ledger, RateLimiter, UsageObservation } from './ports.js';

export { policyOf } from './policy-view.js';

/** Who is asking for what: the parts of a request that policies judge. */
export interface PolicyContext {
  readonly user: User;
  readonly token: TokenRecord;
  readonly upstream: string;
  readonly family: EndpointFamily;
  readonly source: string | null;
}

export interface FinishFacts {
  status: number;
  model: string | null;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
}

/** An admitted request: the headers to add, and `finish` to call exactly once at its end. */
export interface Ticket {
  readonly headers: Readonly<Record<string, string>>;
  readonly completionCeiling: number | undefined;
  /**
   * Settles limits and budgets with what was used and queues the ledger row; later calls do
   * nothing. The observation may still be on its way (text being counted): until it comes,
   * `PolicyEngine.settled()` waits for it, so shutdown flushes its row too.
   */
  finish(observed: UsageObservation | Promise<UsageObservation>, facts: FinishFacts): void;
}

type Maybe<T> = T | Promise<T>;

const UNOBSERVED: UsageObservation = Object.freeze({ promptTokens: 0, completionTokens: 0, totalTokens: 0, source: 'none' });

/** What admission decided the worst case is. */
interface Worst {
  readonly metered: boolean;
  readonly model: string | null;
  /** Prompt tokens reserved: the request's upper bound, or its exact count. */
  prompt: number;
  readonly completion: number;
  readonly text: string | undefined;
  readonly bodyBytes: number;
}

/**
 * Scopes, rate limits, budgets and the ledger, in the order the data plane applies them.
 * Everything it refuses is refused before a byte reaches the upstream, and every refusal is
 * counted as a security event. In memory with a budget pool to draw on, admission is
 * synchronous: no promise is made on the request's way in.
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

  /** Finishes whose observation is still coming. */
  readonly #pending = new Set<Promise<void>>();

  /** Resolves once every finish begun so far has queued its ledger row (call before flushing the ledger). */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  /** A failed authentication, counted (aggregated) in the audit log by where it came from. */
  authFailed(source: string | null): void {
    this.deps.auditor.securityEvent('auth_failed', `ip:${source ?? 'unknown'}`, source);
  }

  /** Scopes that need no body: the upstream and the endpoint family. */
  checkRoute(ctx: PolicyContext): void {
    const { scopes } = policyView(ctx.token, ctx.user);
    if (scopes.upstreams && !scopes.upstreams.includes(ctx.upstream)) this.#deny(ctx, 'upstream_not_allowed', `This token may not use the upstream "${ctx.upstream}".`);
    if (scopes.endpoints && !scopes.endpoints.includes(ctx.family)) this.#deny(ctx, 'endpoint_not_allowed', `This token may not call ${ctx.family} endpoints.`);
  }

  /** Whether the body must be read first: for a model scope, or to price the worst case. */
  needsFields(ctx: PolicyContext): boolean {
    const view = policyView(ctx.token, ctx.user);
    if (view.models) return true;
    if (this.deps.requestStreamUsage && (ctx.family === 'chat' || ctx.family === 'completions')) return true;
    return view.counted && METERED.has(ctx.family);
  }

  /** Whether to ask the upstream for a streamed request's usage (changes the request body). */
  wantsStreamUsage(ctx: PolicyContext, fields: RequestFields): boolean {
    return Boolean(this.deps.requestStreamUsage && fields.streamWithoutUsage && (ctx.family === 'chat' || ctx.family === 'completions'));
  }

  /**
   * Scopes on the body's model, then rate limits, then budgets. The prompt is reserved by an
   * upper bound that costs no tokenizer (its UTF-8 bytes: a token is at least one byte); only
   * when that bound is refused is the prompt counted exactly and asked for again, so a
   * request is refused only if its exact count would be. Throws or rejects with the refusal.
   */
  admit(ctx: PolicyContext, fields: RequestFields, bodyBytes: number): Maybe<Ticket> {
    const view = policyView(ctx.token, ctx.user);
    const model = fields.model ?? null;
    if (view.models && (METERED.has(ctx.family) || ctx.family === 'realtime') && model === null) this.#deny(ctx, 'model_not_allowed', 'This token is limited to certain models, and the request names none that soakp could read.');
    if (view.models && model !== null && !view.models(model)) this.#deny(ctx, 'model_not_allowed', `This token may not use the model "${model.slice(0, 100)}".`);
    const metered = METERED.has(ctx.family);
    // No readable text (an image-only message, token arrays): the body's bytes ÷ 3, as ever.
    const text = metered && fields.promptText ? fields.promptText : undefined;
    const worst: Worst = {
      metered, model, text, bodyBytes,
      prompt: !metered ? 0 : text !== undefined ? promptBound(text) : Math.ceil(bodyBytes / 3),
      completion: metered ? (fields.maxTokens ?? this.deps.completionCeiling) * (fields.n ?? 1) : 0,
    };
    const refused = (err: unknown): never => this.#refused(ctx, err);
    try {
      const admission = this.#rateLimit(view, worst);
      const ticket = admission instanceof Promise ? admission.then((a) => this.#reserve(ctx, view, worst, a)) : this.#reserve(ctx, view, worst, admission);
      return ticket instanceof Promise ? ticket.catch(refused) : ticket;
    } catch (err) {
      return refused(err);
    }
  }

  #rateLimit(view: PolicyView, worst: Worst): Maybe<Admission> {
    const { limiter } = this.deps;
    const ask = (prompt: number): Maybe<Admission> => (limiter.admitNow ? limiter.admitNow(view.rate, prompt + worst.completion) : limiter.admit(view.rate, prompt + worst.completion));
    const exactly = (err: unknown): Maybe<Admission> => {
      // Only a TPM refusal can turn on the prompt's size; RPM and concurrency refusals stand.
      if (!(err instanceof RateLimitRefusal && err.limits.every((l) => l === 'tpm'))) throw err;
      return this.#exactly(worst, err, ask);
    };
    try {
      const first = ask(worst.prompt);
      return first instanceof Promise ? first.catch(exactly) : first;
    } catch (err) {
      return exactly(err);
    }
  }

  #reserve(ctx: PolicyContext, view: PolicyView, worst: Worst, admission: Admission): Maybe<Ticket> {
    const { budgets } = this.deps;
    const ask = (prompt: number): Maybe<Reservation> => budgets.reserve(worst.metered ? view.budgets : [], { model: worst.model, promptTokens: prompt, completionTokens: worst.completion });
    const exactly = (err: unknown): Maybe<Reservation> => {
      if (!(isSoakpError(err) && err.code === 'insufficient_quota')) throw err;
      return this.#exactly(worst, err, ask);
    };
    // A request refused by a budget gives its rate-limit counts back (all but its request count),
    // before the client hears of it.
    const refused = (err: unknown): never | Promise<never> => {
      const released = admission.release(0);
      if (!released) throw err;
      return released.then(() => Promise.reject(err), () => Promise.reject(err));
    };
    const ticket = (reservation: Reservation): Ticket => this.#ticket(ctx, worst, admission, reservation);
    try {
      const first = ask(worst.prompt);
      if (!(first instanceof Promise)) return ticket(first);
      return first.catch(exactly).then(ticket, refused);
    } catch (err) {
      try {
        const again = exactly(err);
        return again instanceof Promise ? again.then(ticket, refused) : ticket(again);
      } catch (final) {
        return refused(final);
      }
    }
  }

  /** Asks again with the exact prompt count, when it is below the bound that was refused. */
  async #exactly<T>(worst: Worst, refusal: unknown, ask: (prompt: number) => Maybe<T>): Promise<T> {
    if (worst.text === undefined) throw refusal;
    const exact = await exactPrompt(worst.text);
    if (exact >= worst.prompt) throw refusal;
    worst.prompt = exact;
    return ask(exact);
  }

  #ticket(ctx: PolicyContext, worst: Worst, admission: Admission, reservation: Reservation): Ticket {
    let finished = false;
    // Called after the answer has gone: accounting must not hold it up or crash it.
    const settle = (observed: UsageObservation, facts: FinishFacts): void => {
      try {
        const prompt = observed.source === 'reported' ? observed.promptTokens : worst.metered ? promptFigure(worst.text, worst.bodyBytes) : 0;
        const completion = observed.completionTokens;
        const released = admission.release(prompt + completion);
        if (released) released.catch((err: unknown) => this.#accountingFailed(ctx, err));
        const cost = reservation.settle(prompt, completion, observed.model ?? facts.model);
        this.deps.ledger.record(usageRow(ctx, facts, observed, prompt, completion, cost));
      } catch (err) {
        this.#accountingFailed(ctx, err);
      }
    };
    return {
      headers: admission.headers,
      completionCeiling: reservation.completionCeiling,
      finish: (observation, facts) => {
        if (finished) return;
        finished = true;
        if (!(observation instanceof Promise)) return settle(observation, facts);
        // A count that failed still settles (with nothing observed): limits and budgets are released.
        const later: Promise<void> = observation
          .then((o) => settle(o, facts), (err: unknown) => {
            this.#accountingFailed(ctx, err);
            settle(UNOBSERVED, facts);
          })
          .finally(() => this.#pending.delete(later));
        this.#pending.add(later);
      },
    };
  }

  #accountingFailed(ctx: PolicyContext, err: unknown): void {
    this.deps.logger.error({ err, tokenId: ctx.token.id }, 'accounting failed for a request');
  }

  /** A final refusal by a limit or a budget: counted as a security event, then thrown. */
  #refused(ctx: PolicyContext, err: unknown): never {
    if (isSoakpError(err) && err.status === 429) this.deps.auditor.securityEvent(err.code === 'insufficient_quota' ? 'budget_exceeded' : 'rate_limited', `token:${ctx.token.id}`, ctx.source);
    throw err;
  }

  #deny(ctx: PolicyContext, code: 'model_not_allowed' | 'endpoint_not_allowed' | 'upstream_not_allowed', message: string): never {
    this.deps.auditor.securityEvent('scope_denied', `token:${ctx.token.id}`, ctx.source, { code });
    throw new SoakpError(code, message);
  }
}

import type { EndpointFamily } from '../domain/index.js';
import { SoakpError, isSoakpError } from '../shared/index.js';
import type { Logger } from '../shared/index.js';
import type { Budgets, Reservation } from './budget.js';
import type { PolicyContext, RequestFields, Ticket } from './context.js';
import { METERED, type PolicyView, policyView } from './policy-view.js';
import { promptBound } from './prompt.js';
import { type PromptParts, readable } from './prompt-parts.js';
import { type Settling, type Worst, makeTicket, rateLimit, reserve } from './admit-steps.js';
import { RowOrder } from '../metering/index.js';
import type { Admission, Auditor, Ledger, RateLimiter, RateLimitSubject, UsageObservation } from './ports.js';

export { policyOf } from './policy-view.js';
export type { FinishFacts, PolicyContext, RequestFields, Ticket } from './context.js';

type Maybe<T> = T | Promise<T>;

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
      /**
       * Ask the upstream for a streamed chat or completion's usage (`stream_options.include_usage`)
       * when the client did not, and take out of the answer what the client did not ask for.
       */
      requestStreamUsage?: boolean;
      /** `allow`: tokens with budgets or scopes may call paths soakp cannot meter (default: refuse). */
      unknownEndpoints?: 'refuse' | 'allow';
    },
  ) {
    this.#settling = { order: new RowOrder(deps.ledger), logger: deps.logger, pending: new Set() };
  }

  /** Finishes whose observation is still coming, and where accounting goes. */
  readonly #settling: Settling;

  /** Resolves once every finish begun so far has queued its ledger row (call before flushing the ledger). */
  async settled(): Promise<void> {
    const { pending } = this.#settling;
    while (pending.size > 0) await Promise.all([...pending]);
  }

  /** A failed authentication, counted (aggregated) in the audit log by where it came from. */
  authFailed(source: string | null): void {
    this.deps.auditor.securityEvent('auth_failed', `ip:${source ?? 'unknown'}`, source);
  }

  /** Scopes that need no body: the web origin, the upstream and the endpoint family. */
  checkRoute(ctx: PolicyContext): void {
    const view = policyView(ctx.token, ctx.user);
    const { scopes } = view;
    if (view.origins) this.#checkOrigin(ctx, view);
    if (scopes.upstreams && !scopes.upstreams.includes(ctx.upstream)) this.#deny(ctx, 'upstream_not_allowed', `This token may not use the upstream "${ctx.upstream}".`);
    if (scopes.endpoints && !scopes.endpoints.includes(ctx.family)) this.#deny(ctx, 'endpoint_not_allowed', `This token may not call ${ctx.family} endpoints.`);
    // Fail closed: a path soakp cannot classify would pass budgets and scopes unmetered.
    if (ctx.family === 'other' && this.deps.unknownEndpoints !== 'allow' && !scopes.endpoints?.includes('other') && guarded(view)) {
      this.#deny(ctx, 'endpoint_not_metered', `soakp cannot meter or scope /v1${ctx.path.slice(0, 200)}, and this token has a budget, a token limit or a model or endpoint scope. Paths are case-sensitive: use OpenAI's (e.g. /v1/chat/completions).`);
    }
  }

  /**
   * An origin-bound token is for its web pages: a browser always names the page's origin, so a
   * request from another origin, or (unless allowed) from no page at all — the token copied
   * out of the page into curl — is refused. It does not stop a client that forges the header:
   * docs/browser.md says what it does stop.
   */
  #checkOrigin(ctx: PolicyContext, view: PolicyView): void {
    const { origin } = ctx;
    if (origin === undefined) {
      if (!view.allowNoOrigin) this.#deny(ctx, 'origin_required', 'This token is bound to web origins and the request has no Origin header: it works only from those pages (or issue it with --allow-no-origin).');
      return;
    }
    if (!(view.origins as (o: string) => boolean)(origin)) this.#deny(ctx, 'origin_not_allowed', `This token may not be used from the origin ${JSON.stringify(origin.slice(0, 200))}.`);
  }

  /** Whether the body must be read first: for a model scope, or to price the worst case. */
  needsFields(ctx: PolicyContext): boolean {
    const view = policyView(ctx.token, ctx.user);
    if (view.models) return true;
    if (this.deps.requestStreamUsage && (ctx.family === 'chat' || ctx.family === 'completions')) return true;
    return view.counted && METERED.has(ctx.family);
  }

  /**
   * Whether only the stream's fields are needed (to ask for its usage), not the prompt: no model
   * scope, and no budget or token limit that counts this family. Call when needsFields is true.
   */
  streamFieldsOnly(ctx: PolicyContext): boolean {
    const view = policyView(ctx.token, ctx.user);
    return !view.models && !(view.counted && METERED.has(ctx.family));
  }

  /** Whether to ask the upstream for a streamed request's usage (changes the request body). */
  wantsStreamUsage(ctx: PolicyContext, fields: RequestFields): boolean {
    return Boolean(this.deps.requestStreamUsage && fields.streamWithoutUsage && (ctx.family === 'chat' || ctx.family === 'completions'));
  }

  /**
   * Scopes on the body's model, then rate limits, then budgets. The prompt is reserved by an
   * upper bound that costs no tokenizer (its text's UTF-8 bytes — a token is at least one
   * byte — plus the chat format's tokens and tool definitions' bytes, see promptBound); only
   * when that bound is refused is the prompt counted exactly and asked for again, so a
   * request is refused only if its exact count would be (tool definitions stay at their
   * bytes). Throws or rejects with the refusal.
   */
  admit(ctx: PolicyContext, fields: RequestFields, bodyBytes: number): Maybe<Ticket> {
    const view = policyView(ctx.token, ctx.user);
    const model = fields.model ?? null;
    if (fields.unread !== undefined && ((view.models && NAMES_MODEL.has(ctx.family)) || (view.counted && METERED.has(ctx.family)))) {
      this.#deny(ctx, 'model_unreadable', `The request body is larger than ${fields.unread} bytes, the most soakp reads to find its "model" field, and this token's policy needs it. Send a smaller body, or ask the operator to raise budgets.inspectLimit.`);
    }
    if (view.models && (METERED.has(ctx.family) || ctx.family === 'realtime') && model === null) this.#deny(ctx, 'model_not_allowed', 'This token is limited to certain models, and the request names none that soakp could read.');
    if (view.models && model !== null && !view.models(model)) this.#deny(ctx, 'model_not_allowed', `This token may not use the model "${model.slice(0, 100)}".`);
    const metered = METERED.has(ctx.family);
    const parts = metered ? promptOf(ctx.family, fields.prompt) : undefined;
    const worst: Worst = {
      metered, model, parts, bodyBytes,
      // Nothing readable (an empty or unreadable body): the body's bytes ÷ 3, as ever.
      prompt: !metered ? 0 : parts !== undefined ? promptBound(parts) : Math.ceil(bodyBytes / 3),
      completion: metered ? (fields.maxTokens ?? this.deps.completionCeiling) * (fields.n ?? 1) : 0,
      promptCap: promptCapOf(view),
    };
    const refused = (err: unknown): never => this.#refused(ctx, err);
    try {
      const { limiter, budgets } = this.deps;
      const ticket = (admission: Admission, reservation: Reservation): Ticket => makeTicket(this.#settling, ctx, worst, admission, reservation);
      const budgetSubjects = metered ? view.budgets : [];
      const then = (a: Admission): Maybe<Ticket> => reserve(budgets, budgetSubjects, worst, a, ticket);
      const admission = rateLimit(limiter, view.perAddress.length === 0 ? view.rate : [...view.rate, ...perAddress(view, ctx.source)], worst);
      const done = admission instanceof Promise ? admission.then(then) : then(admission);
      return done instanceof Promise ? done.catch(refused) : done;
    } catch (err) {
      return refused(err);
    }
  }

  /** A final refusal by a limit or a budget: counted as a security event, then thrown. */
  #refused(ctx: PolicyContext, err: unknown): never {
    if (isSoakpError(err) && err.status === 429) this.deps.auditor.securityEvent(err.code === 'insufficient_quota' ? 'budget_exceeded' : 'rate_limited', `token:${ctx.token.id}`, ctx.source);
    throw err;
  }

  #deny(ctx: PolicyContext, code: 'model_not_allowed' | 'endpoint_not_allowed' | 'upstream_not_allowed' | 'endpoint_not_metered' | 'model_unreadable' | 'origin_required' | 'origin_not_allowed', message: string): never {
    this.deps.auditor.securityEvent('scope_denied', `token:${ctx.token.id}`, ctx.source, { code });
    throw new SoakpError(code, message);
  }
}

/** Each per-address limit as a subject of its own: the subject's key with the client's address. */
function perAddress(view: PolicyView, source: string | null): RateLimitSubject[] {
  return view.perAddress.map(({ key, rpm }) => ({ key: `${key}|ip:${source ?? 'unknown'}`, limits: { rpm } }));
}

/** Families whose requests name a model in their body (files, uploads, batches… name none). */
const NAMES_MODEL: ReadonlySet<EndpointFamily> = new Set<EndpointFamily>([...METERED, 'images', 'audio', 'fine_tuning', 'assistants']);

/** A budget, a token limit or a model or endpoint scope binds the token: what it calls must be metered. */
function guarded(view: PolicyView): boolean {
  return view.counted || view.models !== undefined || view.scopes.endpoints !== undefined;
}

/** Only chat and responses requests are wrapped in the chat format; completions and embeddings bill their text alone. */
const FRAMED: ReadonlySet<EndpointFamily> = new Set<EndpointFamily>(['chat', 'responses']);

function promptOf(family: EndpointFamily, p: PromptParts | undefined): PromptParts | undefined {
  if (p === undefined || !readable(p)) return undefined;
  return FRAMED.has(family) ? p : { ...p, framing: 0 };
}

/** One more than the smallest limit in tokens (a budget's or a TPM limit): no prompt that long is admitted. */
function promptCapOf(view: PolicyView): number {
  let cap = Infinity;
  for (const { budget } of view.budgets) if (budget.tokens !== undefined) cap = Math.min(cap, budget.tokens + 1);
  for (const { limits } of view.rate) if (limits.tpm !== undefined) cap = Math.min(cap, limits.tpm + 1);
  return cap;
}

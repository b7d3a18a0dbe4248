import { isSoakpError } from '../shared/index.js';
import type { Logger } from '../shared/index.js';
import type { BudgetSubject, Budgets, Reservation } from './budget.js';
import type { FinishFacts, PolicyContext, Ticket } from './context.js';
import { exactPrompt, promptFigure, promptFigureSoon } from './prompt.js';
import type { PromptParts } from './prompt-parts.js';
import { RateLimitRefusal } from './rate-limit-headers.js';
import type { UsageRecord } from '../domain/index.js';
import type { RowOrder } from '../metering/index.js';
import { usageRow } from './usage-row.js';
import type { Admission, RateLimiter, RateLimitSubject, UsageObservation } from './ports.js';

type Maybe<T> = T | Promise<T>;

/** What admission decided the worst case is. */
export interface Worst {
  readonly metered: boolean;
  readonly model: string | null;
  /** Prompt tokens reserved: the request's upper bound, or its exact count. */
  prompt: number;
  readonly completion: number;
  /** What the prompt is billed for; undefined without readable text (the body's bytes stand in). */
  readonly parts: PromptParts | undefined;
  readonly bodyBytes: number;
  /** A prompt of this many tokens passes no limit or budget (the smallest in tokens, plus one). */
  readonly promptCap: number;
}

/** The rate limits, synchronously where the limiter can; a TPM refusal of the prompt's bound is asked again with its exact count. */
export function rateLimit(limiter: RateLimiter, subjects: readonly RateLimitSubject[], worst: Worst): Maybe<Admission> {
  const ask = (prompt: number): Maybe<Admission> => (limiter.admitNow ? limiter.admitNow(subjects, prompt + worst.completion) : limiter.admit(subjects, prompt + worst.completion));
  const exactly = (err: unknown): Maybe<Admission> => {
    // Only a TPM refusal can turn on the prompt's size; RPM and concurrency refusals stand.
    if (!(err instanceof RateLimitRefusal && err.limits.every((l) => l === 'tpm'))) throw err;
    return askExactly(worst, err, ask);
  };
  try {
    const first = ask(worst.prompt);
    return first instanceof Promise ? first.catch(exactly) : first;
  } catch (err) {
    return exactly(err);
  }
}

/**
 * The budget reservation, likewise; a request it refuses gives its rate-limit counts back (all
 * but its request count) before the client hears of it.
 */
export function reserve(budgets: Budgets, subjects: readonly BudgetSubject[], worst: Worst, admission: Admission, ticket: (admission: Admission, reservation: Reservation) => Ticket): Maybe<Ticket> {
  const ask = (prompt: number): Maybe<Reservation> => budgets.reserve(subjects, { model: worst.model, promptTokens: prompt, completionTokens: worst.completion });
  const exactly = (err: unknown): Maybe<Reservation> => {
    if (!(isSoakpError(err) && err.code === 'insufficient_quota')) throw err;
    return askExactly(worst, err, ask);
  };
  const refused = (err: unknown): never | Promise<never> => {
    const released = admission.release(0);
    if (!released) throw err;
    return released.then(() => Promise.reject(err), () => Promise.reject(err));
  };
  const made = (reservation: Reservation): Ticket => ticket(admission, reservation);
  try {
    const first = ask(worst.prompt);
    if (!(first instanceof Promise)) return made(first);
    return first.catch(exactly).then(made, refused);
  } catch (err) {
    try {
      const again = exactly(err);
      return again instanceof Promise ? again.then(made, refused) : made(again);
    } catch (final) {
      return refused(final);
    }
  }
}

/** Asks again with the exact prompt count, when it is below the bound that was refused. */
async function askExactly<T>(worst: Worst, refusal: unknown, ask: (prompt: number) => Maybe<T>): Promise<T> {
  if (worst.parts === undefined) throw refusal;
  // A long prompt is counted only as far as it could still be admitted.
  const stopAt = Math.min(worst.prompt, worst.promptCap);
  const exact = await exactPrompt(worst.parts, stopAt);
  if (exact >= stopAt) throw refusal;
  worst.prompt = exact;
  return ask(exact);
}

/** Where finished requests' accounting goes, and the finishes still waiting for their usage. */
export interface Settling {
  /** The ledger, in the order requests finished. */
  readonly order: RowOrder;
  readonly logger: Logger;
  readonly pending: Set<Promise<void>>;
}

const UNOBSERVED: UsageObservation = Object.freeze({ promptTokens: 0, completionTokens: 0, totalTokens: 0, source: 'none' });

export function makeTicket(settling: Settling, ctx: PolicyContext, worst: Worst, admission: Admission, reservation: Reservation): Ticket {
  let finished = false;
  const failed = (err: unknown): void => settling.logger.error({ err, tokenId: ctx.token.id }, 'accounting failed for a request');
  // Called after the answer has gone: accounting must not hold it up or crash it.
  const track = (later: Promise<void>): void => {
    const tracked: Promise<void> = later.finally(() => settling.pending.delete(tracked));
    settling.pending.add(tracked);
  };
  /** `at`: when the request finished; `place`: its row's place in the ledger when it was worked out later. */
  const settle = (seen: UsageObservation, facts: FinishFacts, at: number, place?: (row: UsageRecord | undefined) => void): void => {
    // Counted text, but a prompt soakp did not read (the token's policies needed none of it):
    // that prompt is estimated from the body's bytes, and the row says so.
    const observed: UsageObservation = seen.source === 'counted' && worst.metered && worst.parts === undefined ? { ...seen, source: 'estimated' } : seen;
    let figure: number | Promise<number>;
    try {
      figure = observed.source === 'reported' ? observed.promptTokens : worst.metered ? promptFigureSoon(worst.parts, worst.bodyBytes, observed.source === 'counted') : 0;
    } catch (err) {
      failed(err); // the row must still come, or those behind it in the ledger would wait for good
      figure = promptFigure(undefined, worst.bodyBytes);
    }
    if (!(figure instanceof Promise)) return settleWith(observed, facts, figure, at, place);
    // A long prompt is counted a slice at a time (or off the event loop); its row waits for the count, in its place.
    const later = place ?? settling.order.later();
    track(figure.then((prompt) => settleWith(observed, facts, prompt, at, later), (err: unknown) => {
      failed(err);
      settleWith(observed, facts, promptFigure(undefined, worst.bodyBytes), at, later);
    }));
  };
  const settleWith = (observed: UsageObservation, facts: FinishFacts, prompt: number, at: number, place?: (row: UsageRecord | undefined) => void): void => {
    let row: UsageRecord | undefined;
    try {
      const completion = observed.completionTokens;
      const released = admission.release(prompt + completion);
      if (released) released.catch(failed);
      const cost = reservation.settle(prompt, completion, observed.model ?? facts.model);
      row = usageRow(ctx, facts, observed, prompt, completion, cost, at);
    } catch (err) {
      failed(err);
    }
    if (place) place(row);
    else if (row) settling.order.record(row);
  };
  return {
    headers: admission.headers,
    completionCeiling: reservation.completionCeiling,
    finish: (observation, facts) => {
      if (finished) return;
      finished = true;
      const at = Date.now();
      if (!(observation instanceof Promise)) return settle(observation, facts, at);
      // A count that failed still settles (with nothing observed): limits and budgets are released.
      const place = settling.order.later();
      track(observation.then((o) => settle(o, facts, at, place), (err: unknown) => {
        failed(err);
        settle(UNOBSERVED, facts, at, place);
      }));
    },
  };
}

import { SoakpError } from '../shared/index.js';

/** One subject's one-minute window as the `x-ratelimit-*` headers describe it. */
export interface WindowState {
  readonly limit: number;
  readonly remaining: number;
  readonly msLeft: number;
}

/** Why one subject refused, with what the message needs. */
export type Refusal =
  | { readonly limit: 'rpm' | 'tpm'; readonly subjectKey: string; readonly value: number; readonly msLeft: number; readonly asked: number }
  | { readonly limit: 'concurrency'; readonly subjectKey: string; readonly value: number };

/** OpenAI's reset format: `20ms`, `6s`, `1m0s`. */
export function formatReset(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const s = Math.ceil(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${s % 60}s`;
}

/** The state with the least room left: the one a client has to pace itself by. */
export function tightest(states: readonly WindowState[]): WindowState | undefined {
  let best: WindowState | undefined;
  for (const s of states) {
    if (!best || s.remaining < best.remaining || (s.remaining === best.remaining && s.msLeft > best.msLeft)) best = s;
  }
  return best;
}

// Written on every limited answer: constant names, no template per request.
export function rateHeaders(requests?: WindowState, tokens?: WindowState): Record<string, string> {
  const headers: Record<string, string> = {};
  if (requests) {
    headers['x-ratelimit-limit-requests'] = String(requests.limit);
    headers['x-ratelimit-remaining-requests'] = String(remaining(requests));
    headers['x-ratelimit-reset-requests'] = formatReset(requests.msLeft);
  }
  if (tokens) {
    headers['x-ratelimit-limit-tokens'] = String(tokens.limit);
    headers['x-ratelimit-remaining-tokens'] = String(remaining(tokens));
    headers['x-ratelimit-reset-tokens'] = formatReset(tokens.msLeft);
  }
  return headers;
}

const remaining = (state: WindowState): number => Math.max(0, Math.floor(state.remaining));

/** Whole seconds, at least 1: `Retry-After: 0` would invite an immediate retry storm. */
function retryAfter(refusal: Refusal): number {
  return refusal.limit === 'concurrency' ? 1 : Math.max(1, Math.ceil(refusal.msLeft / 1000));
}

/**
 * The 429 for a refused admission. When several limits refused, it names the one that keeps
 * the client waiting longest, so retrying after `Retry-After` is not refused again at once.
 * The message names the limit and the kind of subject, never its key.
 */
export function refusalError(refusals: readonly Refusal[], requests?: WindowState, tokens?: WindowState): SoakpError {
  const worst = refusals.reduce((a, b) => (retryAfter(b) > retryAfter(a) ? b : a));
  const wait = retryAfter(worst);
  const on = `this ${subjectNoun(worst.subjectKey)}`;
  let message: string;
  if (worst.limit === 'concurrency') {
    message = `Too many concurrent requests (limit ${worst.value}) on ${on}; try again when one of them finishes.`;
  } else if (worst.limit === 'tpm' && worst.asked > worst.value) {
    message = `Request too large for tokens per minute (limit ${worst.value}) on ${on}: it needs about ${worst.asked} tokens; send a smaller request.`;
  } else {
    const what = worst.limit === 'rpm' ? 'requests per minute' : 'tokens per minute';
    message = `Rate limit reached for ${what} (limit ${worst.value}) on ${on}; try again in ${wait} s.`;
  }
  return new RateLimitRefusal(refusals.map((r) => r.limit), message, { 'retry-after': String(wait), ...rateHeaders(requests, tokens) });
}

/** A 429 from the rate limits, knowing which limits refused (a TPM refusal may pass with an exact count). */
export class RateLimitRefusal extends SoakpError {
  constructor(
    readonly limits: ReadonlyArray<Refusal['limit']>,
    message: string,
    headers: Record<string, string>,
  ) {
    super('rate_limited', message, { headers });
  }
}

/** Subject keys are `token:<id>` or `user:<id>`, `|ip:<address>` added for a per-address limit; only the kind goes into a message. */
function subjectNoun(key: string): string {
  const kind = key.slice(0, key.indexOf(':'));
  const noun = kind === 'token' || kind === 'user' ? kind : kind === 'mint' ? 'minting token' : 'credential';
  return key.includes('|ip:') ? `${noun} from your address` : noun;
}

import type { Limits } from '../domain/index.js';

/** One rate-limited subject: `token:<id>` or `user:<id>`, with its limits. */
export interface RateLimitSubject {
  readonly key: string;
  readonly limits: Limits;
}

/** A request let in by the rate limiter. */
export interface Admission {
  /** `x-ratelimit-*` headers for the answer, as OpenAI sends them (the tightest subject's). */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * MUST be called exactly once when the request is over (answered, failed or abandoned):
   * frees its concurrency slot and replaces the token estimate by `actualTokens`.
   */
  release(actualTokens: number): void | Promise<void>;
}

export interface RateLimiter {
  /**
   * Admits a request against every subject at once, counting one request and
   * `estimatedTokens` tokens, or rejects with SoakpError `rate_limited` (429) carrying
   * `Retry-After` and `x-ratelimit-*` headers. MUST be exact under concurrency (N allowed
   * means N, across every instance sharing the backend) and MUST NOT leave a partial count
   * behind when one subject refuses. When the backend is unreachable: fail closed
   * (`limiter_unavailable`, 503) or, if configured, fail open — logging which, either way.
   */
  admit(subjects: readonly RateLimitSubject[], estimatedTokens: number): Promise<Admission>;
  /**
   * The same decision made synchronously (throwing the refusal), where the backend allows it
   * (in memory): the data plane then spends no promise on it. Absent with Redis.
   */
  readonly admitNow?: (subjects: readonly RateLimitSubject[], estimatedTokens: number) => Admission;
  close(): Promise<void>;
}

export type { Ledger, UsageObservation } from '../metering/index.js';
export type { AuditInputLite, Auditor, SecurityEvent } from '../audit/index.js';

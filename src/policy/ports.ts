import type { Readable } from 'node:stream';
import type { AuditEntry, EndpointFamily, Limits, UsageRecord, UsageSource } from '../domain/index.js';

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

/** What a response said (or what was counted) about its tokens. */
export interface UsageObservation {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
  readonly source: UsageSource;
  /** The model the upstream named in its answer, when it did. */
  readonly model?: string;
}

export interface TapOptions {
  readonly endpoint: EndpointFamily;
  readonly contentType: string;
  /**
   * Prompt tokens for the observation when the upstream reports none (default 0: the data
   * plane's ticket works the prompt out itself when it settles).
   */
  readonly promptEstimate?: number;
  /**
   * Completion tokens this request may use (its budget reservation). When a stream delivers
   * more, it is ended for the client with a final SSE error event (`insufficient_quota`)
   * and `onCutoff` is called (which cancels the upstream call).
   */
  readonly completionCeiling?: number;
  readonly onCutoff?: () => void;
}

export interface Tapped {
  /** The body to send on: the same bytes, unbuffered (except the final cut-off event). */
  readonly body: Readable;
  /** Settles when the body ends, fails or is abandoned — with what was delivered by then. */
  readonly usage: Promise<UsageObservation>;
}

/** The usage ledger's writer: batched, bounded, off the request path. */
export interface Ledger {
  /** MUST NOT block or throw: queues the row for the next batch. */
  record(row: UsageRecord): void;
  /** Writes everything queued so far. */
  flush(): Promise<void>;
  /** Flushes and stops; nothing queued before close is lost. */
  close(): Promise<void>;
}

export type { AuditInputLite, Auditor, SecurityEvent } from '../audit/index.js';

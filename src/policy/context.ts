import type { EndpointFamily, TokenRecord, User } from '../domain/index.js';
import type { PromptParts } from './prompt-parts.js';
import type { UsageObservation } from './ports.js';

// The shapes admission hands between its steps: kept apart from the engine, which uses the
// steps, so that the steps need not import the engine back.

/** Who is asking for what: the parts of a request that policies judge. */
export interface PolicyContext {
  readonly user: User;
  readonly token: TokenRecord;
  readonly upstream: string;
  readonly family: EndpointFamily;
  /** The canonical path after /v1, without the query. */
  readonly path: string;
  readonly source: string | null;
  /** The request's Origin header (a web page's), when it has one. */
  readonly origin?: string | undefined;
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

/** The request fields policies need. Absent fields are undefined. */
export interface RequestFields {
  model?: string;
  /** max_tokens, max_completion_tokens or max_output_tokens, whichever the request set. */
  maxTokens?: number;
  /** Number of choices asked for (`n`), which multiplies the worst case. */
  n?: number;
  /** What the prompt is billed for (messages / input / prompt, instructions, tools), to bound and count its tokens locally. */
  prompt?: PromptParts;
  /** A streamed chat or completion that did not ask for usage in its final chunk. */
  streamWithoutUsage?: boolean;
  /** The request asks for the stream's usage (`stream_options.include_usage`): the upstream will report it. */
  streamUsage?: boolean;
  /** soakp added `stream_options.include_usage` itself: the answer is given back without what it added. */
  usageAdded?: boolean;
  /** The body was larger than this many bytes, the most read: its fields are unknown. */
  unread?: number;
}

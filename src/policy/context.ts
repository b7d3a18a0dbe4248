import type { EndpointFamily, TokenRecord, User } from '../domain/index.js';
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

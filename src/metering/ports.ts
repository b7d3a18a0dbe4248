import type { EndpointFamily, UsageRecord, UsageSource } from '../domain/index.js';

/** What a response said (or what was counted) about its tokens. */
export interface UsageObservation {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
  readonly source: UsageSource;
  /** The model the upstream named in its answer, when it did. */
  readonly model?: string;
}

export interface MeterOptions {
  readonly endpoint: EndpointFamily;
  readonly contentType: string;
  /**
   * Prompt tokens for the observation when the upstream reports none (default 0: the data
   * plane's ticket works the prompt out itself when it settles).
   */
  readonly promptEstimate?: number;
  /**
   * Completion tokens this request may use (its budget reservation). When a stream delivers
   * more, it is ended for the client with a final SSE error event (`insufficient_quota`), and
   * the meter's write says so (the relay then cancels the upstream call).
   */
  readonly completionCeiling?: number;
  /**
   * soakp added `stream_options.include_usage` to the request on the client's behalf: the
   * stream's usage-only last event and the `"usage":null` members of the others are taken out,
   * so the client gets what it asked for (the usage is still read).
   */
  readonly stripUsage?: boolean;
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

import type { EndpointFamily } from './policy.js';

/** How the token counts of a request were known. */
export type UsageSource = 'reported' | 'counted' | 'estimated' | 'none';

/** One row of the usage ledger: one request. Costs are in micro-dollars (integers). */
export interface UsageRecord {
  readonly at: number;
  readonly userId: string;
  readonly tokenId: string;
  readonly upstream: string;
  readonly model: string | null;
  readonly endpoint: EndpointFamily;
  readonly status: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
  readonly costMicros: number;
  readonly durationMs: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly source: UsageSource;
}

export type UsageGrouping = 'day' | 'user' | 'model';

export interface UsageSummary {
  readonly key: string;
  readonly requests: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
  readonly costMicros: number;
}

/** A budget counter for one scope (`user:<id>` / `token:<id>`) and period. */
export interface BudgetState {
  readonly spentTokens: number;
  readonly spentMicros: number;
  readonly reservedTokens: number;
  readonly reservedMicros: number;
}

export interface Amount {
  readonly tokens: number;
  readonly micros: number;
}

/** An entry of the audit log. `details` never holds a secret. */
export interface AuditEntry {
  readonly id: number;
  readonly at: number;
  readonly actor: string;
  readonly action: string;
  readonly target: string | null;
  readonly details: Readonly<Record<string, unknown>>;
  readonly source: string | null;
  readonly prevHash: string;
  readonly hash: string;
}

export type AuditInput = Omit<AuditEntry, 'id' | 'prevHash' | 'hash'>;

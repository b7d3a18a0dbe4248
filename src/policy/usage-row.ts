import type { UsageRecord } from '../domain/index.js';
import type { FinishFacts, PolicyContext } from './context.js';
import type { UsageObservation } from './ports.js';

/** The ledger's row for one finished request (`at`: when it finished). */
export function usageRow(ctx: PolicyContext, facts: FinishFacts, observed: UsageObservation, promptTokens: number, completionTokens: number, cost: number, at = Date.now()): UsageRecord {
  return {
    at, userId: ctx.user.id, tokenId: ctx.token.id, upstream: ctx.upstream, model: observed.model ?? facts.model, endpoint: ctx.family,
    status: facts.status, promptTokens, completionTokens, totalTokens: promptTokens + completionTokens, costMicros: cost,
    durationMs: facts.durationMs, bytesIn: facts.bytesIn, bytesOut: facts.bytesOut, source: observed.source,
  };
}

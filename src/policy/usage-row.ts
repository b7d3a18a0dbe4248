import { type UsageRecord, accountOf } from '../domain/index.js';
import type { FinishFacts, PolicyContext } from './context.js';
import type { UsageObservation } from './ports.js';

/** The ledger's row for one finished request (`at`: when it finished); an ephemeral token's is its minting token's. */
export function usageRow(ctx: PolicyContext, facts: FinishFacts, observed: UsageObservation, promptTokens: number, completionTokens: number, cost: number, at = Date.now()): UsageRecord {
  return {
    at, userId: ctx.user.id, tokenId: accountOf(ctx.token), upstream: ctx.upstream, model: observed.model ?? facts.model, endpoint: ctx.family,
    status: facts.status, promptTokens, completionTokens, totalTokens: promptTokens + completionTokens, costMicros: cost,
    durationMs: facts.durationMs, bytesIn: facts.bytesIn, bytesOut: facts.bytesOut, source: observed.source,
  };
}

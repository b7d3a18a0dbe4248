import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type { Config } from '../config/index.js';
import type { UsageRecord } from '../domain/index.js';
import type { Logger } from '../shared/index.js';
import type { Store } from '../store/index.js';
import type { Auditor } from '../audit/index.js';
import { Budgets } from './budget.js';
import { PolicyEngine } from './engine.js';
import { priceTable } from './prices.js';
import { createRateLimiter } from './rate-limiter.js';
import { UsageLedger } from '../metering/index.js';

export interface Policies {
  readonly engine: PolicyEngine;
  /** The dependencies that refuse requests while down and are down now: `redis` when fail-closed limits use it. */
  unavailable(): Promise<string[]>;
  /** Counts one mint of a short-lived token against its minting token's rate; rejects with a 429 past `perMinute`. */
  limitMint(tokenId: string, perMinute: number): Promise<void>;
  /** Flushes the ledger, then lets go of Redis: call after the last request (then close the auditor). */
  close(): Promise<void>;
}

/** How long readiness waits for Redis (connecting, or answering PING) before calling it down. */
const READY_WAIT_MS = 2_000;

/** Builds the policy services for a server (called by the composition root): the one place that chooses memory or Redis. */
export function createPolicies(store: Store, config: Pick<Config, 'rateLimits' | 'budgets' | 'prices'>, logger: Logger, auditor: Auditor): Policies {
  const redis = config.rateLimits.redisUrl
    ? new (redisClass())(config.rateLimits.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: false })
    : undefined;
  // ioredis reconnects on its own; the limiter logs (rate-limited) when calls fail meanwhile.
  redis?.on('error', () => undefined);
  const limiter = createRateLimiter({ redis, failOpen: config.rateLimits.failOpen, logger });
  // Last-used times ride on the ledger's batches: one write per token per second, not per request.
  const ledger = new UsageLedger(store.usage, logger, { afterWrite: (batch) => touchTokens(store, batch) });
  const budgets = new Budgets(store.budgets, priceTable(config.prices), logger, { instanceTimeoutMs: config.budgets.instanceTimeout });
  const engine = new PolicyEngine({ limiter, budgets, ledger, auditor, completionCeiling: config.budgets.completionCeiling, logger, requestStreamUsage: config.budgets.requestStreamUsage, unknownEndpoints: config.budgets.unknownEndpoints });
  // With failOpen, requests pass while Redis is down: it is then no reason to stop routing here.
  const gate = config.rateLimits.failOpen ? undefined : redis;
  return {
    engine,
    unavailable: gate ? oneProbe(gate) : async () => [],
    limitMint: async (tokenId, perMinute) => {
      const admission = await limiter.admit([{ key: `mint:${tokenId}`, limits: { rpm: perMinute } }], 0);
      await admission.release(0);
    },
    close: async () => {
      await engine.settled(); // requests whose usage was still being counted queue their rows first
      await budgets.close();
      await ledger.close();
      await limiter.close();
      redis?.disconnect();
    },
  };
}

// ioredis (with its dependencies, ~5 MB of an idle server's memory) is loaded only when Redis is
// configured. Synchronously, so that this factory, and when the connection starts, stay as they were.
function redisClass(): typeof Redis {
  const load = createRequire(import.meta.url); // a local name: the import rules see what it loads
  return (load('ioredis') as typeof import('ioredis')).Redis;
}

/**
 * Readiness asks Redis at most once at a time: callers arriving while a probe runs share it,
 * so a flood of /readyz during an outage makes one PING, not one each.
 */
function oneProbe(redis: Redis): () => Promise<string[]> {
  let running: Promise<string[]> | undefined;
  return () => (running ??= answers(redis).then((ok) => (ok ? [] : ['redis'])).finally(() => (running = undefined)));
}

/** Whether Redis answers PING within READY_WAIT_MS (a first connection still under way is waited for). */
async function answers(redis: Redis): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => (timer = setTimeout(resolve, READY_WAIT_MS, false)));
  try {
    if (redis.status === 'connecting' || redis.status === 'connect') await Promise.race([expired, settled(redis)]);
    // Without the offline queue a PING fails at once while disconnected.
    return await Promise.race([expired, redis.ping().then(() => true, () => false)]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once a connection under way is ready or has failed. */
function settled(redis: Redis): Promise<void> {
  const events = ['ready', 'close', 'end'];
  return new Promise((resolve) => {
    const done = (): void => {
      for (const e of events) redis.off(e, done);
      resolve();
    };
    for (const e of events) redis.on(e, done);
  });
}

async function touchTokens(store: Store, batch: readonly UsageRecord[]): Promise<void> {
  const latest = new Map<string, number>();
  for (const row of batch) latest.set(row.tokenId, Math.max(row.at, latest.get(row.tokenId) ?? 0));
  for (const [id, at] of latest) await store.tokens.touch(id, at);
}

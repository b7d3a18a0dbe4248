import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type { RateLimiterAbstract, RateLimiterMemory as Memory, RateLimiterRedis as Redised } from 'rate-limiter-flexible';

// The package's index loads every backend it has (MySQL, Mongo, cluster, …; ~1 MB of an idle
// server); these two files are the only ones used, each exporting its class.
const load = createRequire(import.meta.url);
const RateLimiterMemory = load('rate-limiter-flexible/lib/RateLimiterMemory.js') as typeof Memory;
const RateLimiterRedis = load('rate-limiter-flexible/lib/RateLimiterRedis.js') as typeof Redised;

/** What one atomic add to a one-minute window saw. */
export interface WindowCount {
  /** The window's count after this add (this add included). */
  readonly count: number;
  /** Milliseconds until the window resets. */
  readonly msLeft: number;
  /** When the window this add landed in ends (epoch ms): refunds after it must not touch the next one. */
  readonly windowEnd: number;
}

/**
 * A fixed one-minute counter per key, on rate-limiter-flexible (atomic in memory and, through
 * its Lua script, in Redis). The library's limiter is given an unreachable `points` so it
 * never refuses by itself: each subject has its own limit, and comparing the returned count
 * with it ourselves lets one counter serve every limit value — a changed limit keeps the
 * count, and a refusal is never confused with a backend error (which stays an Error).
 */
export class WindowCounter {
  private readonly limiter: RateLimiterAbstract;

  constructor(keyPrefix: string, redis?: Redis) {
    const opts = { keyPrefix, points: Number.MAX_SAFE_INTEGER, duration: WINDOW_SECONDS };
    // No `useRedisPackage`: that flag is for node-redis; ioredis is the library's default client.
    this.limiter = redis ? new RateLimiterRedis({ ...opts, storeClient: redis }) : new RateLimiterMemory(opts);
  }

  async add(key: string, points: number): Promise<WindowCount> {
    const res = await this.limiter.consume(key, points);
    const msLeft = Math.max(0, res.msBeforeNext);
    return { count: res.consumedPoints, msLeft, windowEnd: Date.now() + msLeft };
  }

  /**
   * Takes points back from the window `at` was counted in. Skipped once that window is (nearly)
   * over: the library would otherwise start the next window at a negative count, handing out
   * extra room there — and the points expire with their window anyway.
   */
  async refund(key: string, points: number, at: WindowCount): Promise<void> {
    if (points <= 0 || Date.now() >= at.windowEnd - REFUND_MARGIN_MS) return;
    await this.limiter.reward(key, points);
  }

  /** Charges points the estimate missed, to whichever window is current: they were used now. */
  async charge(key: string, points: number): Promise<void> {
    if (points > 0) await this.limiter.penalty(key, points);
  }
}

export const WINDOW_SECONDS = 60;
/** Headroom for the clock step between checking the window and the store applying the refund. */
const REFUND_MARGIN_MS = 250;

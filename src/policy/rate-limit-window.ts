import type { Redis } from 'ioredis';
import type { RateLimiterRedis as Redised, RateLimiterRes } from 'rate-limiter-flexible';
import { type MemoryStore, MemoryStorage, RateLimiterRedis } from './rate-limiter-flexible-core.js';

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
 * In memory every method answers synchronously; with Redis, with a promise.
 */
export class WindowCounter {
  readonly #redis: Redised | undefined;
  readonly #memory: MemoryStore | undefined;
  readonly #prefix: string;

  constructor(keyPrefix: string, redis?: Redis) {
    this.#prefix = `${keyPrefix}:`;
    // No `useRedisPackage`: that flag is for node-redis; ioredis is the library's default client.
    if (redis) this.#redis = new RateLimiterRedis({ keyPrefix, points: Number.MAX_SAFE_INTEGER, duration: WINDOW_SECONDS, storeClient: redis });
    else this.#memory = new MemoryStorage();
  }

  add(key: string, points: number): WindowCount | Promise<WindowCount> {
    if (this.#memory) return countOf(this.#memory.incrby(this.#prefix + key, points, WINDOW_SECONDS));
    return (this.#redis as Redised).consume(key, points).then(countOf);
  }

  /**
   * Takes points back from the window `at` was counted in. Skipped once that window is (nearly)
   * over: the library would otherwise start the next window at a negative count, handing out
   * extra room there — and the points expire with their window anyway.
   */
  refund(key: string, points: number, at: WindowCount): void | Promise<void> {
    if (points <= 0 || Date.now() >= at.windowEnd - REFUND_MARGIN_MS) return;
    return this.#change(key, -points);
  }

  /** Charges points the estimate missed, to whichever window is current: they were used now. */
  charge(key: string, points: number): void | Promise<void> {
    if (points > 0) return this.#change(key, points);
  }

  #change(key: string, points: number): void | Promise<void> {
    if (this.#memory) {
      this.#memory.incrby(this.#prefix + key, points, WINDOW_SECONDS);
      return;
    }
    const redis = this.#redis as Redised;
    return (points < 0 ? redis.reward(key, -points) : redis.penalty(key, points)).then(() => undefined);
  }
}

function countOf(res: RateLimiterRes): WindowCount {
  const msLeft = Math.max(0, res.msBeforeNext);
  return { count: res.consumedPoints, msLeft, windowEnd: Date.now() + msLeft };
}

export const WINDOW_SECONDS = 60;
/** Headroom for the clock step between checking the window and the store applying the refund. */
const REFUND_MARGIN_MS = 250;

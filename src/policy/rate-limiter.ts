import type { Redis } from 'ioredis';
import { SoakpError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { memorySlots, redisSlots } from './rate-limit-concurrency.js';
import { rateHeaders, refusalError, tightest } from './rate-limit-headers.js';
import { countIn, granted, limitOf, refusalOf, settle, states, undo, wholeTokens, type Step, type Windows } from './rate-limit-steps.js';
import { WindowCounter } from './rate-limit-window.js';
import type { Admission, RateLimiter, RateLimitSubject } from './ports.js';

export interface RateLimiterOptions {
  /** Shared counters for several instances; without it, counters live in this process. Owned by the caller. */
  redis?: Redis;
  /** Prefix of every Redis key (default `soakp:rl`). */
  keyPrefix?: string;
  /** Admit everything while the backend is unreachable (default: refuse with 503). */
  failOpen?: boolean;
  logger: Logger;
}

/** What fail-open admits with: nothing was counted, so there is nothing to give back. */
const UNCOUNTED: Admission = { headers: {}, release: async () => {} };

/** Backend trouble is logged once per this many ms: a Redis outage must not flood the log. */
const LOG_EVERY_MS = 10_000;

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { redis, logger } = options;
  const prefix = options.keyPrefix ?? 'soakp:rl';
  const failOpen = options.failOpen ?? false;
  const windows: Windows = { rpm: new WindowCounter(`${prefix}:rpm`, redis), tpm: new WindowCounter(`${prefix}:tpm`, redis) };
  const logAdmit = throttled((err) =>
    logger.error({ failOpen, reason: reasonOf(err) }, `rate limiter backend unavailable: failing ${failOpen ? 'open' : 'closed'}`));
  const logRelease = throttled((err) =>
    logger.warn({ reason: reasonOf(err) }, 'rate limiter backend unavailable after admission: counts and slots settle when they expire'));
  const slots = redis ? redisSlots(redis, `${prefix}:conc`, logRelease) : memorySlots();
  logger.info({ backend: redis ? 'redis' : 'memory', failOpen }, 'rate limiter ready');

  /** Best effort: a step that cannot be taken back expires with its window (or slot TTL). */
  async function settleAll(steps: readonly Step[], use: (step: Step) => Promise<void>): Promise<void> {
    for (const r of await Promise.allSettled(steps.map(use))) if (r.status === 'rejected') logRelease(r.reason);
  }

  function unavailable(err: unknown): Admission {
    logAdmit(err);
    if (failOpen) return UNCOUNTED;
    throw new SoakpError('limiter_unavailable', 'The rate limiter is unavailable; try again shortly.', {
      cause: err,
      headers: { 'retry-after': '1' },
    });
  }

  return {
    async admit(subjects: readonly RateLimitSubject[], estimatedTokens: number): Promise<Admission> {
      const tokens = wholeTokens(estimatedTokens);
      // Every limit of every subject is tried at once (one round trip to Redis, not six);
      // each try is atomic on its own, and all-or-nothing comes from taking back the rest.
      const pending: Promise<Step>[] = [];
      for (const subject of subjects) {
        const rpm = limitOf(subject.limits, 'rpm');
        const tpm = limitOf(subject.limits, 'tpm');
        const concurrency = limitOf(subject.limits, 'concurrency');
        if (rpm) pending.push(countIn(windows, 'rpm', subject, rpm, 1));
        if (tpm) pending.push(countIn(windows, 'tpm', subject, tpm, tokens));
        if (concurrency) {
          pending.push(slots.acquire(subject.key, concurrency).then((free) => ({ type: 'slot', subject, limit: concurrency, free })));
        }
      }
      const settled = await Promise.allSettled(pending);
      const steps = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const failed = settled.find((r) => r.status === 'rejected');
      const refused = steps.filter((s) => !granted(s));
      if (failed || refused.length > 0) {
        // Awaited before answering, so the refused request's counts are gone when the client hears back.
        await settleAll(steps, (s) => undo(windows, s));
        if (failed) return unavailable(failed.reason);
        throw refusalError(refused.map(refusalOf), tightest(states(steps, 'rpm', true)), tightest(states(steps, 'tpm', true)));
      }

      let released = false;
      return {
        headers: rateHeaders(tightest(states(steps, 'rpm', false)), tightest(states(steps, 'tpm', false))),
        async release(actualTokens: number): Promise<void> {
          if (released) return; // exactly once, even when the caller's paths overlap
          released = true;
          const used = Number.isFinite(actualTokens) ? wholeTokens(actualTokens) : tokens;
          await settleAll(steps, (s) => settle(windows, s, used));
        },
      };
    },

    async close(): Promise<void> {
      slots.close(); // the Redis client is the caller's to quit
    },
  };
}

function throttled(log: (err: unknown) => void): (err: unknown) => void {
  let last = -Infinity;
  return (err) => {
    const now = Date.now();
    if (now - last < LOG_EVERY_MS) return;
    last = now;
    log(err);
  };
}

/** Redis client errors name the address and the failure, never the password. */
function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

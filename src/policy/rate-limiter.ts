import type { Redis } from 'ioredis';
import { SoakpError } from '../shared/index.js';
import type { Logger } from '../shared/index.js';
import { memorySlots, redisSlots } from './rate-limit-concurrency.js';
import { rateHeaders, refusalError } from './rate-limit-headers.js';
import { countIn, granted, limitOf, refusalOf, settle, tightestState, undo, wholeTokens, type Step, type Windows } from './rate-limit-steps.js';
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
const UNCOUNTED: Admission = { headers: {}, release: () => {} };

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
  function settleAll(steps: readonly Step[], use: (step: Step) => void | Promise<void>): void | Promise<void> {
    if (!redis) {
      for (const s of steps) void use(s); // in memory every step is synchronous and cannot fail
      return;
    }
    return Promise.allSettled(steps.map(use)).then((results) => {
      for (const r of results) if (r.status === 'rejected') logRelease(r.reason);
    });
  }

  function unavailable(err: unknown): Admission {
    logAdmit(err);
    if (failOpen) return UNCOUNTED;
    throw new SoakpError('limiter_unavailable', 'The rate limiter is unavailable; try again shortly.', {
      cause: err,
      headers: { 'retry-after': '1' },
    });
  }

  /** Every limit of every subject: synchronous steps in memory, promises with Redis. */
  function count(subjects: readonly RateLimitSubject[], tokens: number): Array<Step | Promise<Step>> {
    const pending: Array<Step | Promise<Step>> = [];
    for (const subject of subjects) {
      const rpm = limitOf(subject.limits, 'rpm');
      const tpm = limitOf(subject.limits, 'tpm');
      const concurrency = limitOf(subject.limits, 'concurrency');
      if (rpm) pending.push(countIn(windows, 'rpm', subject, rpm, 1));
      if (tpm) pending.push(countIn(windows, 'tpm', subject, tpm, tokens));
      if (concurrency) {
        const free = slots.acquire(subject.key, concurrency);
        const slot = (f: Awaited<typeof free>): Step => ({ type: 'slot', subject, limit: concurrency, free: f });
        pending.push(free instanceof Promise ? free.then(slot) : slot(free));
      }
    }
    return pending;
  }

  /** All or nothing: a refusal takes back every step (awaited, so the counts are gone when the client hears back). */
  function decide(steps: readonly Step[], tokens: number): Admission | Promise<Admission> {
    let all = true;
    for (const s of steps) all &&= granted(s);
    if (!all) {
      const refused = steps.filter((s) => !granted(s));
      const error = refusalError(refused.map(refusalOf), tightestState(steps, 'rpm', true), tightestState(steps, 'tpm', true));
      const undone = settleAll(steps, (s) => undo(windows, s));
      if (undone) return undone.then(() => Promise.reject(error));
      throw error;
    }
    let released = false;
    return {
      headers: steps.length === 0 ? NO_HEADERS : rateHeaders(tightestState(steps, 'rpm', false), tightestState(steps, 'tpm', false)),
      release(actualTokens: number): void | Promise<void> {
        if (released) return; // exactly once, even when the caller's paths overlap
        released = true;
        const used = Number.isFinite(actualTokens) ? wholeTokens(actualTokens) : tokens;
        return settleAll(steps, (s) => settle(windows, s, used));
      },
    };
  }

  const limiter: RateLimiter = {
    admitNow: redis
      ? undefined
      : (subjects, estimatedTokens) => {
          const tokens = wholeTokens(estimatedTokens);
          return decide(count(subjects, tokens) as Step[], tokens) as Admission;
        },

    async admit(subjects: readonly RateLimitSubject[], estimatedTokens: number): Promise<Admission> {
      if (limiter.admitNow) return limiter.admitNow(subjects, estimatedTokens);
      const tokens = wholeTokens(estimatedTokens);
      // Every limit of every subject is tried at once (one round trip to Redis, not six);
      // each try is atomic on its own, and all-or-nothing comes from taking back the rest.
      const settled = await Promise.allSettled(count(subjects, tokens));
      const steps = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) {
        await settleAll(steps, (s) => undo(windows, s));
        return unavailable(failed.reason);
      }
      return decide(steps, tokens);
    },

    async close(): Promise<void> {
      slots.close(); // the Redis client is the caller's to quit
    },
  };
  return limiter;
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

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

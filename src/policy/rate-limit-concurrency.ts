import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Frees one slot; calling it again does nothing, so a double release cannot free two. */
export type FreeSlot = () => void | Promise<void>;

/** Requests in flight per key, with check-and-take in one atomic step. */
export interface ConcurrencySlots {
  /** Takes a slot when fewer than `limit` are held; null when all are taken. Synchronous in memory. */
  acquire(key: string, limit: number): FreeSlot | null | Promise<FreeSlot | null>;
  close(): void;
}

/** One process: a counter per key; JavaScript's single thread makes check-and-take atomic. */
export function memorySlots(): ConcurrencySlots {
  const held = new Map<string, number>();
  return {
    acquire(key, limit) {
      const n = held.get(key) ?? 0;
      if (n >= limit) return null;
      held.set(key, n + 1);
      return once(() => {
        const left = (held.get(key) ?? 1) - 1;
        if (left > 0) held.set(key, left);
        else held.delete(key); // no entry for idle keys, so the map stays as small as the traffic
      });
    },
    close: () => held.clear(),
  };
}

// A sorted set per key: one member per request, scored by Redis's own clock (instances'
// clocks may differ) when last confirmed alive. Members older than SLOT_TTL_MS are dropped
// before counting, so a crashed instance's slots come back after at most that long even
// while other instances keep the key busy (a plain INCR counter with an expiry would not).
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;
// Only a member still present is refreshed: one already dropped as stale is not brought back.
const REFRESH = `
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;

const SLOT_TTL_MS = 10 * 60_000;

/**
 * Slots shared by every instance on one Redis. This instance re-confirms the slots it holds
 * every few minutes, so a long stream or realtime session keeps its slot past SLOT_TTL_MS.
 */
export function redisSlots(redis: Redis, keyPrefix: string, onError: (err: unknown) => void): ConcurrencySlots {
  const held = new Map<string, string>(); // member → redis key
  const heartbeat = setInterval(() => {
    for (const [member, key] of held) redis.eval(REFRESH, 1, key, SLOT_TTL_MS, member).catch(onError);
  }, SLOT_TTL_MS / 3);
  heartbeat.unref(); // never what keeps the process alive

  return {
    async acquire(key, limit) {
      const redisKey = `${keyPrefix}:${key}`;
      const member = randomUUID();
      const took = await redis.eval(ACQUIRE, 1, redisKey, SLOT_TTL_MS, limit, member);
      if (took !== 1) return null;
      held.set(member, redisKey);
      return once(async () => {
        held.delete(member);
        await redis.zrem(redisKey, member);
      });
    },
    close: () => clearInterval(heartbeat),
  };
}

function once(fn: () => void | Promise<void>): FreeSlot {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    return fn();
  };
}

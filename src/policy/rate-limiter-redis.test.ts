import { randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Limits } from '../domain/policy.js';
import { SoakpError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { createRateLimiter } from './rate-limiter.js';
import type { Admission, RateLimiter, RateLimitSubject } from './ports.js';

const HOST = '127.0.0.1';
const PORT = 6379;
const required = process.env.SOAKP_TEST_REQUIRE_SERVICES === '1';

async function reachable(): Promise<boolean> {
  const probe = new Redis({ host: HOST, port: PORT, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  probe.on('error', () => {}); // the outcome is the answer; the event would only print
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

const available = await reachable();
if (!available && !required) {
  console.warn(`Redis at ${HOST}:${PORT} is not reachable: skipping the Redis rate limiter tests (set SOAKP_TEST_REQUIRE_SERVICES=1 to fail instead).`);
}

/** Log lines, parsed, so the tests can see what was logged about fail-open/closed. */
const lines: Array<Record<string, unknown>> = [];
const logger = createLogger('info', { stream: { write: (line: string) => void lines.push(JSON.parse(line)) } });
const prefix = `soakp-test:${randomUUID()}`;
const clients: Redis[] = [];
const limiters: RateLimiter[] = [];

function client(options: RedisOptions = { host: HOST, port: PORT }): Redis {
  const c = new Redis(options);
  c.on('error', () => {}); // a dead client's connection errors are expected; admits report them
  clients.push(c);
  return c;
}

function limiter(redis: Redis, failOpen?: boolean): RateLimiter {
  const l = createRateLimiter({ redis, keyPrefix: prefix, logger, failOpen });
  limiters.push(l);
  return l;
}

const token = (limits: Limits): RateLimitSubject => ({ key: `token:${randomUUID()}`, limits });

async function burst(n: number, admit: (i: number) => Promise<Admission>) {
  const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => admit(i)));
  return {
    admitted: results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
    refused: results.flatMap((r) => (r.status === 'rejected' ? [r.reason as SoakpError] : [])),
  };
}

async function failure(p: Promise<unknown>): Promise<SoakpError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(SoakpError);
  return err as SoakpError;
}

describe.skipIf(!available && !required)('rate limiter (Redis, shared by two instances)', () => {
  let one: RateLimiter;
  let two: RateLimiter;

  beforeAll(() => {
    if (!available) throw new Error(`Redis at ${HOST}:${PORT} is required (SOAKP_TEST_REQUIRE_SERVICES=1) but not reachable.`);
    // Two clients, as two server processes would each have their own.
    one = limiter(client());
    two = limiter(client());
  });

  afterAll(async () => {
    await Promise.all(limiters.map((l) => l.close()));
    const cleaner = clients[0];
    if (available && cleaner) {
      const keys = await cleaner.keys(`${prefix}:*`);
      if (keys.length > 0) await cleaner.del(...keys);
    }
    for (const c of clients) c.disconnect();
  });

  it('admits exactly rpm of 100 parallel requests spread over both instances', async () => {
    const subject = [token({ rpm: 10 })];
    const { admitted, refused } = await burst(100, (i) => (i % 2 ? one : two).admit(subject, 0));
    expect(admitted).toHaveLength(10);
    expect(refused).toHaveLength(90);
    for (const err of refused) {
      expect(err.code).toBe('rate_limited');
      expect(Number(err.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(err.headers['x-ratelimit-limit-requests']).toBe('10');
      expect(err.headers['x-ratelimit-remaining-requests']).toBe('0');
    }
  });

  it('shares concurrency slots: exactly the limit, and one more after one release', async () => {
    const subject = [token({ concurrency: 3 })];
    const first = await burst(20, (i) => (i % 2 ? one : two).admit(subject, 0));
    expect(first.admitted).toHaveLength(3);
    const [a] = first.admitted;
    await a?.release(0);
    await a?.release(0); // a double release must not free a second slot
    const second = await burst(10, (i) => (i % 2 ? one : two).admit(subject, 0));
    expect(second.admitted).toHaveLength(1);
  });

  it('shares token windows, with the difference given back on release', async () => {
    const subject = [token({ tpm: 1000 })];
    const a = await one.admit(subject, 600);
    await failure(two.admit(subject, 500));
    await a.release(200); // 400 back: 800 left
    const b = await two.admit(subject, 800);
    expect(b.headers['x-ratelimit-remaining-tokens']).toBe('0');
  });

  it('leaves no partial count when another subject refuses', async () => {
    const t = token({ rpm: 2 });
    const u = token({ rpm: 1 });
    await one.admit([t, u], 0);
    await failure(two.admit([t, u], 0));
    await two.admit([t], 0); // the token's second request: its count went back
  });

  it('fails closed with 503 limiter_unavailable when Redis cannot be reached, logging it once', async () => {
    const dead = client({ host: HOST, port: 1, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    const closed = limiter(dead);
    const before = lines.length;
    for (let i = 0; i < 2; i++) {
      const err = await failure(closed.admit([token({ rpm: 10, concurrency: 2 })], 5));
      expect(err.code).toBe('limiter_unavailable');
      expect(err.status).toBe(503);
    }
    const logged = lines.slice(before).filter((l) => l.msg === 'rate limiter backend unavailable: failing closed');
    expect(logged).toHaveLength(1); // throttled: an outage does not flood the log
    expect(logged[0]).toMatchObject({ failOpen: false, level: 50 });
  });

  it('fails open when so configured: admitted, uncounted, and logged', async () => {
    const dead = client({ host: HOST, port: 1, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    const open = limiter(dead, true);
    const a = await open.admit([token({ rpm: 1, tpm: 10, concurrency: 1 })], 5);
    expect(a.headers).toEqual({});
    await a.release(5);
    expect(lines.some((l) => l.msg === 'rate limiter backend unavailable: failing open' && l.failOpen === true)).toBe(true);
  });
});

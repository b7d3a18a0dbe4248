import { describe, expect, it } from 'vitest';
import { packageInternals } from '../../test/helpers/package-internals.js';

// rate-limiter-flexible-core.ts loads two private files of the package: these checks fail,
// naming the version, as soon as an install changes what it relies on.
const rlf = packageInternals('rate-limiter-flexible', 'src/policy/rate-limiter-flexible-core.ts');
const FILES = ['rate-limiter-flexible/lib/RateLimiterRedis.js', 'rate-limiter-flexible/lib/component/MemoryStorage/MemoryStorage.js'];

describe('rate-limiter-flexible internals (rate-limiter-flexible-core.ts)', () => {
  it('package.json pins the exact version installed', () => {
    expect(rlf.wanted, rlf.says(`package.json asks for ${rlf.wanted}, not this exact version`)).toBe(rlf.version);
  });

  it('still has the private files loaded', () => {
    for (const file of FILES) expect(rlf.resolves(file), rlf.says(`${file} is gone`)).toBe(true);
  });

  it('MemoryStorage counts a window synchronously', async () => {
    const { MemoryStorage } = await import('./rate-limiter-flexible-core.js');
    const store = new MemoryStorage();
    expect(typeof store.incrby, rlf.says('MemoryStorage has no incrby')).toBe('function');
    const first = store.incrby('k', 2, 60);
    expect(first, rlf.says('MemoryStorage.incrby no longer answers at once')).not.toBeInstanceOf(Promise);
    expect(first.consumedPoints, rlf.says('incrby no longer returns the count as consumedPoints')).toBe(2);
    expect(store.incrby('k', 3, 60).consumedPoints, rlf.says('incrby no longer adds to the count')).toBe(5);
    expect(first.msBeforeNext, rlf.says('incrby no longer returns msBeforeNext')).toBeGreaterThan(50_000);
    expect(first.msBeforeNext).toBeLessThanOrEqual(60_000);
  });

  it('RateLimiterRedis has the methods used: consume, reward, penalty', async () => {
    const { RateLimiterRedis } = await import('./rate-limiter-flexible-core.js');
    for (const method of ['consume', 'reward', 'penalty'] as const) {
      expect(typeof RateLimiterRedis.prototype[method], rlf.says(`RateLimiterRedis has no ${method}()`)).toBe('function');
    }
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { isoTime } from './logger.js';

describe('isoTime: pino time field, built once per millisecond and second', () => {
  afterEach(() => vi.useRealTimers());

  it('writes what toISOString writes, for every millisecond width and across seconds', () => {
    vi.useFakeTimers();
    const base = Date.UTC(2026, 11, 1, 23, 59, 58);
    for (const offset of [0, 1, 9, 10, 99, 100, 999, 1000, 1001, 1999, 2000, 2005, 86_400_000 + 42]) {
      vi.setSystemTime(base + offset);
      expect(isoTime()).toBe(`,"time":"${new Date(base + offset).toISOString()}"`);
      expect(isoTime()).toBe(`,"time":"${new Date(base + offset).toISOString()}"`); // the cached text
    }
    vi.setSystemTime(base - 1); // the clock stepped back
    expect(isoTime()).toBe(`,"time":"${new Date(base - 1).toISOString()}"`);
  });
});

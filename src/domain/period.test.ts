import { describe, expect, it } from 'vitest';
import { periodKey } from './policy.js';

describe('periodKey', () => {
  it('names the UTC day and month of any time, in any order of asking (its cache follows)', () => {
    const times = [
      [Date.UTC(2026, 10, 23, 23, 59, 59, 999), '2026-11-23', '2026-11'],
      [Date.UTC(2026, 10, 24, 0, 0, 0, 0), '2026-11-24', '2026-11'],
      [Date.UTC(2026, 10, 23, 0, 0, 0, 0), '2026-11-23', '2026-11'],
      [Date.UTC(2026, 11, 31, 23, 0), '2026-12-31', '2026-12'],
      [Date.UTC(2027, 0, 1, 0, 0), '2027-01-01', '2027-01'],
      [Date.UTC(2026, 10, 30, 12), '2026-11-30', '2026-11'],
    ] as const;
    for (const [at, day, month] of times) {
      expect(periodKey('day', at)).toBe(day);
      expect(periodKey('month', at)).toBe(month);
      expect(periodKey('total', at)).toBe('total');
    }
  });
});

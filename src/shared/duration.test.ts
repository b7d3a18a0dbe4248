import { describe, expect, it } from 'vitest';
import { SoakpError } from './errors.js';
import { parseDuration } from './duration.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SoakpError);
    return (err as SoakpError).code;
  }
  throw new Error('expected a SoakpError, but nothing was thrown');
}

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['15m', 15 * 60_000],
    ['12h', 12 * 3_600_000],
    ['1d', 86_400_000],
    ['30d', 30 * 86_400_000],
    ['2w', 14 * 86_400_000],
    ['1y', 365 * 86_400_000],
    ['007d', 7 * 86_400_000],
    [' 30d ', 30 * 86_400_000],
    ['999999s', 999_999_000],
  ])('parses %j', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ['0d'], ['0s'], ['000h'], ['-1d'], ['+1d'], ['1.5h'], ['.5h'], ['30x'], ['30'], ['d'], [''], ['   '],
    ['30 d'], ['1d2h'], ['1e3s'], ['1000000s'], ['３０d'], ['30d\n1d'], ['Infinityd'], ['NaNd'],
  ])('refuses %j with invalid_duration', (text) => {
    expect(codeOf(() => parseDuration(text))).toBe('invalid_duration');
  });

  it('quotes at most 40 characters of the input back', () => {
    const long = `${'9'.repeat(500)}x`;
    try {
      parseDuration(long);
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain('9'.repeat(41));
    }
  });
});

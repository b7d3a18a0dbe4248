import { SoakpError } from './errors.js';

const UNITS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

/** Parses `90s`, `15m`, `12h`, `30d`, `2w`, `1y` into milliseconds; anything else is refused. */
export function parseDuration(text: string): number {
  const match = /^(\d{1,6})([smhdwy])$/.exec(text.trim());
  if (!match) {
    throw new SoakpError(
      'invalid_duration',
      `"${text.slice(0, 40)}" is not a duration; use a number and a unit, e.g. 90s, 15m, 12h, 30d, 2w, 1y.`,
    );
  }
  const amount = Number(match[1]);
  if (amount <= 0) throw new SoakpError('invalid_duration', 'A duration must be greater than zero.');
  return amount * (UNITS[match[2] as string] as number);
}

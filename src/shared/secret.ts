import { inspect } from 'node:util';

const REDACTED = '[secret]';

/**
 * A value that must never be printed. Every way JavaScript turns an object into text —
 * template strings, JSON.stringify, util.inspect (console.log, pino) — yields `[secret]`;
 * only an explicit `reveal()` gives the value, which makes each use greppable.
 */
export class Secret<T extends string | Buffer = string> {
  readonly #value: T;

  constructor(value: T) {
    this.#value = value;
  }

  reveal(): T {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.toPrimitive](): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

/** A masked form for listings: the first 3 and last 4 characters when the key is long enough. */
export function maskKey(key: string): string {
  if (key.length < 12) return '…';
  return `${key.slice(0, 3)}…${key.slice(-4)}`;
}

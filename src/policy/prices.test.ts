import { describe, expect, it } from 'vitest';
import { DEFAULT_PRICES, costMicros, priceOf, priceTable } from './prices.js';

describe('priceOf', () => {
  const table = priceTable({ 'my-model': { input: 1, output: 2 } });

  it('finds a model by name, by name without a dated suffix, and an operator’s own', () => {
    expect(priceOf(table, 'gpt-4o')).toEqual(DEFAULT_PRICES['gpt-4o']);
    expect(priceOf(table, 'gpt-4o-2024-08-06')).toEqual(DEFAULT_PRICES['gpt-4o']);
    expect(priceOf(table, 'my-model')).toEqual({ input: 1, output: 2 });
    expect(priceOf(table, null)).toBeUndefined();
  });

  it('finds no price for names that only an object’s prototype has', () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'constructor-2024-01-01']) {
      expect(priceOf(table, name), name).toBeUndefined();
      expect(costMicros(priceOf(table, name), 10, 10)).toBe(0);
    }
  });
});

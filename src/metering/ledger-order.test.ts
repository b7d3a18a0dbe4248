import { describe, expect, it } from 'vitest';
import type { UsageRecord } from '../domain/usage.js';
import { RowOrder } from './ledger-order.js';
import type { Ledger } from './ports.js';

const row = (status: number) => ({ status }) as UsageRecord;

describe('RowOrder', () => {
  it('records rows in the order their places were taken, though some come later, and skips a place left empty', () => {
    const recorded: number[] = [];
    const ledger: Ledger = { record: (r) => void recorded.push(r.status), flush: async () => {}, close: async () => {} };
    const order = new RowOrder(ledger);
    order.record(row(1)); // none waits: at once
    expect(recorded).toEqual([1]);
    const second = order.later();
    order.record(row(3));
    const fourth = order.later();
    order.record(row(5));
    expect(recorded).toEqual([1]); // all behind the second
    fourth(row(4));
    expect(recorded).toEqual([1]);
    second(row(2));
    expect(recorded).toEqual([1, 2, 3, 4, 5]);
    const empty = order.later();
    order.record(row(7));
    empty(undefined);
    empty(row(6)); // a place is filled once
    order.record(row(8));
    expect(recorded).toEqual([1, 2, 3, 4, 5, 7, 8]);
  });
});

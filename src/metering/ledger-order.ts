import type { UsageRecord } from '../domain/index.js';
import type { Ledger } from './ports.js';

/**
 * Keeps the ledger's rows in the order their requests finished, though some take longer to
 * work out than those after them (text counted off the event loop while the tokenizer loads).
 * A row that is ready while none waits goes straight to the ledger: the usual case costs a
 * length check.
 */
export class RowOrder {
  readonly #waiting: Array<{ row: UsageRecord | undefined; ready: boolean }> = [];

  constructor(private readonly ledger: Ledger) {}

  /** A row ready now: recorded at once, or behind the rows still being worked out. */
  record(row: UsageRecord): void {
    if (this.#waiting.length === 0) this.ledger.record(row);
    else this.#waiting.push({ row, ready: true });
  }

  /** Holds a place for a row that comes later; call what it returns with the row (undefined: none comes). */
  later(): (row: UsageRecord | undefined) => void {
    const place: { row: UsageRecord | undefined; ready: boolean } = { row: undefined, ready: false };
    this.#waiting.push(place);
    return (row) => {
      if (place.ready) return;
      place.row = row;
      place.ready = true;
      while (this.#waiting[0]?.ready) {
        const next = this.#waiting.shift()?.row;
        if (next) this.ledger.record(next);
      }
    };
  }
}

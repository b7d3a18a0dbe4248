import type { Amount } from '../domain/index.js';
import type { BudgetHold, BudgetSettlement } from '../store/index.js';

type Counts = { tokens: number; micros: number };

interface Entry {
  readonly scope: string;
  readonly period: string;
  /** Reserved for this instance in the store (confirmed), less the releases that landed. */
  readonly tally: Counts;
  /** The hold last written to the store. */
  stored: Amount;
  /** Released by a reclaim already: that much of the next releases is not sent again. */
  readonly owed: Counts;
}

export interface Pending {
  readonly scope: string;
  readonly period: string;
  readonly reserved: Amount;
  readonly actual: Amount;
}

/** A batch as the store is to take it; `landed()` once it committed. */
export interface Batch {
  readonly settlements: BudgetSettlement[];
  readonly holds: BudgetHold[];
  landed(): void;
}

const NONE: Amount = { tokens: 0, micros: 0 };
const min = (a: Amount, b: Amount): Amount => ({ tokens: Math.min(a.tokens, b.tokens), micros: Math.min(a.micros, b.micros) });
const less = (a: Amount, b: Amount): Amount => ({ tokens: Math.max(0, a.tokens - b.tokens), micros: Math.max(0, a.micros - b.micros) });
const isZero = (a: Amount) => a.tokens === 0 && a.micros === 0;
const same = (a: Amount, b: Amount) => a.tokens === b.tokens && a.micros === b.micros;
const set = (to: Counts, a: Amount) => void ((to.tokens = a.tokens), (to.micros = a.micros));

/**
 * What this instance holds reserved in the store on each budget, and the copy the store keeps
 * (its holds) for a live instance to release should this one die. Reservations add to the tally
 * once they committed, and reach the copy with the next batch; releases change both in one
 * transaction. So the copy never exceeds what the instance holds, and releasing it frees no more
 * than the instance held: a crash leaves reserved what it reserved since its last batch.
 */
export class Holdings {
  readonly #entries = new Map<string, Entry>();

  /** Nothing held, nothing stored, nothing owed. */
  get empty(): boolean {
    return this.#entries.size === 0;
  }

  /** The store reserved `a` for this instance (the conditional update committed). */
  reserved(scope: string, period: string, key: string, a: Amount): void {
    const e = this.#entries.get(key) ?? { scope, period, tally: { tokens: 0, micros: 0 }, stored: NONE, owed: { tokens: 0, micros: 0 } };
    e.tally.tokens += a.tokens;
    e.tally.micros += a.micros;
    this.#entries.set(key, e);
  }

  /** The settlements of `pending` (by key), less what a reclaim released already, and every hold that changes. */
  batch(pending: ReadonlyArray<readonly [string, Pending]>): Batch {
    const released = new Map<string, { release: Amount; owed: Amount }>();
    const settlements = pending.map(([key, p]): BudgetSettlement => {
      const e = this.#entries.get(key);
      const owed = e ? min(e.owed, p.reserved) : NONE;
      const release = less(p.reserved, owed);
      released.set(key, { release, owed });
      return { scope: p.scope, period: p.period, reserved: release, actual: p.actual };
    });
    const holds: Array<BudgetHold & { entry: Entry }> = [];
    for (const [key, e] of this.#entries) {
      const amount = less(e.tally, released.get(key)?.release ?? NONE);
      if (!same(amount, e.stored)) holds.push({ scope: e.scope, period: e.period, amount, entry: e });
    }
    return {
      settlements,
      holds: holds.map(({ scope, period, amount }) => ({ scope, period, amount })),
      landed: () => {
        for (const [key, { release, owed }] of released) {
          const e = this.#entries.get(key);
          if (!e) continue;
          set(e.tally, less(e.tally, release));
          set(e.owed, less(e.owed, owed));
        }
        for (const h of holds) h.entry.stored = h.amount;
        for (const [key, e] of this.#entries) if (isZero(e.tally) && isZero(e.stored) && isZero(e.owed)) this.#entries.delete(key);
      },
    };
  }

  /** A live instance released this one's stored holds (presuming it dead); returns them. */
  reclaimed(): BudgetHold[] {
    const gone: BudgetHold[] = [];
    for (const e of this.#entries.values()) {
      if (isZero(e.stored)) continue;
      gone.push({ scope: e.scope, period: e.period, amount: e.stored });
      set(e.tally, less(e.tally, e.stored));
      e.owed.tokens += e.stored.tokens;
      e.owed.micros += e.stored.micros;
      e.stored = NONE;
    }
    return gone;
  }
}

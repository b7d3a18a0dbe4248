import type { Amount } from '../domain/index.js';
import type { Logger } from '../shared/index.js';
import type { BudgetRepo } from '../store/index.js';
import type { Holdings, Pending } from './budget-holds.js';

type Counts = { tokens: number; micros: number };

/**
 * Settles budgets in batches, off the request path. Delaying a settlement is safe: until it
 * lands, the budget counts the request's worst case, which is never less than what it used —
 * so concurrent requests are refused early at worst, never let past the limit. Settlements for
 * the same budget are summed, so a busy budget costs one write per flush, not one per request.
 * Each batch is one transaction that also writes this instance's holds and heartbeat.
 */
export class BudgetSettler {
  readonly #pending = new Map<string, Pending & { reserved: Counts; actual: Counts }>();
  readonly #timer: NodeJS.Timeout;
  #flushing: Promise<void> = Promise.resolve();
  #joined = false;
  #beatAt = 0;

  constructor(
    private readonly repo: BudgetRepo,
    private readonly logger: Logger,
    private readonly holdings: Holdings,
    /** This instance's name in the store. */
    readonly instance: string,
    /** Called when a live instance has released this one's holds: its pools are no longer reserved. */
    private readonly onReclaimed: () => void,
    flushMs = 200,
  ) {
    this.#timer = setInterval(() => void this.flush(), flushMs);
    this.#timer.unref();
  }

  /** `key` names the (scope, period) pair; a caller that settles the pair often passes it made once. */
  add(scope: string, period: string, reserved: Amount, actual: Amount, key = settlementKey(scope, period)): void {
    const p = this.#pending.get(key) ?? { scope, period, reserved: { tokens: 0, micros: 0 }, actual: { tokens: 0, micros: 0 } };
    p.reserved.tokens += reserved.tokens;
    p.reserved.micros += reserved.micros;
    p.actual.tokens += actual.tokens;
    p.actual.micros += actual.micros;
    this.#pending.set(key, p);
  }

  /**
   * Writes every settlement added so far and the holds that changed (with `beat`, the heartbeat
   * even when there is nothing else); they are kept and retried if the store fails.
   */
  flush(beat = false): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#write(beat));
    return this.#flushing;
  }

  /** Settlements not yet written. */
  get pending(): number {
    return this.#pending.size;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }

  async #write(beat: boolean): Promise<void> {
    // A second pass only after registering: the first write of this instance, or one after a reclaim.
    for (let pass = 0; pass < 2; pass++) {
      const pending = [...this.#pending];
      const batch = this.holdings.batch(pending);
      if (pending.length === 0 && batch.holds.length === 0 && !beat) return;
      this.#pending.clear();
      const written = await this.repo.settleHeld(this.instance, this.#nextBeat(), batch.settlements, batch.holds).catch((err: unknown) => ({ err }));
      if (written === true) return batch.landed();
      this.#restore(pending);
      if (written !== false) return this.logger.error(written, 'budget settlement failed; will retry');
      if (!(await this.#join())) return; // false: this instance is not registered
    }
  }

  /** Registers this instance: at its first write, or after a live instance presumed it dead. */
  async #join(): Promise<boolean> {
    if (this.#joined) {
      this.#joined = false;
      const released = this.holdings.reclaimed();
      this.logger.warn({ instance: this.instance, budgets: released.length }, 'another instance presumed this one dead and released its budget reservations; giving back the pools and registering again');
      this.onReclaimed();
    }
    try {
      await this.repo.join(this.instance, this.#nextBeat());
      this.#joined = true;
      return true;
    } catch (err) {
      this.logger.error({ err }, 'could not register this instance for budget settlements; will retry');
      return false;
    }
  }

  #restore(pending: ReadonlyArray<readonly [string, Pending]>): void {
    for (const [key, p] of pending) this.add(p.scope, p.period, p.reserved, p.actual, key);
  }

  /** Strictly increasing, so that a live instance's row always changes between beats. */
  #nextBeat(): number {
    this.#beatAt = Math.max(Date.now(), this.#beatAt + 1);
    return this.#beatAt;
  }
}

export function settlementKey(scope: string, period: string): string {
  return `${scope}\u0000${period}`;
}

import type { Amount } from '../domain/index.js';
import type { Logger } from '../shared/index.js';
import type { BudgetRepo } from '../store/index.js';

interface Pending {
  scope: string;
  period: string;
  reserved: { tokens: number; micros: number };
  actual: { tokens: number; micros: number };
}

/**
 * Settles budgets in batches, off the request path. Delaying a settlement is safe: until it
 * lands, the budget counts the request's worst case, which is never less than what it used —
 * so concurrent requests are refused early at worst, never let past the limit. Settlements for
 * the same budget are summed, so a busy budget costs one write per flush, not one per request.
 */
export class BudgetSettler {
  readonly #pending = new Map<string, Pending>();
  readonly #timer: NodeJS.Timeout;
  #flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly repo: BudgetRepo,
    private readonly logger: Logger,
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

  /** Writes every settlement added so far; they are kept and retried if the store fails. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      if (this.#pending.size === 0) return;
      const batch = [...this.#pending.values()];
      this.#pending.clear();
      for (const [i, p] of batch.entries()) {
        try {
          await this.repo.settle(p.scope, p.period, p.reserved, p.actual);
        } catch (err) {
          for (const q of batch.slice(i)) this.add(q.scope, q.period, q.reserved, q.actual);
          this.logger.error({ err }, 'budget settlement failed; will retry');
          return;
        }
      }
    });
    return this.#flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}

export function settlementKey(scope: string, period: string): string {
  return `${scope}\u0000${period}`;
}

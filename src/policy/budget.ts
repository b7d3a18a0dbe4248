import { type Budget, periodKey } from '../domain/policy.js';
import type { Amount } from '../domain/usage.js';
import { SoakpError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { BudgetRepo } from '../store/ports.js';
import { BudgetSettler } from './budget-settler.js';
import { type PriceTable, costMicros, priceOf } from './prices.js';

const PERIOD_WORD = { day: 'daily ', month: 'monthly ', total: '' } as const;

export interface BudgetSubject {
  /** `token:<id>` or `user:<id>`. */
  readonly scope: string;
  readonly budget: Budget;
}

/** A reservation held while a request runs; settled once with what it really used. */
export interface Reservation {
  /** Completion tokens the request may use before a stream is cut off; undefined without budgets. */
  readonly completionCeiling: number | undefined;
  settle(promptTokens: number, completionTokens: number, model: string | null): Promise<number>;
}

export interface Worst {
  model: string | null;
  promptTokens: number;
  completionTokens: number;
}

/**
 * Token and cost budgets that concurrent requests cannot overrun: before forwarding, the
 * worst case (prompt + max completion) is reserved on every budget that applies — all or
 * nothing, by conditional updates in the store — and afterwards settled to the real usage.
 */
export class Budgets {
  readonly #settler: BudgetSettler;

  constructor(
    private readonly repo: BudgetRepo,
    private readonly prices: PriceTable,
    logger: Logger,
  ) {
    this.#settler = new BudgetSettler(repo, logger);
  }

  /** Writes pending settlements (the server calls it on shutdown). */
  close(): Promise<void> {
    return this.#settler.close();
  }

  async reserve(subjects: readonly BudgetSubject[], worst: Worst, now = Date.now()): Promise<Reservation> {
    const price = priceOf(this.prices, worst.model);
    if (subjects.some((s) => s.budget.usd !== undefined) && !price) {
      throw new SoakpError('unknown_model_price', `No price is configured for model "${String(worst.model).slice(0, 100)}", so a USD budget cannot be applied; add it under \`prices\` in the config.`);
    }
    const amount: Amount = { tokens: worst.promptTokens + worst.completionTokens, micros: costMicros(price, worst.promptTokens, worst.completionTokens) };
    const held: Array<{ scope: string; period: string }> = [];
    for (const s of subjects) {
      const period = periodKey(s.budget.period, now);
      const limit = { tokens: s.budget.tokens, micros: s.budget.usd === undefined ? undefined : Math.floor(s.budget.usd * 1e6) };
      if (!(await this.repo.reserve(s.scope, period, amount, limit))) {
        for (const h of held) this.#settler.add(h.scope, h.period, amount, { tokens: 0, micros: 0 });
        throw new SoakpError('insufficient_quota', `You exceeded your current quota: the ${PERIOD_WORD[s.budget.period]}budget of this ${s.scope.split(':')[0]} is spent.`);
      }
      held.push({ scope: s.scope, period });
    }
    let settled = false;
    return {
      completionCeiling: subjects.length > 0 ? worst.completionTokens : undefined,
      settle: async (promptTokens, completionTokens, model) => {
        const cost = costMicros(priceOf(this.prices, model ?? worst.model) ?? price, promptTokens, completionTokens);
        if (settled) return cost;
        settled = true;
        const actual = { tokens: promptTokens + completionTokens, micros: cost };
        for (const h of held) this.#settler.add(h.scope, h.period, amount, actual);
        return cost;
      },
    };
  }
}

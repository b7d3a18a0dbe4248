import { type Budget, periodKey } from '../domain/index.js';
import type { Amount } from '../domain/index.js';
import { SoakpError } from '../shared/index.js';
import type { Logger } from '../shared/index.js';
import type { BudgetRepo } from '../store/index.js';
import { Holdings } from './budget-holds.js';
import { Heartbeat, instanceName } from './budget-instances.js';
import { type Lease, Leases, type Limit } from './budget-lease.js';
import { BudgetSettler } from './budget-settler.js';
import { type PriceTable, costMicros, priceOf } from './prices.js';

const PERIOD_WORD = { day: 'daily ', month: 'monthly ', total: '' } as const;

type Price = { input: number; output: number };

export interface BudgetSubject {
  /** `token:<id>` or `user:<id>`. */
  readonly scope: string;
  readonly budget: Budget;
}

/** A reservation held while a request runs; settled once with what it really used. */
export interface Reservation {
  /** Completion tokens the request may use before a stream is cut off; undefined without budgets. */
  readonly completionCeiling: number | undefined;
  /** Settles (once) and returns the cost in micro-dollars; synchronous: the store write is batched. */
  settle(promptTokens: number, completionTokens: number, model: string | null): number;
}

export interface Worst {
  model: string | null;
  promptTokens: number;
  completionTokens: number;
}

export interface BudgetOptions {
  /** A lease fetches at most this fraction of a budget's limit at once (64: 1/64). */
  leaseFraction?: number;
  /** A pool unused for this long is given back to the store, by a sweep every `idleMs` (2 s). */
  idleMs?: number;
  /**
   * An instance whose heartbeat has not changed for this long (60 s) is presumed dead and what
   * it held reserved is released; this one beats every quarter of it.
   */
  instanceTimeoutMs?: number;
  /** This instance's name in the store (host:pid:random by default). */
  instance?: string;
}

/**
 * Token and cost budgets that concurrent requests cannot overrun: before forwarding, the
 * worst case (prompt + max completion) is reserved on every budget that applies — all or
 * nothing — and afterwards settled to the real usage. Reservations are served from this
 * process's lease on each budget (budget-lease.ts), so most cost no I/O; the store's
 * conditional update guards each chunk the lease fetches, also across processes. What the
 * process holds is recorded with its settlements (budget-holds.ts), so that should it die a
 * live instance releases it (budget-instances.ts).
 */
export class Budgets {
  readonly #settler: BudgetSettler;
  readonly #leases: Leases;
  readonly #holdings = new Holdings();
  readonly #heartbeat: Heartbeat;
  readonly #sweep: NodeJS.Timeout;
  readonly #idleMs: number;
  #closed = false;

  constructor(
    repo: BudgetRepo,
    private readonly prices: PriceTable,
    logger: Logger,
    options: BudgetOptions = {},
  ) {
    const instance = options.instance ?? instanceName();
    // Once reclaimed, the pools are no longer reserved in the store: they go back (the release is
    // not sent twice), and the next requests reserve anew.
    this.#settler = new BudgetSettler(repo, logger, this.#holdings, instance, () => this.#leases.retire());
    this.#leases = new Leases(repo, this.#holdings, (scope, period, amount) => this.#settler.add(scope, period, amount, NOTHING), options.leaseFraction ?? 64);
    this.#heartbeat = new Heartbeat(repo, this.#settler, options.instanceTimeoutMs ?? 60_000, logger);
    this.#idleMs = options.idleMs ?? 2000;
    // Idle pools go back, so other processes can use the budget and views show no stale reservations.
    this.#sweep = setInterval(() => void this.giveBackIdle(), Math.max(this.#idleMs, 100));
    this.#sweep.unref();
  }

  /** This instance's name among those sharing the store. */
  get instance(): string {
    return this.#settler.instance;
  }

  /**
   * Writes this instance's heartbeat (with pending settlements and holds), then releases what
   * instances silent for the timeout held. `now`: monotonic milliseconds (performance.now()).
   */
  heartbeat(now = performance.now()): Promise<void> {
    return this.#heartbeat.beat(now);
  }

  /** Gives back the pools unused for `idleMs` before `now`, and writes it to the store. */
  giveBackIdle(now = Date.now()): Promise<void> {
    this.#leases.retire(now - this.#idleMs);
    return this.#settler.flush();
  }

  /** Gives back every pool and writes pending settlements (the server calls it on shutdown). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    this.#heartbeat.stop();
    this.#leases.retire();
    await this.#leases.settled(); // a chunk still being fetched is given back when it arrives
    await this.#settler.close();
    await this.#heartbeat.leave(this.#holdings.empty && this.#settler.pending === 0);
  }

  /**
   * Synchronous (a Reservation, not a promise) when every budget's pool covers the worst case,
   * as on most requests; only a refill awaits the store.
   */
  reserve(subjects: readonly BudgetSubject[], worst: Worst, now = Date.now()): Reservation | Promise<Reservation> {
    const price = priceOf(this.prices, worst.model);
    if (subjects.some((s) => s.budget.usd !== undefined) && !price) {
      return Promise.reject(new SoakpError('unknown_model_price', `No price is configured for model "${String(worst.model).slice(0, 100)}", so a USD budget cannot be applied; add it under \`prices\` in the config.`));
    }
    const amount: Amount = { tokens: worst.promptTokens + worst.completionTokens, micros: costMicros(price, worst.promptTokens, worst.completionTokens) };
    const held: Lease[] = [];
    for (let i = 0; i < subjects.length; i++) {
      const s = subjects[i] as BudgetSubject;
      const lease = this.#leases.tryTake(s.scope, periodKey(s.budget.period, now), limitOf(s), amount);
      if (!lease) return this.#reserveRest(subjects.slice(i), held, worst, price, amount, now);
      held.push(lease);
    }
    return this.#reservation(subjects.length > 0, held, worst, price, amount);
  }

  async #reserveRest(rest: readonly BudgetSubject[], held: Lease[], worst: Worst, price: Price | undefined, amount: Amount, now: number): Promise<Reservation> {
    try {
      for (const s of rest) {
        const lease = await this.#leases.take(s.scope, periodKey(s.budget.period, now), limitOf(s), amount);
        if (!lease) throw new SoakpError('insufficient_quota', `You exceeded your current quota: the ${PERIOD_WORD[s.budget.period]}budget of this ${s.scope.split(':')[0]} is spent.`);
        held.push(lease);
      }
    } catch (err) {
      // All or nothing: what was taken for the other budgets is released in the store (not put
      // back in the pool, which so never holds more than one chunk; a refusal has cost I/O anyway).
      for (const h of held) this.#settler.add(h.scope, h.period, amount, NOTHING);
      throw err;
    }
    return this.#reservation(true, held, worst, price, amount);
  }

  #reservation(budgeted: boolean, held: readonly Lease[], worst: Worst, price: Price | undefined, amount: Amount): Reservation {
    let settled = false;
    return {
      completionCeiling: budgeted ? worst.completionTokens : undefined,
      settle: (promptTokens, completionTokens, model) => {
        const cost = costMicros(priceOf(this.prices, model ?? worst.model) ?? price, promptTokens, completionTokens);
        if (settled) return cost;
        settled = true;
        const actual = { tokens: promptTokens + completionTokens, micros: cost };
        const excess = { tokens: Math.max(0, actual.tokens - amount.tokens), micros: Math.max(0, actual.micros - amount.micros) };
        for (const h of held) {
          // The request's part is released in the store (which has counted it since the lease took
          // it), not put back in the pool. A use beyond it is paid from the pool where it can be,
          // so the budget does not pass its limit; what the pool cannot pay, the store refuses next.
          const paid = excess.tokens > 0 || excess.micros > 0 ? this.#leases.absorb(h, excess) : NOTHING;
          this.#settler.add(h.scope, h.period, { tokens: amount.tokens + paid.tokens, micros: amount.micros + paid.micros }, actual, h.key);
        }
        return cost;
      },
    };
  }
}

const NOTHING: Amount = { tokens: 0, micros: 0 };

// Subjects come from the cached policy view, the same objects request after request.
const limits = new WeakMap<BudgetSubject, Limit>();

function limitOf(s: BudgetSubject): Limit {
  let limit = limits.get(s);
  if (!limit) limits.set(s, (limit = { tokens: s.budget.tokens, micros: s.budget.usd === undefined ? undefined : Math.floor(s.budget.usd * 1e6) }));
  return limit;
}

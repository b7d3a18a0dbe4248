import type { Amount } from '../domain/index.js';
import type { BudgetRepo } from '../store/index.js';
import type { Holdings } from './budget-holds.js';
import { settlementKey } from './budget-settler.js';

export type Limit = { readonly tokens: number | undefined; readonly micros: number | undefined };

/**
 * This process's share of one budget (scope, period): chunks reserved in the store, of which
 * `free` is not yet handed to a request. The store's reserved counter thus holds the requests
 * in flight plus every process's free pool, and its conditional reserve guards each chunk, so
 * no interleaving of requests or processes can pass the limit.
 */
export interface Lease {
  readonly scope: string;
  readonly period: string;
  /** The settler's key for (scope, period), made once per lease. */
  readonly key: string;
  readonly limit: Limit;
  readonly free: { tokens: number; micros: number };
  lastUse: number;
  /** Set while a chunk is fetched: takers wait for it, so concurrent misses fetch one chunk, not many. */
  refilling: Promise<boolean> | undefined;
  retired: boolean;
}

const fits = (free: Amount, a: Amount) => free.tokens >= a.tokens && free.micros >= a.micros;
const missing = (want: Amount, free: Amount): Amount => ({ tokens: Math.max(0, want.tokens - free.tokens), micros: Math.max(0, want.micros - free.micros) });
const sameTerms = (l: Lease, period: string, limit: Limit) => l.period === period && l.limit.tokens === limit.tokens && l.limit.micros === limit.micros;

/**
 * The chunk fetched for a request of worst case `a`: k × a, with k ≥ 1 as large as keeps each
 * limited amount within limit / fraction. A small budget (limit / fraction < a) thus reserves
 * exactly `a`, as without leases; a large one serves about limit / fraction / a requests per write.
 */
function chunkOf(limit: Limit, a: Amount, fraction: number): Amount {
  let k = Infinity;
  if (limit.tokens !== undefined && a.tokens > 0) k = Math.min(k, Math.floor(limit.tokens / fraction / a.tokens));
  if (limit.micros !== undefined && a.micros > 0) k = Math.min(k, Math.floor(limit.micros / fraction / a.micros));
  k = Number.isFinite(k) ? Math.max(1, k) : 1;
  return { tokens: k * a.tokens, micros: k * a.micros };
}

/** One process's leases, one per scope; `giveBack` returns an unused amount to the store. */
export class Leases {
  readonly #leases = new Map<string, Lease>();
  readonly #refills = new Set<Promise<boolean>>();

  constructor(
    private readonly repo: BudgetRepo,
    /** Told of every chunk the store reserved, for this instance's holds. */
    private readonly holdings: Holdings,
    private readonly giveBack: (scope: string, period: string, amount: Amount) => void,
    private readonly fraction: number,
  ) {}

  /** Takes `a` from the pool with no I/O; undefined when there is no usable lease or too little in it. */
  tryTake(scope: string, period: string, limit: Limit, a: Amount): Lease | undefined {
    const l = this.#leases.get(scope);
    return l && sameTerms(l, period, limit) && !l.refilling && fits(l.free, a) ? this.#take(l, a) : undefined;
  }

  /** Takes `a`, fetching a chunk from the store when the pool is short; undefined when the store refuses. */
  async take(scope: string, period: string, limit: Limit, a: Amount): Promise<Lease | undefined> {
    for (;;) {
      let l = this.#leases.get(scope);
      // A new period or a changed limit starts a new lease: the old pool was reserved under other terms.
      if (l && !sameTerms(l, period, limit)) l = this.#retire(l);
      if (!l) this.#leases.set(scope, (l = { scope, period, key: settlementKey(scope, period), limit: { ...limit }, free: { tokens: 0, micros: 0 }, lastUse: 0, refilling: undefined, retired: false }));
      l.lastUse = Date.now(); // waiting for a chunk is use, not idleness
      if (l.refilling) await l.refilling.catch(() => false); // then look again: that chunk may cover this request too
      else if (fits(l.free, a)) return this.#take(l, a);
      else return (await this.#refill(l, a)) ? l : undefined;
    }
  }

  /** Gives back every pool last used at or before `before` (all of them without it), and forgets it. */
  retire(before = Infinity): void {
    for (const l of [...this.#leases.values()]) if (l.lastUse <= before) this.#retire(l);
  }

  /**
   * Pays what a request used beyond its worst case out of the pool, as far as the pool goes (it
   * is reserved already, so the budget's total stays where it was); returns the amount paid.
   */
  absorb(l: Lease, excess: Amount): Amount {
    if (l.refilling) return { tokens: 0, micros: 0 }; // the fetch counts on `free` not shrinking
    const paid = { tokens: Math.min(l.free.tokens, excess.tokens), micros: Math.min(l.free.micros, excess.micros) };
    l.free.tokens -= paid.tokens;
    l.free.micros -= paid.micros;
    return paid;
  }

  /** Resolves once no chunk is being fetched (a chunk for a retired lease is given back when it comes). */
  async settled(): Promise<void> {
    await Promise.all([...this.#refills].map((p) => p.catch(() => false)));
  }

  #refill(l: Lease, a: Amount): Promise<boolean> {
    const refill = this.#fetch(l, a).finally(() => {
      l.refilling = undefined;
      this.#refills.delete(refill);
      if (l.retired) this.#release(l);
    });
    l.refilling = refill;
    this.#refills.add(refill);
    return refill;
  }

  async #fetch(l: Lease, a: Amount): Promise<boolean> {
    // `free` cannot shrink meanwhile: takers wait while `refilling` is set, and retiring leaves it be.
    const want = missing(chunkOf(l.limit, a, this.fraction), l.free);
    let got = want;
    if (!(await this.repo.reserve(l.scope, l.period, want, l.limit))) {
      // The whole chunk does not fit: ask for exactly what is missing, so the budget's last part stays usable.
      got = missing(a, l.free);
      if ((got.tokens === want.tokens && got.micros === want.micros) || !(await this.repo.reserve(l.scope, l.period, got, l.limit))) return false;
    }
    this.holdings.reserved(l.scope, l.period, l.key, got);
    l.free.tokens += got.tokens;
    l.free.micros += got.micros;
    this.#take(l, a); // in the same step, so no other taker can empty the new chunk first
    return true;
  }

  #take(l: Lease, a: Amount): Lease {
    l.free.tokens -= a.tokens;
    l.free.micros -= a.micros;
    l.lastUse = Date.now();
    return l;
  }

  #retire(l: Lease): undefined {
    l.retired = true;
    if (this.#leases.get(l.scope) === l) this.#leases.delete(l.scope);
    if (!l.refilling) this.#release(l); // else when the fetch ends, with what it brought
    return undefined;
  }

  #release(l: Lease): void {
    if (l.free.tokens > 0 || l.free.micros > 0) this.giveBack(l.scope, l.period, { ...l.free });
    l.free.tokens = 0;
    l.free.micros = 0;
  }
}

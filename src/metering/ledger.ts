import type { UsageRecord } from '../domain/index.js';
import type { Logger } from '../shared/index.js';
import type { UsageRepo } from '../store/index.js';
import type { Ledger } from './ports.js';

export interface LedgerOptions {
  /** How often queued rows are written (ms). */
  flushMs?: number;
  /** Rows per insert: one transaction each, small enough for any database's parameter limit. */
  batchSize?: number;
  /** Rows kept while the store is slow or down; past it the oldest are dropped, not the request. */
  maxQueue?: number;
  /** Runs after each written batch (e.g. to record tokens' last-used times in the same rhythm). */
  afterWrite?: (batch: readonly UsageRecord[]) => Promise<void>;
}

/**
 * The usage ledger's writer. Requests only append to an in-memory queue; a timer writes it
 * in batches, so a slow or failing database never delays an answer. The queue is bounded:
 * when the store stays down, memory wins over completeness, and the loss is logged.
 */
export class UsageLedger implements Ledger {
  readonly #repo: UsageRepo;
  readonly #logger: Logger;
  readonly #batchSize: number;
  readonly #afterWrite: LedgerOptions['afterWrite'];
  readonly #maxQueue: number;
  readonly #timer: NodeJS.Timeout;
  /** The queue is `#rows` from `#head` on: dropping and taking from the front stay O(1) at 50 000 rows. */
  #rows: UsageRecord[] = [];
  #head = 0;
  #dropped = 0;
  #closed = false;
  /** The flush in progress; flushes run one after another, so rows go in order and only once. */
  #chain: Promise<void> = Promise.resolve();

  constructor(repo: UsageRepo, logger: Logger, options: LedgerOptions = {}) {
    this.#repo = repo;
    this.#logger = logger;
    this.#batchSize = Math.max(1, options.batchSize ?? 200);
    this.#afterWrite = options.afterWrite;
    this.#maxQueue = Math.max(1, options.maxQueue ?? 50_000);
    // Failures are logged inside and retried on the next tick; unref'd so it never keeps the process up.
    this.#timer = setInterval(() => this.flush().catch(() => {}), options.flushMs ?? 1000);
    this.#timer.unref();
  }

  record(row: UsageRecord): void {
    // Nothing would write it: say so rather than lose it silently (a shutdown ordering fault).
    if (this.#closed) return void this.#logger.error({ tokenId: row.tokenId }, 'usage ledger: a row came after the ledger closed and is lost');
    this.#rows.push(row);
    this.#trim();
  }

  /** Writes the rows queued (at the latest, once earlier flushes are done); rejects, after logging, when the store fails. */
  flush(): Promise<void> {
    const run = this.#chain.then(() => this.#drain(this.#size));
    this.#chain = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    this.#closed = true;
    try {
      await this.flush();
    } finally {
      clearInterval(this.#timer);
    }
  }

  async #drain(rows: number): Promise<void> {
    this.#reportDropped();
    // Only what is queued as this flush starts: under steady load a flush still ends.
    let left = rows;
    while (left > 0 && this.#size > 0) {
      const batch = this.#take(Math.min(this.#batchSize, left));
      try {
        await this.#repo.insertMany(batch);
        await this.#afterWrite?.(batch).catch((err: unknown) => this.#logger.warn({ err }, 'usage ledger: after-write step failed'));
      } catch (err) {
        // insertMany is all-or-none: the batch goes back to the front, in order, for the next try.
        this.#rows = [...batch, ...this.#rows.slice(this.#head)];
        this.#head = 0;
        this.#trim();
        this.#reportDropped();
        this.#logger.error({ err, queued: this.#size }, 'usage ledger: writing a batch failed; will retry');
        throw err;
      }
      left -= batch.length;
      // SQLite writes block the event loop: requests get a turn between batches, so a busy
      // second's rows (thousands) never hold an answer up for the whole flush.
      if (left > 0 && this.#size > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  get #size(): number {
    return this.#rows.length - this.#head;
  }

  #take(count: number): UsageRecord[] {
    const batch = this.#rows.slice(this.#head, this.#head + count);
    this.#head += batch.length;
    this.#compact();
    return batch;
  }

  #trim(): void {
    const excess = this.#size - this.#maxQueue;
    if (excess <= 0) return;
    this.#head += excess;
    this.#dropped += excess;
    this.#compact();
  }

  /** Copies the live rows down once most of the array is spent, releasing the written or dropped ones. */
  #compact(): void {
    if (this.#head < 1024 && this.#head < this.#rows.length) return;
    if (this.#head * 2 < this.#rows.length) return;
    this.#rows = this.#rows.slice(this.#head);
    this.#head = 0;
  }

  /** Drops are summed and logged once per flush, so an outage cannot flood the log too. */
  #reportDropped(): void {
    if (this.#dropped === 0) return;
    this.#logger.warn({ dropped: this.#dropped, maxQueue: this.#maxQueue }, 'usage ledger: queue full, dropped the oldest rows');
    this.#dropped = 0;
  }
}

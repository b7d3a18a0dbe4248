import type BetterSqlite3 from 'better-sqlite3-multiple-ciphers';

/**
 * Notices committed changes. `PRAGMA data_version` moves when another connection (the CLI
 * in another process) commits; `bump()` is called by this process's own writes to the data
 * the proxy caches (users, keys, tokens, secrets) — not by the usage ledger, the audit log
 * or last-used times, whose frequent writes would otherwise empty those caches every second.
 */
export class ChangePoller {
  readonly #listeners = new Set<() => void>();
  readonly #raw: BetterSqlite3.Database;
  readonly #stmt: BetterSqlite3.Statement;
  readonly #timer: NodeJS.Timeout;
  #last = '';
  #generation = 0;

  constructor(raw: BetterSqlite3.Database, intervalMs: number) {
    this.#raw = raw;
    this.#stmt = raw.prepare('SELECT data_version FROM pragma_data_version').pluck();
    this.#last = this.#read();
    this.#timer = setInterval(() => this.#tick(), intervalMs);
    this.#timer.unref(); // never keeps a process (the CLI, a library user) alive
  }

  /** A write to cached data; noticed at the next tick after its transaction commits. */
  bump(): void {
    this.#generation += 1;
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#listeners.clear();
  }

  #read(): string {
    return `${String(this.#stmt.get())}:${this.#generation}`;
  }

  #tick(): void {
    // Mid-transaction, total_changes() already counts uncommitted writes and the commit will
    // not move it again: reading now would announce the change early and never after it lands.
    if (this.#raw.inTransaction) return;
    const now = this.#read();
    if (now === this.#last) return;
    this.#last = now;
    for (const listener of this.#listeners) listener();
  }
}

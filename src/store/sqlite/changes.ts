import type BetterSqlite3 from 'better-sqlite3-multiple-ciphers';

/**
 * Notices committed changes. `PRAGMA data_version` moves when another connection (the CLI
 * in another process) commits; `total_changes()` moves on this connection's own writes.
 * Polling both is one cheap call per tick and needs no cooperation from the writer.
 */
export class ChangePoller {
  readonly #listeners = new Set<() => void>();
  readonly #raw: BetterSqlite3.Database;
  readonly #stmt: BetterSqlite3.Statement;
  readonly #timer: NodeJS.Timeout;
  #last = '';

  constructor(raw: BetterSqlite3.Database, intervalMs: number) {
    this.#raw = raw;
    this.#stmt = raw.prepare('SELECT (SELECT data_version FROM pragma_data_version) || \':\' || total_changes() AS v').pluck();
    this.#last = this.#read();
    this.#timer = setInterval(() => this.#tick(), intervalMs);
    this.#timer.unref(); // never keeps a process (the CLI, a library user) alive
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
    return String(this.#stmt.get());
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

import type BetterSqlite3 from 'better-sqlite3-multiple-ciphers';

/** Attempts at switching a new file to WAL while other processes race to do the same. */
const WAL_ATTEMPTS = 50;
const pause = new Int32Array(new SharedArrayBuffer(4));

/** A connection's settings (the file's journal mode is kept in the file; the rest is per connection). */
export function configureConnection(raw: BetterSqlite3.Database): void {
  useWal(raw);
  raw.pragma('synchronous = NORMAL'); // durable across process crashes in WAL mode; fsync at checkpoints
  raw.pragma('foreign_keys = ON');
  raw.pragma('busy_timeout = 5000'); // the CLI and the server write to one file
  // SQLite's own default page cache (2 MB), not better-sqlite3's 16 MB: the server's reads are
  // few and small (they are cached above the store), while the ledger's appends would fill a
  // larger cache page by page — a long-running server's RSS rose by that much.
  raw.pragma('cache_size = -2000');
}

/**
 * Switches the file to WAL (a file that is already WAL needs nothing). Two processes opening a
 * new file at once can each hold a read lock while wanting the exclusive one the switch takes:
 * SQLite then answers SQLITE_BUSY at once, without its busy handler (waiting would deadlock), so
 * the switch is tried again after a short pause, at most WAL_ATTEMPTS times. Only at open.
 */
function useWal(raw: BetterSqlite3.Database): void {
  for (let attempt = 1; ; attempt++) {
    try {
      if (raw.pragma('journal_mode', { simple: true }) !== 'wal') raw.pragma('journal_mode = WAL');
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY' || attempt >= WAL_ATTEMPTS) throw err;
      Atomics.wait(pause, 0, 0, 10 + Math.floor(Math.random() * 40)); // the racers wake apart
    }
  }
}

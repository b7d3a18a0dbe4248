import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite/open.js';
import { aUser } from './fixtures.js';
import { describeStoreContract } from './store-contract.js';

describeStoreContract('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'soakp-contract-'));
  const file = join(dir, 'soakp.db');
  try {
    const store = await openSqliteStore({ file });
    return {
      store,
      openPeer: () => openSqliteStore({ file }),
      cleanup: async () => {
        try {
          await store.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
});

// SQLite-specific: the change poller ticks on a timer, so a tick can land while a transaction
// is open. The contract needs a notice *after* the commit; fake interval timers place the tick
// inside the transaction deterministically, without sleeping.
describe('SQLite change poller', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('still reports a transaction committed after a poll tick landed inside it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const dir = mkdtempSync(join(tmpdir(), 'soakp-poller-'));
    const store = await openSqliteStore({ file: join(dir, 'soakp.db'), pollMs: 100 });
    try {
      let committed = false;
      let callsAfterCommit = 0;
      store.onChange(() => {
        if (committed) callsAfterCommit += 1;
      });
      await store.transaction(async (tx) => {
        await tx.users.create(aUser());
        vi.advanceTimersByTime(300); // ticks while the write is not yet committed
      });
      committed = true;
      vi.advanceTimersByTime(100);
      expect(callsAfterCommit).toBeGreaterThan(0);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

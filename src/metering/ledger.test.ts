import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { UsageRecord } from '../domain/usage.js';
import { createLogger, type Logger } from '../shared/logger.js';
import type { Store, UsageRepo } from '../store/ports.js';
import { openSqliteStore } from '../store/sqlite/open.js';
import { UsageLedger } from './ledger.js';

function row(i: number): UsageRecord {
  return {
    at: 1_700_000_000_000 + i, userId: 'usr_1', tokenId: 'tok_1', upstream: 'openai', model: `model-${i}`, endpoint: 'chat',
    status: 200, promptTokens: i, completionTokens: 1, totalTokens: i + 1, costMicros: 3, durationMs: 40, bytesIn: 100, bytesOut: 200, source: 'reported',
  };
}

/** A real pino logger whose lines are kept for the test to read. */
function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger('debug', { stream: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
  return { logger, lines };
}

/** Models of the stored rows, one per row; `summarize` by model gives one key per distinct model. */
async function storedModels(store: Store): Promise<string[]> {
  return (await store.usage.summarize({ since: 0, by: 'model' })).map((s) => s.key);
}

describe('UsageLedger', () => {
  let store: Store;
  let dir: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'soakp-ledger-'));
    store = await openSqliteStore({ file: join(dir, 'soakp.db') });
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('queues without writing, and writes every queued row on flush', async () => {
    const ledger = new UsageLedger(store.usage, capturingLogger().logger);
    for (let i = 0; i < 3; i++) ledger.record(row(i));
    expect(await store.usage.count()).toBe(0);
    await ledger.flush();
    expect(await store.usage.count()).toBe(3);
    await ledger.close();
  });

  it('writes in batches of batchSize', async () => {
    const insertMany = vi.spyOn(store.usage, 'insertMany');
    const ledger = new UsageLedger(store.usage, capturingLogger().logger, { batchSize: 500 });
    for (let i = 0; i < 1200; i++) ledger.record(row(i));
    await ledger.flush();
    expect(insertMany.mock.calls.map(([rows]) => rows.length)).toEqual([500, 500, 200]);
    expect(await store.usage.count()).toBe(1200);
    await ledger.close();
  });

  it('close loses nothing: rows recorded up to close are all stored, also with a flush under way', async () => {
    const ledger = new UsageLedger(store.usage, capturingLogger().logger, { batchSize: 7 });
    for (let i = 0; i < 100; i++) ledger.record(row(i));
    const flushing = ledger.flush(); // a flush in progress when close comes
    for (let i = 100; i < 150; i++) ledger.record(row(i));
    await ledger.close();
    await flushing;
    expect(await store.usage.count()).toBe(150);
    const [first] = await store.usage.summarize({ since: 0, by: 'day' });
    expect(first?.promptTokens).toBe((149 * 150) / 2);
  });

  it('drops the oldest rows past maxQueue and logs how many, without throwing', async () => {
    const { logger, lines } = capturingLogger();
    const ledger = new UsageLedger(store.usage, logger, { maxQueue: 5 });
    for (let i = 0; i < 8; i++) ledger.record(row(i));
    await ledger.close();
    expect((await storedModels(store)).sort()).toEqual(['model-3', 'model-4', 'model-5', 'model-6', 'model-7']);
    const warning = lines.find((l) => l.level === 40);
    expect(warning).toMatchObject({ dropped: 3, maxQueue: 5 });
  });

  it('keeps the rows of a failed insert for the next try, bounded by maxQueue', async () => {
    const { logger, lines } = capturingLogger();
    let down = true;
    // The store as the ledger sees it, with an outage switch in front of the real repo.
    const flaky: UsageRepo = { ...store.usage, insertMany: (rows) => (down ? Promise.reject(new Error('database is locked')) : store.usage.insertMany(rows)) };
    const ledger = new UsageLedger(flaky, logger, { maxQueue: 4, batchSize: 2 });
    for (let i = 0; i < 3; i++) ledger.record(row(i));
    await expect(ledger.flush()).rejects.toThrow('database is locked');
    expect(lines.some((l) => l.level === 50 && (l.msg as string).includes('will retry'))).toBe(true);
    for (let i = 3; i < 6; i++) ledger.record(row(i));
    down = false;
    await ledger.close();
    expect((await storedModels(store)).sort()).toEqual(['model-2', 'model-3', 'model-4', 'model-5']);
    expect(lines.find((l) => l.level === 40)).toMatchObject({ dropped: 2 });
    expect(JSON.stringify(lines)).not.toContain('tok_1'); // rows are never logged
  });

  it('flushes on its timer', async () => {
    vi.useFakeTimers();
    try {
      const insertMany = vi.spyOn(store.usage, 'insertMany');
      const ledger = new UsageLedger(store.usage, capturingLogger().logger, { flushMs: 1000 });
      ledger.record(row(1));
      await vi.advanceTimersByTimeAsync(999);
      expect(insertMany).not.toHaveBeenCalled();
      await vi.advanceTimersByTimeAsync(1);
      expect(insertMany).toHaveBeenCalledTimes(1);
      await ledger.close();
      expect(await store.usage.count()).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});

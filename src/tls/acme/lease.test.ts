import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LeaseRepo } from '../../store/index.js';
import { underLease, withDeadline } from './lease.js';

function leases(free = true): LeaseRepo & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    acquire: async (name, holder, now, until) => (calls.push(`acquire ${name} ${holder} ${until - now}`), free),
    release: async (name, holder) => void calls.push(`release ${name} ${holder}`),
  };
}

describe('underLease', () => {
  afterEach(() => void vi.useRealTimers());

  it('runs nothing when another holder has the lease', async () => {
    const repo = leases(false);
    let ran = false;
    expect(await underLease(repo, 'acme:a', 'me', Date.now, async () => void (ran = true))).toBe(false);
    expect([ran, repo.calls]).toEqual([false, ['acquire acme:a me 600000']]);
  });

  it('extends the lease while the work runs, and releases it after, also when the work fails', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const repo = leases();
    let finish!: () => void;
    const held = underLease(repo, 'acme:a', 'me', Date.now, () => new Promise<void>((resolve) => (finish = resolve)));
    await vi.waitFor(() => expect(repo.calls).toHaveLength(1));
    await vi.advanceTimersByTimeAsync(25 * 60_000); // a long order: 25 minutes, an extension every 200 s
    expect(repo.calls.filter((c) => c.startsWith('acquire'))).toHaveLength(1 + 7);
    finish();
    expect(await held).toBe(true);
    expect(repo.calls.at(-1)).toBe('release acme:a me');
    await vi.advanceTimersByTimeAsync(60 * 60_000);
    expect(repo.calls.filter((c) => c.startsWith('acquire'))).toHaveLength(8); // no extension after
    const failing = leases();
    await expect(underLease(failing, 'acme:a', 'me', Date.now, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(failing.calls.at(-1)).toBe('release acme:a me');
  });
});

describe('withDeadline', () => {
  it('passes a result on, and rejects once the time is up', async () => {
    expect(await withDeadline(Promise.resolve(7), 60_000, 'x')).toBe(7);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const never = withDeadline(new Promise(() => {}), 30 * 60_000, 'the ACME order');
    const rejected = expect(never).rejects.toThrow('the ACME order did not finish within 30 minutes');
    await vi.advanceTimersByTimeAsync(30 * 60_000);
    await rejected;
    vi.useRealTimers();
  });
});

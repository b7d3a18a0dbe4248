import type { LeaseRepo } from '../../store/index.js';

/** A lease lasts this long unless its holder extends it: a crashed holder's lease frees itself. */
const LEASE_MS = 10 * 60_000;

/**
 * Runs `work` holding the named lease, extended every few minutes for as long as it runs, and
 * released after; false, without running it, when another holder has the lease.
 */
export async function underLease(leases: LeaseRepo, name: string, holder: string, now: () => number, work: () => Promise<void>): Promise<boolean> {
  if (!(await leases.acquire(name, holder, now(), now() + LEASE_MS))) return false;
  const extend = setInterval(() => void leases.acquire(name, holder, now(), now() + LEASE_MS).catch(() => undefined), LEASE_MS / 3);
  extend.unref();
  try {
    await work();
  } finally {
    clearInterval(extend);
    await leases.release(name, holder);
  }
  return true;
}

/** `work`, or a rejection once `ms` have passed without it settling. */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 60_000} minutes`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../shared/index.js';
import type { BudgetHold, BudgetRepo } from '../store/index.js';

/** A name for this process among the instances sharing the store: host, pid and a random part. */
export function instanceName(): string {
  return `${hostname().slice(0, 64)}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

/**
 * This instance's heartbeat, every quarter of `timeoutMs`: a batch of its settler (written even
 * when there is nothing to settle), then a look for silent instances to reclaim.
 */
export class Heartbeat {
  readonly #timer: NodeJS.Timeout;
  readonly #silent: SilentInstances;

  constructor(
    private readonly repo: BudgetRepo,
    private readonly settler: { readonly instance: string; flush(beat: boolean): Promise<void> },
    timeoutMs: number,
    private readonly logger: Logger,
  ) {
    this.#silent = new SilentInstances(repo, settler.instance, timeoutMs, logger);
    this.#timer = setInterval(() => void this.beat(), Math.max(timeoutMs / 4, 50));
    this.#timer.unref();
  }

  /** `now`: monotonic milliseconds (performance.now()), by which others' silence is measured. */
  async beat(now = performance.now()): Promise<void> {
    await this.settler.flush(true);
    await this.#silent.reclaim(now).catch((err: unknown) => this.logger.warn({ err }, 'could not look for silent instances; will retry'));
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /**
   * Unregisters once nothing is held. Else (a request that never settled, a store that failed)
   * the holds stay for a live instance to release after the timeout, when this one is gone.
   */
  async leave(holdsNothing: boolean): Promise<void> {
    const instance = this.settler.instance;
    if (!holdsNothing) return this.logger.warn({ instance }, 'budget reservations are still held at shutdown; another instance releases them after budgets.instanceTimeout');
    await this.repo.reclaim(instance).catch((err: unknown) => this.logger.warn({ err, instance }, 'could not unregister this instance from the store'));
  }
}

/**
 * Releases the budget holds of instances that stopped beating. An instance counts as silent
 * when its heartbeat has not changed for `timeoutMs` of this instance's own (monotonic) time —
 * not by comparing its stored time with this clock, so clocks that disagree between machines
 * presume no live instance dead. The reclaim is conditional on the heartbeat seen: one that
 * beat meanwhile is left alone, and of several instances reclaiming at once one alone releases.
 */
export class SilentInstances {
  readonly #seen = new Map<string, { heartbeatAt: number; since: number }>();

  constructor(
    private readonly repo: BudgetRepo,
    private readonly self: string,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {}

  /** One look at the instances: notes heartbeats that changed, reclaims those silent long enough. */
  async reclaim(now = performance.now()): Promise<void> {
    const listed = await this.repo.instances();
    const present = new Set<string>();
    for (const { instance, heartbeatAt } of listed) {
      if (instance === this.self) continue;
      present.add(instance);
      const seen = this.#seen.get(instance);
      if (!seen || seen.heartbeatAt !== heartbeatAt) this.#seen.set(instance, { heartbeatAt, since: now });
      else if (now - seen.since >= this.timeoutMs) {
        this.#seen.delete(instance);
        const holds = await this.repo.reclaim(instance, heartbeatAt);
        if (holds) this.logger.info({ instance, lastHeartbeat: new Date(heartbeatAt).toISOString(), ...summary(holds) }, 'released the budget reservations of an instance presumed dead');
      }
    }
    for (const instance of this.#seen.keys()) if (!present.has(instance)) this.#seen.delete(instance);
  }
}

/** Totals, and the holds themselves up to a few dozen (a busy instance may hold thousands of budgets). */
function summary(holds: readonly BudgetHold[]) {
  const tokens = holds.reduce((n, h) => n + h.amount.tokens, 0);
  const micros = holds.reduce((n, h) => n + h.amount.micros, 0);
  const listed = holds.slice(0, 25).map((h) => ({ scope: h.scope, period: h.period, tokens: h.amount.tokens, micros: h.amount.micros }));
  return { budgets: holds.length, tokens, micros, holds: listed };
}

import type { Config } from '../config/index.js';
import { SoakpError } from '../shared/index.js';

/**
 * How request bodies are read for policies: the most one request may hold (`limit`), the
 * bytes all requests together may hold while they are being read (`held`), and the slowest
 * a body may arrive once its grace time is over. Without these, unfinished bodies of
 * budgeted tokens could hold memory for as long as a request may last.
 */
export interface Inspection {
  readonly limit: number;
  readonly held: HeldBytes;
  /** Bytes a second a body must average once `graceMs` have passed; 0: no minimum. */
  readonly minRate: number;
  readonly graceMs: number;
}

/** Bytes held by bodies being read, across all requests, against one cap. */
export class HeldBytes {
  #held = 0;

  constructor(readonly cap: number) {}

  get held(): number {
    return this.#held;
  }

  /** Holds `n` more bytes, or throws `server_busy` (and holds nothing) when that would pass the cap. */
  take(n: number): void {
    if (this.#held + n > this.cap) throw new SoakpError('server_busy', 'The proxy is holding as many request bodies as it may; retry the request shortly.', { headers: { 'retry-after': '2' } });
    this.#held += n;
  }

  give(n: number): void {
    this.#held = Math.max(0, this.#held - n);
  }
}

export function inspectionOf(config: Pick<Config, 'budgets' | 'limits'>): Inspection {
  return {
    limit: config.budgets.inspectLimit,
    held: new HeldBytes(config.limits.inspectTotal),
    minRate: config.limits.minBodyRate,
    graceMs: config.limits.minBodyRateAfter,
  };
}

export function tooSlow(minRate: number): SoakpError {
  return new SoakpError('request_timeout', `The request body arrived slower than ${minRate} bytes a second; send it faster or in one piece.`);
}

import type { AuditEntry, AuditInput } from '../domain/index.js';
import type { Logger } from '../shared/index.js';
import type { AuditRepo, HeadMac, NextHeadMac } from '../store/index.js';
import { entryHash } from './chain.js';
import { auditInput } from './redact.js';
import type { AuditInputLite, Auditor, SecurityEvent } from './ports.js';


export interface AuditLogOptions {
  /** How long security events are counted before one entry per key is written (default 60 s). */
  windowMs?: number;
  /** Distinct (event, key, source) counted at once; further keys share one overflow entry. */
  maxKeys?: number;
  now?: () => number;
}

interface Bucket {
  event: SecurityEvent | 'overflow';
  key: string;
  source: string | null;
  count: number;
  first: number;
  last: number;
  details: Record<string, unknown>;
}

const OVERFLOW = '\u0000overflow';

/**
 * The audit log: control-plane changes are appended at once; security events are counted
 * in memory and written as one entry per (event, key, source) per window. Memory is bounded
 * by `maxKeys` and disk by one entry per key per window plus one overflow entry, however
 * many requests a flood sends.
 */
export class AuditLog implements Auditor {
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  #buckets = new Map<string, Bucket>();
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;

  /** `headMac` signs the chain's head after each append (the vault's `nextAuditHeadMac`). */
  constructor(private readonly repo: AuditRepo, private readonly headMac: NextHeadMac, private readonly logger: Logger, options: AuditLogOptions = {}) {
    this.#windowMs = options.windowMs ?? 60_000;
    this.#maxKeys = options.maxKeys ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  record(input: AuditInputLite): Promise<AuditEntry> {
    return this.#append(auditInput(input, this.#now()));
  }

  securityEvent(event: SecurityEvent, key: string, source: string | null = null, details: Record<string, unknown> = {}): void {
    if (this.#closed) return;
    const now = this.#now();
    // Keys and sources may come from a request: capped so many distinct ones stay small in memory.
    [key, source] = [String(key).slice(0, 200), source === null ? null : String(source).slice(0, 200)];
    let id = JSON.stringify([event, key, source]);
    if (!this.#buckets.has(id) && this.#buckets.size >= this.#maxKeys) id = OVERFLOW;
    const bucket = this.#buckets.get(id);
    if (bucket) {
      bucket.count += 1;
      bucket.last = now;
      if (id === OVERFLOW) bucket.details[event] = ((bucket.details[event] as number | undefined) ?? 0) + 1;
    } else if (id === OVERFLOW) {
      this.#buckets.set(id, { event: 'overflow', key: 'system', source: null, count: 1, first: now, last: now, details: { [event]: 1 } });
    } else {
      // The first event's details stand for the window; later ones are only counted.
      this.#buckets.set(id, { event, key, source, count: 1, first: now, last: now, details });
    }
    // One timer per window, unref'd: pending counts never keep a process alive (close() flushes them).
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.flush().catch(() => undefined); // already logged in #write
    }, this.#windowMs).unref();
  }

  /** Writes every pending count now. */
  flush(): Promise<void> {
    const batch = [...this.#buckets.values()];
    this.#buckets = new Map();
    this.#writing = this.#writing.then(() => this.#write(batch));
    return this.#writing;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  async #write(batch: Bucket[]): Promise<void> {
    for (const b of batch) {
      const { event, key, source, count, first, last, details } = b;
      const input = event === 'overflow'
        ? { actor: 'system', action: 'security.overflow', details: { count, first, last, events: details, keyLimit: this.#maxKeys }, source }
        : { actor: key, action: `security.${event}`, target: key, details: { ...details, count, first, last }, source };
      try {
        await this.#append(auditInput(input, last));
      } catch (err) {
        // Not rethrown to the timer: a lost count must not crash the server. Only names, no details.
        this.logger.error({ err: (err as Error)?.message, action: input.action, count }, 'could not write an audit entry for security events');
      }
    }
  }

  #append(input: AuditInput): Promise<AuditEntry> {
    return this.repo.append(input, entryHash, this.headMac);
  }
}

/**
 * Signs the head of a log written before heads were signed, once: when the migration that
 * added the MAC ran in this very process (`migratedNow`). A head without a MAC at any other
 * time was blanked behind soakp's back and stays unauthenticated. A log with entries gets an
 * `audit.head-adopted` entry saying where signing began.
 */
export async function adoptAuditHead(repo: AuditRepo, sign: { mac: HeadMac; next: NextHeadMac }, migratedNow: boolean, now = Date.now()): Promise<void> {
  if (!migratedNow || !(await repo.signHead(sign.mac))) return;
  const head = await repo.head();
  if (head.seq > 0) await repo.append(auditInput({ actor: 'system', action: 'audit.head-adopted', details: { seq: head.seq } }, now), entryHash, sign.next);
}

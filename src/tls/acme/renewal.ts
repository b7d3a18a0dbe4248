import { type CertificateRecord, certificateName } from '../../domain/index.js';
import type { Logger } from '../../shared/index.js';
import type { CertificatePair } from '../source.js';
import type { RenewalWindow } from './ari.js';
import { AriWatch } from './ari-watch.js';
import { logFailure } from './failure-log.js';
import { underLease, withDeadline } from './lease.js';
import type { ObtainedCertificate } from './obtain.js';
import type { AcmeSettings } from './settings.js';
import type { AcmeStore, Stored } from './stored.js';

/** An order still pending after this is given up (acme-client cannot be cancelled: its result is ignored). */
const ORDER_DEADLINE_MS = 30 * 60_000;
/** While another instance holds the lease: look again this often (its result arrives by the store's signal first). */
const RECHECK_MS = 60_000;
const MAX_DELAY = 2 ** 31 - 1;

export interface RenewalDeps {
  readonly store: AcmeStore;
  readonly logger: Logger;
  readonly settings: AcmeSettings;
  readonly domains: readonly string[];
  readonly holder: string;
  readonly now: () => number;
  readonly random: () => number;
  obtain(): Promise<ObtainedCertificate>;
  /** The CA's suggested renewal window for a certificate (ARI), when it offers one. */
  ari?(certPem: string): Promise<RenewalWindow | undefined>;
  load(): Promise<Stored>;
  save(got: ObtainedCertificate): Promise<CertificatePair>;
  current(): { readonly pair: CertificatePair; readonly real: boolean };
  swap(pair: CertificatePair): void;
}

/**
 * When to order: at once without a certificate of its own or when `soakp tls renew` asked, when
 * a third of the lifetime is left (or the CA's ARI window opens), or after a failure at its retry
 * time (doubling, with jitter). One instance orders at a time (a lease in the store, extended
 * while the order runs); the others take the result from the store's change signal.
 */
export class Renewal {
  readonly #deps: RenewalDeps;
  readonly #lease: string;
  readonly #ari: AriWatch | undefined;
  #record: CertificateRecord | undefined;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #started = false;
  #running = false;
  #again = false;
  #stopped = false;
  /** No attempt before this: another instance holds the lease. */
  #busyUntil = 0;
  /** No attempt before this unless one is asked for (`soakp tls renew`): a certificate just came. */
  #quietUntil = 0;
  /** A failure recorded since (by any instance) is waited out; one from before is not. */
  #startedAt = Infinity;

  constructor(deps: RenewalDeps, record: CertificateRecord | undefined) {
    this.#deps = deps;
    this.#record = record;
    this.#lease = `acme:${certificateName(deps.domains)}`;
    const { ari } = deps;
    this.#ari = ari && new AriWatch(ari, deps.random, deps.logger, () => this.#running || this.#schedule(this.#next()));
  }

  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#startedAt = this.#deps.now();
    this.#unsubscribe = this.#deps.store.onChange(() => void this.#run(false));
    if (this.#deps.current().real) this.#ari?.watch(this.#deps.current().pair.cert);
    this.#schedule(this.#next());
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#ari?.stop();
    this.#unsubscribe?.();
  }

  /** When the next order is due, from the record and what is served. */
  #due(): number {
    const record = this.#record;
    const { pair, real } = this.#deps.current();
    const now = this.#deps.now();
    if (record?.renewRequestedAt !== undefined) return now;
    // Nothing of its own yet (a placeholder, another CA's or an earlier name list's certificate):
    // the first attempt of this process is at once, whatever an earlier one's retry time says.
    const own = real && record?.issued !== undefined && record.issued.serial === pair.serial;
    const failedSinceStart = record?.lastError !== undefined && record.lastError.at >= this.#startedAt;
    if (!own && !failedSinceStart) return now;
    if (record?.lastError !== undefined) return record.lastError.retryAt;
    if (!own || record?.issued === undefined) return now;
    return Math.min(record.issued.renewAt, this.#ari?.at ?? Infinity);
  }

  /** The next attempt: when due, but not while another instance orders, nor right after a certificate came unless asked. */
  #next(): number {
    return Math.max(this.#due(), this.#busyUntil, this.#requested() ? 0 : this.#quietUntil);
  }

  #requested(): boolean {
    return this.#record?.renewRequestedAt !== undefined;
  }

  #schedule(at: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    const delay = Math.max(0, at - this.#deps.now());
    this.#timer = setTimeout(() => void this.#run(delay <= MAX_DELAY), Math.min(delay, MAX_DELAY));
    this.#timer.unref();
  }

  /** Takes up what the store holds (another instance's certificate, a renewal request), then orders if due. */
  async #run(timed: boolean): Promise<void> {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    try {
      await this.#adopt();
      const now = this.#deps.now();
      if ((timed || this.#due() <= now) && now >= this.#busyUntil && (now >= this.#quietUntil || this.#requested())) await this.#renewUnderLease();
    } catch (err) {
      if (this.#stopped) return;
      this.#deps.logger.error({ reason: (err as Error).message }, 'TLS certificate renewal could not run (store); trying again');
      this.#schedule(this.#deps.now() + this.#deps.settings.retryMin);
      return;
    } finally {
      this.#running = false;
    }
    if (this.#again) {
      this.#again = false;
      return this.#run(false);
    }
    this.#schedule(this.#next());
  }

  async #adopt(): Promise<void> {
    const record = await this.#deps.store.certificates.get(certificateName(this.#deps.domains));
    this.#record = record;
    const { pair } = this.#deps.current();
    if (record?.issued === undefined || record.issued.serial === pair.serial || record.issued.notAfter <= this.#deps.now()) return;
    const stored = await this.#deps.load(); // undefined for another CA's certificate or a missing key
    if (stored.pair === undefined || this.#stopped) return;
    this.#record = stored.record;
    this.#took(stored.pair);
    this.#deps.logger.info({ serial: stored.pair.serial, notAfter: stored.pair.notAfter.toISOString() }, 'TLS certificate taken up from the store');
  }

  #took(pair: CertificatePair): void {
    this.#deps.swap(pair);
    this.#ari?.watch(pair.cert);
  }

  async #renewUnderLease(): Promise<void> {
    const { store, holder, now } = this.#deps;
    const held = await underLease(store.leases, this.#lease, holder, now, async () => {
      await this.#adopt(); // another instance may have finished just before the lease was ours
      if (this.#due() <= now() && !this.#stopped) await this.#order();
    });
    if (!held) this.#deps.logger.debug('Another instance holds the renewal lease');
    this.#busyUntil = held ? 0 : now() + RECHECK_MS;
  }

  async #order(): Promise<void> {
    const { store, settings, domains, now, logger } = this.#deps;
    const name = certificateName(domains);
    logger.info({ domains }, 'Ordering a TLS certificate from the ACME CA');
    try {
      const got = await withDeadline(this.#deps.obtain(), ORDER_DEADLINE_MS, 'the ACME order');
      // Stopped meanwhile (shutdown): the store may be closed; the next start orders again.
      if (this.#stopped) return;
      const pair = await this.#deps.save(got);
      this.#record = await store.certificates.get(name);
      this.#took(pair);
      // Even if the clock says it is due again already (a skewed clock): not in a loop.
      this.#quietUntil = now() + settings.retryMin;
      logger.info({ serial: pair.serial, notAfter: pair.notAfter.toISOString(), renewAt: new Date(this.#record?.issued?.renewAt ?? 0).toISOString() }, 'TLS certificate obtained');
      for (const warning of got.warnings) logger.warn({ reason: warning }, 'ACME clean-up failed');
    } catch (err) {
      if (this.#stopped) return;
      // Counted in the store: the backoff grows whichever instance failed before.
      const failures = (this.#record?.lastError?.failures ?? 0) + 1;
      const base = Math.min(settings.retryMax, settings.retryMin * 2 ** Math.min(failures - 1, 30));
      const at = now();
      const retryAt = at + Math.round(base / 2 + (this.#deps.random() * base) / 2); // equal jitter: instances spread out
      const message = (err as Error).message;
      logFailure(logger, this.#deps.current(), message, retryAt, at); // first: the store may be what failed
      await store.certificates.saveFailure(name, domains, { message, at, retryAt });
      this.#record = await store.certificates.get(name);
    }
  }
}

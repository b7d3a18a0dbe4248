import { type CertificateRecord, certificateName } from '../../domain/index.js';
import type { Logger } from '../../shared/index.js';
import type { CertificatePair } from '../source.js';
import type { RenewalWindow } from './ari.js';
import { logFailure } from './failure-log.js';
import type { ObtainedCertificate } from './obtain.js';
import type { AcmeSettings } from './settings.js';
import type { AcmeStore, Stored } from './stored.js';

/** How long one renewal may hold the lease; a crashed holder's lease frees itself after this. */
const LEASE_MS = 10 * 60_000;
/** While another instance holds the lease: look again this often (its result arrives by the store's signal first). */
const RECHECK_MS = 60_000;
const MAX_DELAY = 2 ** 31 - 1;
/** How often to ask the CA for its renewal window again (it may move it earlier, e.g. before a mass revocation). */
const ARI_EVERY = 6 * 3_600_000;

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
 * When to order: at once without a certificate or when `soakp tls renew` asked, when a third of
 * the lifetime is left, or after a failure at its retry time (doubling, with jitter). One instance
 * orders at a time (a lease in the store); the others take the result from the store's change signal.
 */
export class Renewal {
  readonly #deps: RenewalDeps;
  readonly #lease: string;
  #record: CertificateRecord | undefined;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #running = false;
  /** While another instance holds the lease: no attempt before this. */
  #busyUntil = 0;
  #again = false;
  #stopped = false;
  #failures = 0;
  /** A time within the CA's suggested window (ARI), when it gave one. */
  #ariAt: number | undefined;
  #ariTimer: NodeJS.Timeout | undefined;

  constructor(deps: RenewalDeps, record: CertificateRecord | undefined) {
    this.#deps = deps;
    this.#record = record;
    this.#lease = `acme:${certificateName(deps.domains)}`;
  }

  start(): void {
    this.#unsubscribe = this.#deps.store.onChange(() => void this.#run(false));
    // Without a certificate, try at once even if an earlier start's retry time lies ahead.
    this.#schedule(this.#deps.current().real ? this.#due() : this.#deps.now());
    if (this.#deps.ari === undefined) return;
    void this.#checkAri();
    this.#ariTimer = setInterval(() => void this.#checkAri(), ARI_EVERY);
    this.#ariTimer.unref();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#ariTimer);
    this.#unsubscribe?.();
  }

  /** Asks the CA when it wants the served certificate renewed; an answer earlier than the third-of-lifetime rule wins. */
  async #checkAri(): Promise<void> {
    const { pair, real } = this.#deps.current();
    if (!real || this.#deps.ari === undefined) return;
    const window = await this.#deps.ari(pair.cert).catch(() => undefined);
    if (this.#stopped || this.#deps.current().pair !== pair) return;
    // RFC 9773 §4.2: a random time within the window, so clients spread their renewals out.
    this.#ariAt = window && Math.round(window.start + this.#deps.random() * (window.end - window.start));
    if (window !== undefined) {
      this.#deps.logger.info({ start: new Date(window.start).toISOString(), end: new Date(window.end).toISOString(), renewAt: new Date(this.#ariAt!).toISOString() }, 'The CA suggests a renewal window (ARI)');
    }
    if (!this.#running) this.#schedule(this.#next());
  }

  /** When the next order is due, from the record and what is served. */
  #due(): number {
    const record = this.#record;
    const { real } = this.#deps.current();
    if (record?.renewRequestedAt !== undefined) return this.#deps.now();
    if (record?.lastError !== undefined) return record.lastError.retryAt;
    if (!real || record?.issued === undefined) return this.#deps.now();
    return Math.min(record.issued.renewAt, this.#ariAt ?? Infinity);
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
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    try {
      await this.#adopt();
      const now = this.#deps.now();
      if ((timed || this.#due() <= now) && now >= this.#busyUntil) await this.#renewUnderLease();
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

  /** The next attempt: when due, but not while another instance holds the lease. */
  #next(): number {
    return Math.max(this.#due(), this.#busyUntil);
  }

  async #adopt(): Promise<void> {
    const record = await this.#deps.store.certificates.get(certificateName(this.#deps.domains));
    this.#record = record;
    const { pair, real } = this.#deps.current();
    if (record?.issued === undefined || (real && record.issued.serial === pair.serial)) return;
    if (real && record.issued.notAfter < pair.notAfter.getTime()) return;
    if (record.issued.notAfter <= this.#deps.now()) return;
    const stored = await this.#deps.load();
    if (stored.pair === undefined) return;
    this.#record = stored.record;
    this.#deps.swap(stored.pair);
    this.#ariAt = undefined;
    void this.#checkAri();
    this.#deps.logger.info({ serial: stored.pair.serial, notAfter: stored.pair.notAfter.toISOString() }, 'TLS certificate taken up from the store');
  }

  async #renewUnderLease(): Promise<void> {
    const { store, holder, now } = this.#deps;
    if (!(await store.leases.acquire(this.#lease, holder, now(), now() + LEASE_MS))) {
      this.#deps.logger.debug('Another instance holds the renewal lease');
      this.#busyUntil = now() + RECHECK_MS;
      return;
    }
    this.#busyUntil = 0;
    try {
      await this.#adopt(); // another instance may have finished just before the lease was ours
      if (this.#due() > now()) return;
      await this.#order();
    } finally {
      await store.leases.release(this.#lease, holder);
    }
  }

  async #order(): Promise<void> {
    const { store, settings, domains, now, logger } = this.#deps;
    const name = certificateName(domains);
    logger.info({ domains }, 'Ordering a TLS certificate from the ACME CA');
    try {
      const got = await this.#deps.obtain();
      // Stopped meanwhile (shutdown): the store may be closed; the next start orders again.
      if (this.#stopped) return;
      const pair = await this.#deps.save(got);
      this.#failures = 0;
      this.#record = await store.certificates.get(name);
      this.#deps.swap(pair);
      this.#ariAt = undefined;
      void this.#checkAri();
      logger.info({ serial: pair.serial, notAfter: pair.notAfter.toISOString(), renewAt: new Date(this.#record?.issued?.renewAt ?? 0).toISOString() }, 'TLS certificate obtained');
      for (const warning of got.warnings) logger.warn({ reason: warning }, 'ACME clean-up failed');
    } catch (err) {
      if (this.#stopped) return;
      this.#failures += 1;
      const base = Math.min(settings.retryMax, settings.retryMin * 2 ** (this.#failures - 1));
      const at = now();
      const retryAt = at + Math.round(base / 2 + (this.#deps.random() * base) / 2); // equal jitter: instances spread out
      const message = (err as Error).message;
      await store.certificates.saveFailure(name, domains, { message, at, retryAt });
      this.#record = await store.certificates.get(name);
      logFailure(this.#deps.logger, this.#deps.current(), message, retryAt, now());
    }
  }
}

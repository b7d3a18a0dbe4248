import type { Logger } from '../../shared/index.js';
import type { RenewalWindow } from './ari.js';

/** How often to ask the CA for its renewal window again (it may move it earlier, e.g. before a mass revocation). */
const ARI_EVERY = 6 * 3_600_000;

/**
 * The CA's suggested renewal window (ARI, RFC 9773) for the served certificate, asked at start,
 * after every new certificate and every six hours: `at` is one random time within the window,
 * drawn once per window (redrawing at each check would drift renewals to the window's start).
 * A failed check keeps the last window: the CA may have moved it earlier for a reason.
 */
export class AriWatch {
  #at: number | undefined;
  #window = '';
  #timer: NodeJS.Timeout | undefined;
  #cert = '';

  constructor(
    private readonly ask: (certPem: string) => Promise<RenewalWindow | undefined>,
    private readonly random: () => number,
    private readonly logger: Logger,
    private readonly changed: () => void,
  ) {}

  /** When the CA wants the certificate renewed, if it said. */
  get at(): number | undefined {
    return this.#at;
  }

  /** Watches `certPem` (the served certificate) from now on. */
  watch(certPem: string): void {
    if (certPem === this.#cert) return;
    this.#cert = certPem;
    this.#at = undefined;
    this.#window = '';
    clearInterval(this.#timer);
    this.#timer = setInterval(() => void this.#check(certPem), ARI_EVERY);
    this.#timer.unref();
    void this.#check(certPem);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#cert = '\0stopped';
  }

  async #check(certPem: string): Promise<void> {
    let window: RenewalWindow | undefined;
    try {
      window = await this.ask(certPem);
    } catch (err) {
      this.logger.debug({ reason: (err as Error).message }, 'ACME Renewal Information could not be fetched');
      return;
    }
    if (certPem !== this.#cert || window === undefined) return;
    const key = `${window.start}-${window.end}`;
    if (key === this.#window) return;
    this.#window = key;
    // RFC 9773 §4.2: a random time within the window, so clients spread their renewals out.
    this.#at = Math.round(window.start + this.random() * (window.end - window.start));
    this.logger.info({ start: new Date(window.start).toISOString(), end: new Date(window.end).toISOString(), renewAt: new Date(this.#at).toISOString() }, 'The CA suggests a renewal window (ARI)');
    this.changed();
  }
}

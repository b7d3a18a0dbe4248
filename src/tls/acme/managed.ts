import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { certificateName } from '../../domain/index.js';
import type { Logger } from '../../shared/index.js';
import { type CertificatePair, type CertificateSource, changeSignal } from '../source.js';
import { renewalWindow } from './ari.js';
import { obtainCertificate } from './obtain.js';
import { probeDirectory } from './probe.js';
import { type AcmeSettings, orderOptions } from './settings.js';
import { type AcmeStore, type SealingVault, accountKey, loadStored, placeholderPair, saveObtained } from './stored.js';
import { Renewal } from './renewal.js';

export interface AcmeDeps {
  readonly store: AcmeStore;
  readonly vault: SealingVault;
  readonly logger: Logger;
  readonly env: NodeJS.ProcessEnv;
  /** Who holds the renewal lease: unique per process. */
  readonly holder?: string;
  readonly now?: () => number;
  readonly random?: () => number;
  /** The order itself (a test's stand-in). */
  readonly obtain?: typeof obtainCertificate;
}

/**
 * Certificates from an ACME CA, kept in the store: what a previous start (or another instance)
 * stored is served at once; otherwise a placeholder until the first order succeeds. Bad settings
 * throw before anything starts; a CA that does not answer is only logged (renewal retries).
 */
export async function acmeCertificateSource(settings: AcmeSettings, deps: AcmeDeps): Promise<CertificateSource> {
  const order = await orderOptions(settings, deps.env, deps.store.certificates);
  const now = deps.now ?? Date.now;
  const domains = settings.domains;
  const accountKeyPem = await accountKey(deps.store, deps.vault, order.directoryUrl);
  const stored = await loadStored(deps.store, deps.vault, domains);
  const valid = stored.pair !== undefined && stored.pair.notAfter.getTime() > now();
  const state = { pair: valid ? stored.pair! : placeholderPair(domains), real: valid };
  const signal = changeSignal();
  const log = deps.logger.child({ certificate: certificateName(domains) });
  const problem = await probeDirectory(order.directoryUrl, order.caPem);
  if (problem !== undefined) {
    log.warn({ directory: order.directoryUrl, reason: problem },
      state.real ? 'The ACME directory does not answer; serving the stored certificate and retrying in the background'
        : 'The ACME directory does not answer; HTTPS serves a placeholder (/readyz answers 503) until a certificate is obtained; retrying in the background');
  } else if (state.real) {
    log.info({ serial: state.pair.serial, notAfter: state.pair.notAfter.toISOString() }, 'Serving the stored ACME certificate');
  }
  const renewal = new Renewal({
    ...deps, logger: log, now, random: deps.random ?? Math.random, domains, settings,
    holder: deps.holder ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
    obtain: () => (deps.obtain ?? obtainCertificate)({ ...order, accountKeyPem }),
    ari: (certPem) => renewalWindow(order.directoryUrl, order.caPem, certPem),
    load: () => loadStored(deps.store, deps.vault, domains),
    save: (got) => saveObtained(deps.store, deps.vault, domains, got, now()),
    current: () => state,
    swap: (pair: CertificatePair) => {
      state.pair = pair;
      state.real = true;
      signal.emit(pair);
    },
  }, stored.record);
  return {
    current: () => state.pair,
    onChange: signal.listen,
    start: () => renewal.start(),
    ready: () => state.real && state.pair.notAfter.getTime() > now(),
    http01: order.http01,
    close: () => renewal.stop(),
  };
}

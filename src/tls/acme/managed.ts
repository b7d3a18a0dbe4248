import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { certificateName } from '../../domain/index.js';
import type { Logger } from '../../shared/index.js';
import { type CertificatePair, type CertificateSource, changeSignal } from '../source.js';
import { renewalWindow } from './ari.js';
import { obtainCertificate } from './obtain.js';
import { probeDirectory } from './probe.js';
import { type AcmeSettings, orderOptions } from './settings.js';
import { type AcmeStore, type SealingVault, accountKey, loadInterim, loadStored, placeholderPair, saveObtained } from './stored.js';
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
 * stored is served at once; otherwise a still-valid one for some of the names, or a placeholder,
 * until the order succeeds. Bad settings throw before anything starts; a CA that does not
 * answer is only logged (renewal retries).
 */
export async function acmeCertificateSource(settings: AcmeSettings, deps: AcmeDeps): Promise<CertificateSource> {
  const order = await orderOptions(settings, deps.env, deps.store.certificates);
  const now = deps.now ?? Date.now;
  const wanted = { directory: order.directoryUrl, domains: order.domains };
  const accountKeyPem = await accountKey(deps.store, deps.vault, order.directoryUrl);
  const stored = await loadStored(deps.store, deps.vault, wanted);
  const valid = stored.pair !== undefined && stored.pair.notAfter.getTime() > now() ? stored.pair : undefined;
  const interim = valid ?? (await loadInterim(deps.store, deps.vault, wanted, now()));
  const state = { pair: interim ?? placeholderPair(wanted.domains), real: interim !== undefined };
  const signal = changeSignal();
  const log = deps.logger.child({ certificate: certificateName(wanted.domains) });
  if (valid !== undefined) log.info({ serial: valid.serial, notAfter: valid.notAfter.toISOString() }, 'Serving the stored ACME certificate');
  else if (interim !== undefined) log.info({ serial: interim.serial }, 'Serving the stored certificate for some of these names until one for all of them is obtained');
  // In the background: a CA that does not answer delays nothing that the stored certificate can serve.
  void probeDirectory(order.directoryUrl, order.caPem).then((problem) => {
    if (problem === undefined) return;
    log.warn({ directory: order.directoryUrl, reason: problem }, state.real
      ? 'The ACME directory does not answer; serving the stored certificate and retrying in the background'
      : 'The ACME directory does not answer; HTTPS serves a placeholder (/readyz answers 503) until a certificate is obtained; retrying in the background');
  });
  const renewal = new Renewal({
    ...deps, logger: log, now, random: deps.random ?? Math.random, domains: wanted.domains, settings,
    holder: deps.holder ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
    obtain: () => (deps.obtain ?? obtainCertificate)({ ...order, accountKeyPem }),
    ari: (certPem) => renewalWindow(order.directoryUrl, order.caPem, certPem),
    load: () => loadStored(deps.store, deps.vault, wanted),
    save: (got) => saveObtained(deps.store, deps.vault, wanted, got, now()),
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
    names: wanted.domains,
    close: () => renewal.stop(),
  };
}

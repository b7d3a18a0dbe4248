import type { Config } from '../config/index.js';
import { isSoakpError } from '../shared/index.js';
import type { AcmeStore } from './acme/stored.js';
import { type LocalCaDeps, localCaSource } from './local-ca.js';
import { fileCertificateSource, readCertificateFiles } from './files.js';
import type { CertificateSource, TlsServing } from './source.js';

export type TlsSettings = Config['tls'];

/** What a certificate source may need besides the settings. */
export type TlsDeps = LocalCaDeps & { readonly store: AcmeStore; readonly env: NodeJS.ProcessEnv };

/** True when the settings ask for HTTPS. */
export function tlsEnabled(tls: TlsSettings): boolean {
  return tls.cert !== undefined || tls.mode !== undefined;
}

/** The source the settings name, or undefined for plain HTTP. Throws `invalid_config` when it cannot serve. */
export async function openCertificateSource(tls: TlsSettings, deps: TlsDeps): Promise<CertificateSource | undefined> {
  if (tls.cert !== undefined && tls.key !== undefined) return fileCertificateSource({ cert: tls.cert, key: tls.key }, deps.logger);
  if (tls.mode === undefined) return undefined;
  if (tls.mode === 'local') return localCaSource(tls.names, deps);
  // Loaded only here: acme-client and what it brings (axios, node-forge, …) cost a server without ACME ~15 MB.
  const { acmeCertificateSource } = await import('./acme/managed.js');
  return acmeCertificateSource(tls.acme, deps);
}

/** The listener's TLS settings around a source. */
export function tlsServing(tls: TlsSettings, source: CertificateSource): TlsServing {
  return {
    source,
    minVersion: tls.minVersion === '1.3' ? 'TLSv1.3' : 'TLSv1.2',
    // RFC 6797 §6.1.1: max-age in seconds.
    hsts: tls.hsts === undefined ? undefined : `max-age=${Math.floor(tls.hsts / 1000)}`,
  };
}

/** Problems with the TLS settings that only reading files or the environment shows (`soakp config check`). */
export async function tlsProblems(tls: TlsSettings, env: NodeJS.ProcessEnv): Promise<string[]> {
  try {
    if (tls.cert !== undefined && tls.key !== undefined) readCertificateFiles({ cert: tls.cert, key: tls.key });
    if (tls.mode === 'acme') await (await import('./acme/settings.js')).orderOptions(tls.acme, env);
    return [];
  } catch (err) {
    if (isSoakpError(err)) return [`tls: ${err.message}`];
    throw err;
  }
}
